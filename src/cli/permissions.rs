//! `user permissions` and `user token permissions` (API `GET /access/permissions`, spec §4.9):
//! `{path: {privilege: 0|1}}`, 1 where the privilege comes from a propagating entry.

use clap::Args;

use super::Ctx;
use super::value::parse_id;
use crate::access::Engine;
use crate::config::StateError;
use crate::identity::{Authid, TokenName, Tokenid, Userid};
use crate::manage::permissions::permission_map;

/// `user permissions [AUTHID] [--path P]`.
#[derive(Debug, Clone, Args)]
pub struct UserPermArgs {
    /// User or full token id (default `root@pam`, the user pveum runs as).
    pub userid: Option<String>,
    /// Only this path (used as given), printed even when empty.
    #[arg(long)]
    pub path: Option<String>,
}

/// `user token permissions USERID TOKENID [--path P]`.
#[derive(Debug, Clone, Args)]
pub struct TokenPermArgs {
    /// User ID (name@realm).
    pub userid: String,
    /// Token name.
    pub tokenid: String,
    /// Only this path (used as given), printed even when empty.
    #[arg(long)]
    pub path: Option<String>,
}

/// `user permissions`.
pub fn user(args: UserPermArgs, ctx: &Ctx) -> Result<(), StateError> {
    let authid: Authid = parse_id(args.userid.as_deref().unwrap_or(Userid::ROOT))?;
    print(&authid, args.path.as_deref(), ctx)
}

/// `user token permissions`.
pub fn token(args: TokenPermArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let name: TokenName = parse_id(&args.tokenid)?;
    let authid = Authid::Token(Tokenid::new(&userid, &name));
    print(&authid, args.path.as_deref(), ctx)
}

fn print(authid: &Authid, path: Option<&str>, ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let engine = Engine::build(&cfg);
    ctx.out.permissions(permission_map(&engine, authid, path));
    Ok(())
}
