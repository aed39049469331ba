//! Second factors (spec §7): the `priv/tfa.cfg` store ([`TfaStore`]), TOTP, recovery keys,
//! WebAuthn security keys, U2F keys, Yubico OTP, realm-enforced TFA, and the two-step login logic
//! ([`challenge_for`], [`verify_response`]) with Proxmox's lockout counters.
//!
//! Everything here is synchronous and pure except [`yubico::validate`] (blocking HTTP).
//! Functions change a `&mut TfaStore`; callers persist it with [`TfaStore::modify`] (state
//! lock, re-read, write back 0600 atomically). No secret (TOTP secret, code, recovery key,
//! OTP) appears in an error or log message.

pub mod login;
pub mod manage;
pub mod realm;
pub mod recovery;
pub mod store;
pub mod totp;
pub mod u2f;
pub mod webauthn;
pub mod yubico;

use thiserror::Error;

pub use login::{Challenge, VerifyContext, challenge_for, challenge_with_u2f, verify_response};
pub use realm::{RealmTfa, import_legacy_keys};
pub use store::{TfaEntry, TfaStore, TfaUserData, TypedTfaInfo};

use crate::config::StateError;

/// WebAuthn and U2F challenges expire after this many seconds.
pub const CHALLENGE_TIMEOUT_SECS: i64 = 120;

/// Why a TFA operation failed. A login endpoint answers every one of them with the same
/// "authentication failure".
#[derive(Debug, Error)]
pub enum TfaError {
    /// The factor did not verify.
    #[error("second factor verification failed")]
    Failed,
    /// Every second factor is locked for now (too many failures).
    #[error("second factors are locked after too many failed attempts")]
    Locked,
    /// TOTP is locked (too many failures); a recovery key or an admin unlock helps.
    #[error("totp is locked after too many failed attempts")]
    TotpLocked,
    /// The realm requires TFA and the user has no matching factor.
    #[error("missing required 2nd keys")]
    MissingKeys,
    /// The realm only accepts this type (and recovery keys).
    #[error("realm requires {0} authentication")]
    RealmRequires(&'static str),
    /// The response type was not offered, or the challenge is unknown or expired.
    #[error("no such challenge")]
    NoSuchChallenge,
    /// The response is malformed.
    #[error("bad tfa response: {0}")]
    BadResponse(String),
    /// A factor type that is not configured in datacenter.cfg (Proxmox's wording).
    #[error("no {0} configuration available")]
    NotConfigured(&'static str),
    /// A TOTP URI was refused.
    #[error("invalid totp uri: {0}")]
    BadTotp(String),
    /// A Yubico OTP of the wrong shape.
    #[error("yubico otp must be 32..48 alphanumeric characters")]
    BadYubicoOtp,
    /// The Yubico validation failed (server unreachable, status, signature).
    #[error("yubico: {0}")]
    Yubico(String),
    /// WebAuthn refused the exchange.
    #[error("webauthn: {0}")]
    Webauthn(String),
    /// The user already has recovery keys.
    #[error("user already has recovery keys")]
    RecoveryExists,
    /// No entry with this id.
    #[error("no such tfa entry '{0}'")]
    NoSuchEntry(String),
    /// The description is missing or longer than 255 characters.
    #[error("description must be 1..255 characters")]
    BadDescription,
    /// tfa.cfg could not be parsed or written.
    #[error("tfa.cfg: {0}")]
    Config(String),
    /// Reading or writing the state directory failed.
    #[error(transparent)]
    State(#[from] StateError),
}
