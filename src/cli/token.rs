//! `user token add|modify|delete|remove|list|permissions` (API `/access/users/{userid}/token`).
//!
//! A secret is generated on `add` (and on `modify --regenerate 1`), printed once, and stored
//! only as a salted hash in `priv/token.shadow`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::output::{Column, col};
use super::user::no_such_user;
use super::value::{parse_bool, parse_id, reject, split_list};
use super::{Ctx, permissions};
use crate::config::user_cfg::Token;
use crate::config::{StateError, TokenShadow, UserConfig};
use crate::identity::{TokenName, Tokenid, Userid};

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

/// Token fields settable on `add` and `modify`.
#[derive(Debug, Clone, Args)]
pub struct TokenFields {
    /// Restrict the token's privileges with its own ACLs (default 1).
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub privsep: Option<bool>,
    /// Expiration date (seconds since epoch); 0 = none (the user's still applies).
    #[arg(long)]
    pub expire: Option<u64>,
    #[arg(long)]
    pub comment: Option<String>,
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
    /// Settings to reset (only `comment`).
    #[arg(long)]
    pub delete: Option<String>,
    /// Issue a new secret; the old one stops working.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub regenerate: Option<bool>,
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
    check_comment(fields.comment.as_deref())?;
    let secret = ctx.state.modify(|cfg, tokens| {
        let user = cfg
            .users
            .get_mut(&userid)
            .ok_or_else(|| no_such_user(&userid))?;
        if user.tokens.contains_key(&name) {
            return Err(reject(format!("token `{id}` already exists")));
        }
        let token = Token {
            expire: fields.expire.unwrap_or(0),
            privsep: fields.privsep.unwrap_or(true),
            comment: fields.comment.clone().unwrap_or_default(),
        };
        user.tokens.insert(name.clone(), token);
        let secret = TokenShadow::generate_secret();
        tokens.set_secret(&id, &secret);
        Ok(secret)
    })?;
    tracing::info!(tokenid = id.as_str(), "token created");
    let mut info = json!({ "privsep": u8::from(fields.privsep.unwrap_or(true)) });
    if let Some(expire) = fields.expire {
        info["expire"] = json!(expire);
    }
    if let Some(comment) = fields.comment.filter(|c| !c.is_empty()) {
        info["comment"] = json!(comment);
    }
    ctx.out.object(json!({
        "full-tokenid": id.as_str(),
        "info": info,
        "value": secret,
    }));
    Ok(())
}

fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let (userid, name, id) = parse_ids(&args.id)?;
    let fields = args.fields;
    check_comment(fields.comment.as_deref())?;
    let mut delete_comment = false;
    for key in args.delete.as_deref().map(split_list).into_iter().flatten() {
        match key {
            "comment" => delete_comment = true,
            other => return Err(reject(format!("cannot delete setting `{other}`"))),
        }
    }
    let regenerate = args.regenerate == Some(true);
    let (token, secret) = ctx.state.modify(|cfg, tokens| {
        let token = token_mut(cfg, &userid, &name)?;
        if let Some(privsep) = fields.privsep {
            token.privsep = privsep;
        }
        if let Some(expire) = fields.expire {
            token.expire = expire;
        }
        if delete_comment {
            token.comment.clear();
        }
        if let Some(comment) = &fields.comment {
            comment.clone_into(&mut token.comment);
        }
        let token = token.clone();
        let secret = regenerate.then(|| {
            let secret = TokenShadow::generate_secret();
            tokens.set_secret(&id, &secret);
            secret
        });
        Ok((token, secret))
    })?;
    let mut out = token_info(&token);
    if let Some(secret) = secret {
        tracing::info!(tokenid = id.as_str(), "token secret regenerated");
        out["value"] = json!(secret);
        out["full-tokenid"] = json!(id.as_str());
    }
    ctx.out.object(out);
    Ok(())
}

fn delete(args: IdArgs, ctx: &Ctx) -> Result<(), StateError> {
    let (userid, name, id) = parse_ids(&args)?;
    ctx.state.modify(|cfg, tokens| {
        token_mut(cfg, &userid, &name)?;
        if let Some(user) = cfg.users.get_mut(&userid) {
            user.tokens.remove(&name);
        }
        tokens.remove(&id);
        // Proxmox leaves the token's ACL lines to be dropped at the next parse; dropping them
        // now gives the same result without the detour.
        for node in cfg.acl.values_mut() {
            node.tokens.remove(&id);
        }
        cfg.acl.retain(|_, node| !node.is_empty());
        Ok(())
    })
}

fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let cfg = ctx.state.load()?.user_cfg;
    let user = cfg
        .users
        .get(&userid)
        .ok_or_else(|| no_such_user(&userid))?;
    let items = user
        .tokens
        .iter()
        .map(|(name, t)| token_item(name.as_str(), t))
        .collect();
    ctx.out.list(items, TOKEN_COLUMNS);
    Ok(())
}

/// A token as `GET .../token` lists it: `{tokenid, expire, privsep, comment?}`.
pub fn token_item(name: &str, token: &Token) -> Value {
    let mut item = token_info(token);
    item["tokenid"] = json!(name);
    item
}

fn token_info(token: &Token) -> Value {
    let mut info = json!({ "expire": token.expire, "privsep": u8::from(token.privsep) });
    if !token.comment.is_empty() {
        info["comment"] = json!(token.comment);
    }
    info
}

fn parse_ids(args: &IdArgs) -> Result<(Userid, TokenName, Tokenid), StateError> {
    let userid: Userid = parse_id(&args.userid)?;
    let name: TokenName = parse_id(&args.tokenid)?;
    let id = Tokenid::new(&userid, &name);
    Ok((userid, name, id))
}

fn token_mut<'a>(
    cfg: &'a mut UserConfig,
    userid: &Userid,
    name: &TokenName,
) -> Result<&'a mut Token, StateError> {
    let user = cfg
        .users
        .get_mut(userid)
        .ok_or_else(|| no_such_user(userid))?;
    user.tokens.get_mut(name).ok_or_else(|| {
        reject(format!(
            "no such token `{}` for user `{userid}`",
            name.as_str()
        ))
    })
}

fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains('\n') => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}

/// `user token list` columns.
const TOKEN_COLUMNS: &[Column] = &[
    col("tokenid", false),
    col("comment", false),
    col("expire", false),
    col("privsep", true),
];
