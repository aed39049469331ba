//! `user token add|modify|delete|remove|list|permissions` (API `/access/users/{userid}/token`).
//!
//! A secret is generated on `add` (and on `modify --regenerate 1`), printed once, and stored
//! only as a salted hash in `priv/token.shadow`. `--regenerate 1 --overlap SECONDS` keeps the
//! old secret working for that long. aclgate's own `--allowed-ips`, `--rate-limit` and
//! `--rate-burst` go to `token-options.cfg`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{Column, col, int};
use super::user::no_such_user;
use super::value::{parse_bool, parse_id};
use super::{Ctx, permissions};
use crate::config::StateError;
use crate::identity::{TokenName, Tokenid, Userid};
use crate::manage::token::{
    SecretChange, TokenUpdate, add_extras, add_token, created_info, delete_token, modify_token,
    token_info,
};
pub use crate::manage::token::{TokenFields, token_item};
use crate::snapshot::now;

/// `aclgate user token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Generate a new API token; the secret is shown only this once.
    Add(AddArgs),
    /// Update an API token (`--regenerate 1` issues a new secret).
    Modify(ModifyArgs),
    /// Remove an API token and its secret.
    #[command(alias = "remove")]
    Delete(IdArgs),
    /// List a user's API tokens.
    List(ListArgs),
    /// Effective permissions of a token.
    Permissions(permissions::TokenPermArgs),
}

/// `USERID TOKENID`.
#[derive(Debug, Clone, Args)]
pub struct IdArgs {
    /// User ID (name@realm).
    pub userid: String,
    /// Token name.
    pub tokenid: String,
}

/// `user token add`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub id: IdArgs,
    #[command(flatten)]
    pub fields: TokenFields,
}

/// `user token modify`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    #[command(flatten)]
    pub id: IdArgs,
    #[command(flatten)]
    pub fields: TokenFields,
    /// Settings to reset: `comment`, `allowed-ips`, `rate-limit`, `rate-burst`.
    #[arg(long)]
    pub delete: Option<String>,
    /// Issue a new secret; the old one stops working (see `--overlap`).
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub regenerate: Option<bool>,
    /// aclgate: with `--regenerate`, the old secret keeps working for this many seconds.
    #[arg(long)]
    pub overlap: Option<u64>,
}

/// `user token list USERID`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// User ID (name@realm).
    pub userid: String,
}

/// Run a `user token` subcommand.
pub fn run(command: TokenCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        TokenCommand::Add(args) => add(args, ctx),
        TokenCommand::Modify(args) => modify(args, ctx),
        TokenCommand::Delete(args) => delete(args, ctx),
        TokenCommand::List(args) => list(args, ctx),
        TokenCommand::Permissions(args) => permissions::token(args, ctx),
    }
}

fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let (userid, name, id) = parse_ids(&args.id)?;
    let fields = args.fields;
    let (secret, info) = ctx.state.modify_with_options(|cfg, tokens, options| {
        let secret = add_token(cfg, tokens, options, &userid, &name, &fields)?;
        let info = created_info(&fields, &id, options, tokens, now());
        Ok((secret, info))
    })?;
    tracing::info!(tokenid = id.as_str(), "token created");
    ctx.out.object(json!({
        "full-tokenid": id.as_str(),
        "info": info,
        "value": secret,
    }));
    Ok(())
}

fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let (userid, name, id) = parse_ids(&args.id)?;
    let now = now();
    let update = TokenUpdate {
        fields: &args.fields,
        delete: args.delete.as_deref(),
        secret: SecretChange::new(args.regenerate == Some(true), args.overlap, now)?,
    };
    let (mut out, secret) = ctx.state.modify_with_options(|cfg, tokens, options| {
        let (token, secret) = modify_token(cfg, tokens, options, &userid, &name, &update)?;
        let mut out = token_info(&token);
        add_extras(&mut out, &id, options, tokens, now);
        Ok((out, secret))
    })?;
    if let Some(secret) = secret {
        tracing::info!(tokenid = id.as_str(), "token secret regenerated");
        out["value"] = json!(secret);
        out["full-tokenid"] = json!(id.as_str());
    }
    ctx.out.object(out);
    Ok(())
}

fn delete(args: IdArgs, ctx: &Ctx) -> Result<(), StateError> {
    let (userid, name, _) = parse_ids(&args)?;
    ctx.state
        .modify(|cfg, tokens| delete_token(cfg, tokens, &userid, &name))
}

fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let loaded = ctx.state.load()?;
    let (options, _) = ctx.state.load_token_options(&loaded.user_cfg)?;
    let user = loaded
        .user_cfg
        .users
        .get(&userid)
        .ok_or_else(|| no_such_user(&userid))?;
    let now = now();
    let items: Vec<_> = user
        .tokens
        .iter()
        .map(|(name, t)| {
            let mut item = token_item(name.as_str(), t);
            add_extras(
                &mut item,
                &Tokenid::new(&userid, name),
                &options,
                &loaded.tokens,
                now,
            );
            item
        })
        .collect();
    // pveum's columns, then aclgate's own ones that some token uses (so the table of a plain
    // Proxmox state looks exactly like pveum's).
    let mut columns = TOKEN_COLUMNS.to_vec();
    columns.extend(
        EXTRA_COLUMNS
            .iter()
            .filter(|c| items.iter().any(|i| i.get(c.key).is_some())),
    );
    ctx.out.list(items, &columns);
    Ok(())
}

fn parse_ids(args: &IdArgs) -> Result<(Userid, TokenName, Tokenid), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let name: TokenName = parse_id(&args.tokenid)?;
    let id = Tokenid::new(&userid, &name);
    Ok((userid, name, id))
}

/// `user token list` columns.
const TOKEN_COLUMNS: &[Column] = &[
    col("tokenid", false),
    col("comment", false),
    int("expire"),
    col("privsep", true),
];

/// aclgate's own `user token list` columns, shown when some token has a value.
const EXTRA_COLUMNS: &[Column] = &[
    col("allowed-ips", false),
    int("rate-limit"),
    int("rate-burst"),
    int("overlap-until"),
];
