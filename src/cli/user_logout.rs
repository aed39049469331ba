//! `user logout USERID` (beyond pveum): revoke every ticket of the user issued up to now, on
//! every instance that shares the state directory (after its next reload). The user can log
//! in again from the next second on.

use clap::Args;

use super::Ctx;
use super::value::{parse_id, reject};
use crate::auth::logout::{LogoutError, LogoutList};
use crate::auth::ticket::epoch_now;
use crate::config::StateError;
use crate::identity::Userid;

/// `user logout USERID`.
#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    /// User ID (name@realm) whose tickets are revoked.
    pub userid: String,
}

/// Record the logout in `logout.cfg` (under the state lock, atomically).
pub fn run(args: LogoutArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    if !ctx.state.load()?.user_cfg.users.contains_key(&userid) {
        return Err(reject(format!("user '{userid}' does not exist")));
    }
    LogoutList::logout(&ctx.state, &userid, epoch_now()).map_err(|e| match e {
        LogoutError::State(e) => e,
        e @ LogoutError::Parse { .. } => reject(format!("cannot update the logout list: {e}")),
    })
}
