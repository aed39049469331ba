//! `POST /access/ticket` with `path` and `privs` (Proxmox's `verify_auth`; also `aclgate ticket
//! --path --privs`): no ticket is issued; the credential is checked and the user must hold
//! every one of `privs` on `path`. The answer is `{"username"}`; any refusal is the login's
//! 401 "authentication failure".
//!
//! The credential, tried in Proxmox's order: a valid full ticket of this same user, a
//! `PVEVNC` ticket of this user for `path`, else the password. Beyond Proxmox, a password login
//! of a user with second factors needs one in `otp` (Proxmox accepts the bare password here,
//! spec §10.10).

use serde_json::{Value, json};

use super::login::{LoginEnv, LoginError, LoginRequest, check_user, password_login};
use crate::access::{AclPath, PrivSet};
use crate::auth::realm;
use crate::auth::ticket::{Binding, ShortLivedKind, epoch_now};
use crate::identity::{Authid, Userid};

/// What verify mode checks besides the credential.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The ACL path, as given (normalised here).
    pub path: &'a str,
    /// The privileges every one of which is needed.
    pub privs: PrivSet,
    /// The privilege list as given (for the log).
    pub privs_text: &'a str,
}

/// Check `req`'s credential and `verify`'s privileges; `{"username"}` on success.
pub async fn verify_login(
    env: &LoginEnv<'_>,
    req: &LoginRequest<'_>,
    verify: &VerifyRequest<'_>,
) -> Result<Value, LoginError> {
    let now = epoch_now();
    let userid = realm::canonical_userid(env.users, env.domains, req.submitted)?;
    check_user(env.users, &userid, now)?;
    let path = AclPath::normalize(verify.path)
        .ok_or_else(|| LoginError::Refused(format!("invalid path - {}", verify.path)))?;
    let authid = Authid::User(userid.clone());
    if !same_user_ticket(env, &userid, req.password, now)
        && !vnc_ticket(env, &authid, path.as_str(), req.password, now)
    {
        password_login(env, &userid, req.password, req.otp, now).await?;
    }
    let held = env.engine.privs(&authid, path.as_str()).granted;
    if verify.privs.is_empty() || !held.contains_all(verify.privs) {
        return Err(LoginError::Refused(format!(
            "no permission ({}, {})",
            verify.path, verify.privs_text
        )));
    }
    Ok(json!({ "username": userid.as_str() }))
}

/// A full ticket of this very user (not root's, unlike a renewal), not logged out.
fn same_user_ticket(env: &LoginEnv<'_>, userid: &Userid, password: &str, now: i64) -> bool {
    password.starts_with("PVE:")
        && env
            .tickets
            .authenticate(password, now)
            .is_ok_and(|t| t.userid == *userid && !env.logout.is_revoked(&t.userid, t.issued_at))
}

/// A `PVEVNC` ticket issued to this user for this path.
fn vnc_ticket(env: &LoginEnv<'_>, authid: &Authid, path: &str, password: &str, now: i64) -> bool {
    let binding = Binding {
        authid,
        path,
        port: None,
    };
    password.starts_with("PVEVNC:")
        && env
            .tickets
            .verify_short_lived(ShortLivedKind::Vnc, password, binding, now)
            .is_ok()
}
