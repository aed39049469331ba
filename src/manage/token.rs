//! API tokens (`/access/users/{userid}/token`, `pveum user token`): create with a fresh secret,
//! update (optionally regenerating the secret), delete with secret and ACL entries.

use clap::Args;
use serde_json::{Value, json};

use super::user::no_such_user;
use super::value::{parse_bool, reject, split_list};
use crate::config::user_cfg::Token;
use crate::config::{StateError, TokenShadow, UserConfig};
use crate::identity::{TokenName, Tokenid, Userid};

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

/// Create token `name` of `userid`; answers the new secret (to be shown once).
pub fn add_token(
    cfg: &mut UserConfig,
    tokens: &mut TokenShadow,
    userid: &Userid,
    name: &TokenName,
    fields: &TokenFields,
) -> Result<String, StateError> {
    check_comment(fields.comment.as_deref())?;
    let id = Tokenid::new(userid, name);
    let user = cfg
        .users
        .get_mut(userid)
        .ok_or_else(|| no_such_user(userid))?;
    if user.tokens.contains_key(name) {
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
}

/// Update token `name` of `userid`; `delete` may name `comment`; with `regenerate` a new secret
/// replaces the old one and is answered.
pub fn modify_token(
    cfg: &mut UserConfig,
    tokens: &mut TokenShadow,
    userid: &Userid,
    name: &TokenName,
    fields: &TokenFields,
    delete: Option<&str>,
    regenerate: bool,
) -> Result<(Token, Option<String>), StateError> {
    check_comment(fields.comment.as_deref())?;
    let mut delete_comment = false;
    for key in delete.map(split_list).into_iter().flatten() {
        match key {
            "comment" => delete_comment = true,
            other => return Err(reject(format!("cannot delete setting `{other}`"))),
        }
    }
    let id = Tokenid::new(userid, name);
    let token = token_mut(cfg, userid, name)?;
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
}

/// Remove token `name` of `userid` with its secret and ACL entries.
pub fn delete_token(
    cfg: &mut UserConfig,
    tokens: &mut TokenShadow,
    userid: &Userid,
    name: &TokenName,
) -> Result<(), StateError> {
    token_mut(cfg, userid, name)?;
    if let Some(user) = cfg.users.get_mut(userid) {
        user.tokens.remove(name);
    }
    let id = Tokenid::new(userid, name);
    tokens.remove(&id);
    // Proxmox leaves the token's ACL lines to be dropped at the next parse; dropping them now
    // gives the same result without the detour.
    for node in cfg.acl.values_mut() {
        node.tokens.remove(&id);
    }
    cfg.acl.retain(|_, node| !node.is_empty());
    Ok(())
}

/// A token as `GET .../token` lists it: `{tokenid, expire, privsep, comment?}`.
pub fn token_item(name: &str, token: &Token) -> Value {
    let mut item = token_info(token);
    item["tokenid"] = json!(name);
    item
}

/// A token's settings as `GET .../token/{tokenid}` shows them.
pub fn token_info(token: &Token) -> Value {
    let mut info = json!({ "expire": token.expire, "privsep": u8::from(token.privsep) });
    if !token.comment.is_empty() {
        info["comment"] = json!(token.comment);
    }
    info
}

/// The token `name` of `userid`, or Proxmox's error.
pub fn token_mut<'a>(
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

/// A comment must be one line.
pub fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains('\n') => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}
