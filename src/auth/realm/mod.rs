//! Password realms: check a userid's password against its realm (spec §6.7 step 6).
//!
//! [`authenticate`] is what the login handler calls, with the `domains.cfg` of its snapshot and
//! the [`RealmSecrets`] loaded from the state directory:
//! - `pve`: the crypt(3) hash in `priv/shadow.cfg` ([`crypt`]);
//! - `pam`: the host's PAM stack, authenticate + account management ([`pam`]);
//! - `ldap`/`ad`: a bind as the user ([`ldap`]; TLS and CA handling in [`tls`]); the realm
//!   sync searches are in [`ldap_sync`];
//! - `openid`: always refused (no password logins); the OpenID Connect login is [`openid`]
//!   (the protocol) and [`openid_state`] (pending logins), driven by `access_api::openid`.
//!
//! Blocking work (PAM, hashing) runs in `spawn_blocking`. Every failure is a [`RealmError`]
//! whose variants are for the log only: callers must answer all of them the same way (401
//! "authentication failure"), and no variant ever carries the password.
//! [`canonical_userid`] is the `case-sensitive 0` lookup of spec §1, done before this.

pub mod crypt;
mod ldap;
pub mod ldap_sync;
mod lookup;
pub mod openid;
pub mod openid_state;
mod pam;
mod secrets;
mod tls;

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use crate::config::{DomainsConfig, RealmType};
use crate::identity::Userid;
pub use lookup::{LookupError, canonical_userid};
pub use secrets::RealmSecrets;

pub use crate::config::auth_settings::DEFAULT_PAM_SERVICE;

/// Per-login settings that do not come from `domains.cfg`.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// PAM service name for the `pam` realm (default [`DEFAULT_PAM_SERVICE`]).
    pub pam_service: String,
    /// The client's address, passed to PAM as `PAM_RHOST`.
    pub client_ip: Option<IpAddr>,
    /// Bound on each LDAP connection attempt and operation (Proxmox: 10 s).
    pub ldap_timeout: Duration,
}

/// Why a password was not accepted. For logs only: never show the variant to the client.
#[derive(Debug, Error)]
pub enum RealmError {
    /// Empty password (Proxmox: "no password").
    #[error("no password")]
    NoPassword,
    /// The userid's realm is not in domains.cfg.
    #[error("auth domain '{0}' does not exist")]
    NoSuchRealm(String),
    /// The realm type cannot check passwords (openid).
    #[error("realm '{0}' does not allow password verification")]
    NotSupported(String),
    /// `pve` realm: no line in shadow.cfg.
    #[error("no password set")]
    NoPasswordSet,
    /// The password does not match (shadow hash, PAM auth, or LDAP bind rc 49).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// PAM refused (authentication or account management), with PAM's reason.
    #[error("pam: {0}")]
    Pam(String),
    /// LDAP/AD: no entry found for the user.
    #[error("ldap: user '{0}' not found")]
    UnknownUser(String),
    /// LDAP/AD: more than one entry matched the user (refused rather than guessing).
    #[error("ldap: user '{0}' matches several entries")]
    AmbiguousUser(String),
    /// LDAP/AD: connection, TLS, search or service bind failed.
    #[error("ldap: {0}")]
    Ldap(String),
    /// The realm's configuration cannot be used (missing option, unreadable CA file ...).
    #[error("realm configuration: {0}")]
    Config(String),
    /// A blocking task failed to run.
    #[error("internal error: {0}")]
    Internal(String),
}

// === impl LoginOptions ===

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            pam_service: DEFAULT_PAM_SERVICE.to_owned(),
            client_ip: None,
            ldap_timeout: Duration::from_secs(10),
        }
    }
}

/// Check `password` for `userid` against its realm. `Ok(())` only when the realm accepted it.
pub async fn authenticate(
    domains: &DomainsConfig,
    secrets: &RealmSecrets,
    userid: &Userid,
    password: &str,
    opts: &LoginOptions,
) -> Result<(), RealmError> {
    // Some directories treat "DN + empty password" as a successful anonymous bind: refuse
    // empty passwords before any realm sees them, as Proxmox does.
    if password.is_empty() {
        return Err(RealmError::NoPassword);
    }
    let realm = domains
        .realm(userid.realm())
        .ok_or_else(|| RealmError::NoSuchRealm(userid.realm().to_owned()))?;
    let name = userid.name().to_owned();
    match realm.kind {
        RealmType::Pve => {
            let hash = secrets
                .shadow()
                .hash(&name)
                .ok_or(RealmError::NoPasswordSet)?
                .to_owned();
            let password = password.to_owned();
            let ok = tokio::task::spawn_blocking(move || crypt::verify(&password, &hash))
                .await
                .map_err(|e| RealmError::Internal(e.to_string()))?;
            if ok {
                Ok(())
            } else {
                Err(RealmError::InvalidCredentials)
            }
        }
        RealmType::Pam => {
            let password = password.to_owned();
            let service = opts.pam_service.clone();
            let rhost = opts.client_ip.map(|ip| ip.to_string());
            tokio::task::spawn_blocking(move || {
                pam::authenticate(&service, &name, &password, rhost.as_deref())
            })
            .await
            .map_err(|e| RealmError::Internal(e.to_string()))?
        }
        RealmType::Ldap | RealmType::Ad => {
            let bind_pw = secrets.bind_password(realm.realm.as_str());
            ldap::authenticate(realm, bind_pw, &name, password, opts.ldap_timeout).await
        }
        RealmType::Openid => Err(RealmError::NotSupported(realm.realm.to_string())),
    }
}
