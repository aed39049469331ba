//! The `pam` realm: authenticate through the host's PAM stack, like `PVE::Auth::PAM`.
//!
//! Every prompt is answered with the password, `PAM_RHOST` carries the client address, and
//! `pam_authenticate` is followed by `pam_acct_mgmt` (expired or locked accounts fail there).
//! Blocking (PAM modules may sleep on failure): run it in `spawn_blocking`. The process must
//! run as root for `pam_unix` to read `/etc/shadow` for other users.

use std::ffi::{OsStr, OsString};

use nonstick::conv::ConversationAdapter;
use nonstick::items::ItemsMut;
use nonstick::{AuthnFlags, ErrorCode, PamShared, Transaction, TransactionBuilder};

use super::RealmError;

/// Authenticate `user` (the name without `@pam`) with PAM service `service`.
pub(super) fn authenticate(
    service: &str,
    user: &str,
    password: &str,
    rhost: Option<&str>,
) -> Result<(), RealmError> {
    // PAM takes C strings: a NUL byte could only truncate what PAM sees.
    if [service, user, password].iter().any(|s| s.contains('\0')) {
        return Err(RealmError::InvalidCredentials);
    }
    let conv = PasswordConversation(OsString::from(password)).into_conversation();
    let mut tx = TransactionBuilder::new_with_service(service)
        .username(user)
        .build(conv)
        .map_err(|e| pam_error("pam_start", e))?;
    if let Some(host) = rhost {
        tx.items_mut()
            .set_remote_host(Some(OsStr::new(host)))
            .map_err(|e| pam_error("pam_set_item(PAM_RHOST)", e))?;
    }
    tx.authenticate(AuthnFlags::empty())
        .map_err(|e| pam_error("authenticate", e))?;
    tx.account_management(AuthnFlags::empty())
        .map_err(|e| pam_error("account", e))?;
    Ok(())
}

fn pam_error(step: &str, e: ErrorCode) -> RealmError {
    match e {
        ErrorCode::AuthenticationError => RealmError::InvalidCredentials,
        other => RealmError::Pam(format!("{step}: {other:?}")),
    }
}

/// Answers every prompt with the password; messages from modules are dropped.
struct PasswordConversation(OsString);

impl ConversationAdapter for PasswordConversation {
    fn prompt(&self, _request: impl AsRef<OsStr>) -> nonstick::Result<OsString> {
        Ok(self.0.clone())
    }

    fn masked_prompt(&self, _request: impl AsRef<OsStr>) -> nonstick::Result<OsString> {
        Ok(self.0.clone())
    }

    fn error_msg(&self, _message: impl AsRef<OsStr>) {}

    fn info_msg(&self, _message: impl AsRef<OsStr>) {}
}
