//! API tokens (`/access/users/{userid}/token`, `pveum user token`): create with a fresh secret,
//! update (optionally regenerating the secret, with an overlap window for the old one), delete
//! with secret, options and ACL entries. Beyond Proxmox, a token may carry `allowed-ips` and a
//! rate limit; those live in `token-options.cfg` ([`crate::config::token_options`]).

use clap::Args;
use serde_json::{Value, json};

use super::user::no_such_user;
use super::value::{parse_bool, reject, split_list};
use crate::config::token_options::{AllowedIps, MAX_RATE, RateLimit, TokenOption, parse_rate};
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::Token;
use crate::config::{StateError, TokenOptions, TokenShadow, UserConfig};
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
    /// aclgate: networks the token may be used from (CIDR list; a bare address is one host).
    #[arg(long)]
    pub allowed_ips: Option<String>,
    /// aclgate: requests per second the gateway lets through (1 to 1000000).
    #[arg(long, value_parser = rate_value)]
    pub rate_limit: Option<u32>,
    /// aclgate: requests allowed at once (default: the rate limit).
    #[arg(long, value_parser = rate_value)]
    pub rate_burst: Option<u32>,
}

/// A `modify` request.
#[derive(Debug, Clone, Copy)]
pub struct TokenUpdate<'a> {
    /// Fields to set.
    pub fields: &'a TokenFields,
    /// Settings to reset: `comment`, `allowed-ips`, `rate-limit` (drops `rate-burst` too),
    /// `rate-burst`.
    pub delete: Option<&'a str>,
    /// What happens to the secret.
    pub secret: SecretChange,
}

/// What `modify` does with the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange {
    /// Leave it.
    Keep,
    /// Issue a new one; the old one stops working at once (Proxmox's behaviour).
    Replace,
    /// Issue a new one; the old one keeps working until `until` (seconds since the epoch).
    Overlap { until: u64 },
}

/// The longest overlap window a rotation may ask for (30 days).
pub const MAX_OVERLAP: u64 = 30 * 24 * 3600;

/// Create token `name` of `userid` with its options; answers the new secret (to be shown
/// once).
pub fn add_token<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    tokens: &mut TokenShadow,
    options: &mut TokenOptions,
    userid: &Userid,
    name: &TokenName,
    fields: &TokenFields,
) -> Result<String, StateError> {
    check_comment(fields.comment.as_deref())?;
    let option = changed_option(&TokenOption::default(), fields, &[])?;
    let id = Tokenid::new(userid, name);
    let user = cfg
        .users
        .get_mut(userid)
        .ok_or_else(|| no_such_user(userid))?;
    if user.tokens.contains_key(name) {
        return Err(reject(format!("token '{id}' already exists")));
    }
    let token = Token {
        expire: fields.expire.unwrap_or(0),
        privsep: fields.privsep.unwrap_or(true),
        comment: fields.comment.clone().unwrap_or_default(),
    };
    user.tokens.insert(name.clone(), token);
    let secret = TokenShadow::generate_secret();
    tokens.set_secret(&id, &secret);
    // Replaces whatever an earlier token of this name may have left behind.
    options.set(&id, option);
    Ok(secret)
}

/// Update token `name` of `userid` as `update` says; a new secret, if one was issued, is
/// answered.
pub fn modify_token<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    tokens: &mut TokenShadow,
    options: &mut TokenOptions,
    userid: &Userid,
    name: &TokenName,
    update: &TokenUpdate<'_>,
) -> Result<(Token, Option<String>), StateError> {
    let fields = update.fields;
    check_comment(fields.comment.as_deref())?;
    let mut delete_comment = false;
    let mut delete_options = Vec::new();
    for key in update.delete.map(split_list).into_iter().flatten() {
        match key {
            "comment" => delete_comment = true,
            "allowed-ips" | "rate-limit" | "rate-burst" => delete_options.push(key),
            other => return Err(reject(format!("cannot delete setting '{other}'"))),
        }
    }
    let id = Tokenid::new(userid, name);
    let token = token_mut(cfg, userid, name)?;
    let current = options.find(id.as_str()).cloned().unwrap_or_default();
    let option = changed_option(&current, fields, &delete_options)?;
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
    options.set(&id, option);
    let new_secret = match update.secret {
        SecretChange::Keep => None,
        SecretChange::Replace => {
            let new = TokenShadow::generate_secret();
            tokens.set_secret(&id, &new);
            Some(new)
        }
        SecretChange::Overlap { until } => {
            let new = TokenShadow::generate_secret();
            tokens.rotate(&id, &new, until);
            Some(new)
        }
    };
    Ok((token, new_secret))
}

/// Remove token `name` of `userid` with its secret and ACL entries.
pub fn delete_token<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    tokens: &mut TokenShadow,
    userid: &Userid,
    name: &TokenName,
) -> Result<(), StateError> {
    token_mut(cfg, userid, name)?;
    if let Some(user) = cfg.users.get_mut(userid) {
        user.tokens.remove(name);
    }
    let id = Tokenid::new(userid, name);
    // The current and any previous secret; the options follow in `StateDir::modify`, which
    // drops the options of every token that is gone.
    tokens.remove(&id);
    // Proxmox leaves the token's ACL lines to be dropped at the next parse; dropping them now
    // gives the same result without the detour.
    cfg.remove_token_acl(&id);
    Ok(())
}

/// A token as `GET .../token` lists it: `{tokenid, expire, privsep, comment?}`.
pub fn token_item(name: &str, token: &Token) -> Value {
    let mut item = token_info(token);
    item["tokenid"] = json!(name);
    item
}

/// The `info` a created token is answered with: what was set (`privsep`, `expire` and
/// `comment` as given), plus aclgate's own fields.
pub fn created_info(
    fields: &TokenFields,
    id: &Tokenid,
    options: &TokenOptions,
    tokens: &TokenShadow,
    now: u64,
) -> Value {
    let mut info = json!({ "privsep": u8::from(fields.privsep.unwrap_or(true)) });
    if let Some(expire) = fields.expire {
        info["expire"] = json!(expire);
    }
    if let Some(comment) = fields.comment.as_ref().filter(|c| !c.is_empty()) {
        info["comment"] = json!(comment);
    }
    add_extras(&mut info, id, options, tokens, now);
    info
}

/// Add aclgate's own fields to a token item: `allowed-ips`, `rate-limit`, `rate-burst` (each
/// when set) and `overlap-until` (while a replaced secret still works). Proxmox's fields are
/// left as they are.
pub fn add_extras(
    item: &mut Value,
    id: &Tokenid,
    options: &TokenOptions,
    tokens: &TokenShadow,
    now: u64,
) {
    if let Some(option) = options.find(id.as_str()) {
        if let Some(ips) = &option.allowed_ips {
            item["allowed-ips"] = json!(ips.to_string());
        }
        if let Some(limit) = &option.rate_limit {
            item["rate-limit"] = json!(limit.rate);
            if let Some(burst) = limit.burst {
                item["rate-burst"] = json!(burst);
            }
        }
    }
    if let Some(until) = tokens.previous_until(id.as_str(), now) {
        item["overlap-until"] = json!(until);
    }
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
pub fn token_mut<'a, A>(
    cfg: &'a mut UserConfig<A>,
    userid: &Userid,
    name: &TokenName,
) -> Result<&'a mut Token, StateError> {
    let user = cfg
        .users
        .get_mut(userid)
        .ok_or_else(|| no_such_user(userid))?;
    user.tokens.get_mut(name).ok_or_else(|| {
        reject(format!(
            "no such token '{}' for user '{userid}'",
            name.as_str()
        ))
    })
}

// === impl SecretChange ===

impl SecretChange {
    /// From the request: `regenerate` and an optional `overlap` in seconds (0 = none), at `now`.
    pub fn new(
        regenerate: bool,
        overlap: Option<u64>,
        now: u64,
    ) -> Result<SecretChange, StateError> {
        match (regenerate, overlap) {
            (false, None) => Ok(SecretChange::Keep),
            (false, Some(_)) => Err(reject("'overlap' needs 'regenerate'")),
            (true, None | Some(0)) => Ok(SecretChange::Replace),
            (true, Some(secs)) if secs > MAX_OVERLAP => Err(reject(format!(
                "'overlap' may be at most {MAX_OVERLAP} seconds (30 days), got '{secs}'"
            ))),
            (true, Some(secs)) => Ok(SecretChange::Overlap {
                until: now.saturating_add(secs),
            }),
        }
    }
}

/// `current` with the option fields of `fields` set and the keys in `delete` removed; a key
/// may not be both set and deleted. Deleting `rate-limit` drops `rate-burst` with it.
fn changed_option(
    current: &TokenOption,
    fields: &TokenFields,
    delete: &[&str],
) -> Result<TokenOption, StateError> {
    for (key, set) in [
        ("allowed-ips", fields.allowed_ips.is_some()),
        ("rate-limit", fields.rate_limit.is_some()),
        ("rate-burst", fields.rate_burst.is_some()),
    ] {
        if set && delete.contains(&key) {
            return Err(reject(format!(
                "cannot set and delete '{key}' at the same time"
            )));
        }
    }
    let mut option = current.clone();
    if delete.contains(&"allowed-ips") {
        option.allowed_ips = None;
    }
    if let Some(text) = &fields.allowed_ips {
        let ips: AllowedIps = text
            .parse()
            .map_err(|e| reject(format!("invalid 'allowed-ips': {e}")))?;
        option.allowed_ips = Some(ips);
    }
    if delete.contains(&"rate-limit") {
        option.rate_limit = None;
    }
    if delete.contains(&"rate-burst")
        && let Some(limit) = &mut option.rate_limit
    {
        limit.burst = None;
    }
    for value in [fields.rate_limit, fields.rate_burst].into_iter().flatten() {
        if !(1..=MAX_RATE).contains(&value) {
            return Err(reject(format!(
                "rate values must be from 1 to {MAX_RATE}, got '{value}'"
            )));
        }
    }
    if let Some(rate) = fields.rate_limit {
        let burst = option.rate_limit.and_then(|l| l.burst);
        option.rate_limit = Some(RateLimit { rate, burst });
    }
    if let Some(burst) = fields.rate_burst {
        let Some(limit) = &mut option.rate_limit else {
            return Err(reject("'rate-burst' needs 'rate-limit'"));
        };
        limit.burst = Some(burst);
    }
    Ok(option)
}

/// A clap parser for `--rate-limit` and `--rate-burst`.
fn rate_value(text: &str) -> Result<u32, String> {
    parse_rate("rate", text).map_err(|_| format!("expected an integer from 1 to {MAX_RATE}"))
}

/// A comment must be one line.
pub fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains('\n') => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}
