//! `user add|modify|delete|list|permissions` (API `/access/users`, `/access/permissions`);
//! `user token ...` lives in [`super::token`].

use clap::{Args, Subcommand};

use super::output::{Column, col, int};
use super::value::{parse_bool, parse_id};
use super::{Ctx, permissions, token};
use crate::config::StateError;
use crate::identity::Userid;
use crate::manage::password::add_user_with_password;
pub use crate::manage::user::{UserFields, no_such_user};
use crate::manage::user::{
    check_fields, check_new_userid, delete_user, insert_user, realm_types, remove_user_secrets,
    update_user, user_item,
};

/// `aclgate user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a new user.
    Add(AddArgs),
    /// Update user configuration.
    Modify(ModifyArgs),
    /// Delete a user (with its tokens, group memberships and ACL entries).
    Delete(DeleteArgs),
    /// List users.
    List(ListArgs),
    /// Effective permissions of a user or token.
    Permissions(permissions::UserPermArgs),
    /// Revoke every ticket of a user issued up to now.
    Logout(super::user_logout::LogoutArgs),
    /// Manage two-factor authentication entries.
    Tfa {
        #[command(subcommand)]
        command: super::tfa::TfaCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

/// `user add USERID`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// User ID (name@realm).
    pub userid: String,
    #[command(flatten)]
    pub fields: UserFields,
    /// Initial password (`pve`-type realms only: stored hashed in priv/shadow.cfg); without
    /// a value it is prompted for (or read from two stdin lines), as pveum does.
    #[arg(long, num_args = 0..=1)]
    pub password: Option<Option<String>>,
}

/// `user modify USERID`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    /// User ID (name@realm).
    pub userid: String,
    #[command(flatten)]
    pub fields: UserFields,
    /// Add the groups to the user's groups instead of replacing them.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1", requires = "groups")]
    pub append: Option<bool>,
}

/// `user delete USERID`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// User ID (name@realm).
    pub userid: String,
}

/// `user list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only enabled (1) or only disabled (0) users.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub enabled: Option<bool>,
    /// Include group and token information.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub full: Option<bool>,
}

/// Run a `user` subcommand.
pub fn run(command: UserCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        UserCommand::Add(args) => add(args, ctx),
        UserCommand::Modify(args) => modify(args, ctx),
        UserCommand::Delete(args) => delete(args, ctx),
        UserCommand::List(args) => list(args, ctx),
        UserCommand::Permissions(args) => permissions::user(args, ctx),
        UserCommand::Logout(args) => super::user_logout::run(args, ctx),
        UserCommand::Tfa { command } => super::tfa::run(command, ctx),
        UserCommand::Token { command } => token::run(command, ctx),
    }
}

/// `user add` (POST /access/users).
pub fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    check_new_userid(&userid)?;
    let fields = args.fields;
    check_fields(&fields)?;
    let password = match args.password {
        None => {
            return ctx
                .state
                .modify(|cfg, _| insert_user(cfg, &userid, &fields));
        }
        Some(Some(p)) => p,
        Some(None) => {
            super::prompt::read_password(&["Enter new password: ", "Retype new password: "])?
        }
    };
    add_user_with_password(&ctx.state, &userid, &fields, &password)
}

/// `user modify` (PUT /access/users/{userid}).
pub fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let fields = args.fields;
    check_fields(&fields)?;
    ctx.state
        .modify(|cfg, _| update_user(cfg, &userid, &fields, args.append == Some(true)))
}

/// `user delete` (DELETE /access/users/{userid}): also removes its tokens and their secrets,
/// its group memberships, its ACL entries and those of its tokens, and its `pve` password.
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    ctx.state.modify(|cfg, tokens| {
        delete_user(cfg, tokens, &userid)?;
        remove_user_secrets(&ctx.state, &userid)
    })
}

/// `user list` (GET /access/users).
pub fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let realms = realm_types(&ctx.state)?;
    let full = args.full == Some(true);
    let items = cfg
        .users
        .iter()
        .filter(|(_, u)| args.enabled.is_none_or(|want| u.enable == want))
        .map(|(id, u)| user_item(&cfg, id, u, &realms, full))
        .collect();
    ctx.out.list(items, USER_COLUMNS);
    Ok(())
}

/// `user list` columns: required first, then optional, each sorted (CLIFormatter's order).
const USER_COLUMNS: &[Column] = &[
    col("userid", false),
    col("comment", false),
    col("email", false),
    col("enable", true),
    int("expire"),
    col("firstname", false),
    col("groups", false),
    col("keys", false),
    col("lastname", false),
    col("realm-type", false),
    int("tfa-locked-until"),
    col("tokens", false),
    col("totp-locked", true),
];
