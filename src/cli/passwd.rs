//! `passwd USERID [--password P]` (API PUT /access/password): set a `pve` realm password.
//!
//! Without `--password` the new password is read from the terminal twice (no echo), or, when
//! stdin is not a terminal, from two lines of stdin that must match (as pveum reads it). Only
//! `pve` realm passwords live in aclgate (`priv/shadow.cfg`); PAM, LDAP and AD passwords are changed where they live.

use clap::Args;

use super::Ctx;
use super::prompt::read_password;
use super::value::parse_id;
use crate::config::StateError;
use crate::identity::Userid;
use crate::manage::password::{self, set_password};

/// `passwd USERID`.
#[derive(Debug, Clone, Args)]
pub struct PasswdArgs {
    /// User ID (name@realm).
    pub userid: String,
    /// The new password (prompted for when omitted).
    #[arg(long)]
    pub password: Option<String>,
    /// The current password of the user running the command (accepted for pveum
    /// compatibility; the local CLI acts as root@pam and does not check it).
    #[arg(long = "confirmation-password")]
    pub confirmation_password: Option<String>,
}

/// Run `passwd`.
pub fn run(args: PasswdArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let (domains, _) = ctx.state.load_domains()?;
    check_realm_stores_passwords(&domains, &userid)?;
    let password = match args.password {
        Some(p) => p,
        None => read_password(&["Enter new password: ", "Retype new password: "])?,
    };
    store(ctx, &userid, &password)
}

/// Hash `password` and store it for the `pve`-type realm user `userid` (which must exist).
pub(crate) fn store(ctx: &Ctx, userid: &Userid, password: &str) -> Result<(), StateError> {
    set_password(&ctx.state, userid, password)
}

/// Only realms of type `pve` keep their passwords in aclgate.
pub(crate) fn check_realm_stores_passwords(
    domains: &crate::config::DomainsConfig,
    userid: &Userid,
) -> Result<(), StateError> {
    password::check_realm_stores_passwords(domains, userid)
}
