//! Login tickets and CSRF prevention tokens, in Proxmox VE's textual layout (spec §6.5, §6.6).
//!
//! - [`format`]: the pure functions: [`create`] / [`verify`] a ticket against a [`KeyRing`],
//!   including TFA-pending half tickets.
//! - [`keyring`]: the signing keys (current + previous), their file `priv/authkey.ring`, daily
//!   rotation and Proxmox's age rules per key.
//! - [`csrf`]: CSRF prevention tokens and their secret `priv/csrf.key`.
//! - [`short_lived`]: `PVEVNC` / `PVETUNNEL` console tickets bound to authid, path and port.
//! - [`cache`]: a bounded, expiring cache of verified tickets.
//! - [`authority`]: [`TicketAuthority`], what the login handler and the proxy hold: keys that
//!   follow other instances' rotations, the cache and the CSRF secret behind one handle.
//!
//! Every function takes `now` (seconds since the epoch) so that callers and tests own the clock.

pub mod authority;
pub mod cache;
pub mod csrf;
pub mod format;
pub mod keyring;
pub mod short_lived;

use std::path::PathBuf;

use thiserror::Error;

use crate::config::StateError;

pub use crate::config::auth_settings::{CacheConfig, TicketConfig};
pub use authority::{Issued, TicketAuthority};
pub use cache::TicketCache;
pub use csrf::{CsrfSecret, create_csrf, verify_csrf};
pub use format::{
    TfaPending, VerifiedTicket, create, create_tfa_pending, verify, verify_tfa_pending,
};
pub use keyring::{Algorithm, KeyRing};
pub use short_lived::{Binding, ShortLivedKind, create_short_lived, verify_short_lived};

pub use crate::config::auth_settings::{CLOCK_SKEW, TICKET_LIFETIME};
/// A signing key is rotated on first use after it is this many seconds old (24 h).
pub const KEY_LIFETIME: i64 = 86_400;

/// Why a ticket, a key file or a CSRF secret was refused. Verification failures all end as
/// the same 401 for the client; the variants exist for the log. No variant carries the ticket
/// or any key material.
#[derive(Debug, Error)]
pub enum TicketError {
    /// The text is not a ticket of the `PVE:<data>:<T>::<S>` layout.
    #[error("malformed ticket")]
    Malformed,
    /// The time stamp is more than the allowed skew in the future.
    #[error("ticket is stamped in the future")]
    NotYetValid,
    /// The ticket is too old.
    #[error("ticket expired")]
    Expired,
    /// No key of the ring accepts the signature within that key's time window.
    #[error("ticket signature does not verify")]
    BadSignature,
    /// A TFA-pending half ticket was presented as authentication.
    #[error("ticket is waiting for a second factor")]
    TfaPending,
    /// A full ticket was presented where a TFA-pending ticket was expected.
    #[error("ticket is not a second-factor challenge")]
    NotTfaPending,
    /// The ticket data does not name a valid user.
    #[error("ticket names no valid user")]
    BadUserid,
    /// `now` cannot be written as an 8-hex-digit time stamp.
    #[error("time `{0}` cannot be stamped on a ticket")]
    BadTime(i64),
    /// A key or secret file is damaged (the message never contains key material).
    #[error("`{}` line {line}: {message}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the state directory failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The current time in seconds since the epoch (0 if the clock is before 1970).
pub fn epoch_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
