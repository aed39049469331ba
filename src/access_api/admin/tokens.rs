//! `/access/users/{userid}/token[/{tokenid}]`: list, get, create (the secret is answered only
//! here and on `regenerate=1`), update, delete. Every write reloads, so a new token works on the
//! next request and a deleted one is refused.
//!
//! Beyond Proxmox: `allowed-ips`, `rate-limit` and `rate-burst` on create and update (deletable
//! with `delete=`), `overlap=SECONDS` with `regenerate=1`, and the extra fields `allowed-ips`,
//! `rate-limit`, `rate-burst`, `overlap-until` in GET answers. Proxmox's fields are unchanged.

use serde_json::{Value, json};

use super::{applied, flag, id, integer, state_error, text, write};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::config::token_options::{AllowedIps, MAX_RATE};
use crate::config::user_cfg::UserConfigEdit;
use crate::config::{StateError, TokenOptions, TokenShadow};
use crate::identity::{TokenName, Tokenid, Userid};
use crate::manage::token::{
    MAX_OVERLAP, SecretChange, TokenFields, TokenUpdate, add_extras, add_token, created_info,
    delete_token, modify_token, token_info, token_item,
};
use crate::snapshot::now;

/// `GET /access/users/{userid}/token`.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    let user = ctx
        .snapshot
        .user_cfg
        .users
        .get(&userid)
        .ok_or_else(|| ApiError::Internal(format!("no such user ('{userid}')")))?;
    let now = now();
    Ok(Value::Array(
        user.tokens
            .iter()
            .map(|(name, t)| {
                let mut item = token_item(name.as_str(), t);
                extras(ctx, &mut item, &Tokenid::new(&userid, name), now);
                item
            })
            .collect(),
    ))
}

/// `GET /access/users/{userid}/token/{tokenid}`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let (_, _, full) = ids(ctx)?;
    let token = ctx
        .snapshot
        .user_cfg
        .token(&full)
        .ok_or_else(|| ApiError::Internal(format!("no such token '{full}'")))?;
    let mut info = token_info(token);
    extras(ctx, &mut info, &full, now());
    Ok(info)
}

/// `POST /access/users/{userid}/token/{tokenid}`: `{full-tokenid, info, value}`.
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, full) = ids(ctx)?;
    let fields = fields(ctx)?;
    if ctx.snapshot.user_cfg.token(&full).is_some() {
        return Err(ApiError::param("tokenid", "Token already exists."));
    }
    let now = now();
    let id = full.clone();
    let (secret, info) = write_with_options(ctx, move |cfg, tokens, options| {
        let secret = add_token(cfg, tokens, options, &userid, &name, &fields)?;
        let info = created_info(&fields, &id, options, tokens, now);
        Ok((secret, info))
    })
    .await?;
    tracing::info!(tokenid = full.as_str(), "token created over the API");
    Ok(json!({ "full-tokenid": full.as_str(), "info": info, "value": secret }))
}

/// `PUT /access/users/{userid}/token/{tokenid}` (`regenerate=1` answers a new secret; with
/// `overlap=SECONDS` the old one keeps working that long).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, full) = ids(ctx)?;
    let fields = fields(ctx)?;
    let regenerate = flag(ctx, "regenerate")?.unwrap_or(false);
    let overlap = integer(ctx, "overlap")?;
    if overlap.is_some() && !regenerate {
        return Err(ApiError::param("overlap", "requires option 'regenerate'"));
    }
    if overlap.is_some_and(|o| o > MAX_OVERLAP) {
        return Err(ApiError::param(
            "overlap",
            format!("value may have a maximum value of {MAX_OVERLAP}"),
        ));
    }
    let now = now();
    let secret = SecretChange::new(regenerate, overlap, now).map_err(state_error)?;
    let delete = text(ctx, "delete").map(str::to_owned);
    let id = full.clone();
    let (mut out, secret) = write_with_options(ctx, move |cfg, tokens, options| {
        let update = TokenUpdate {
            fields: &fields,
            delete: delete.as_deref(),
            secret,
        };
        let (token, secret) = modify_token(cfg, tokens, options, &userid, &name, &update)?;
        let mut out = token_info(&token);
        add_extras(&mut out, &id, options, tokens, now);
        Ok((out, secret))
    })
    .await?;
    if let Some(secret) = secret {
        tracing::info!(
            tokenid = full.as_str(),
            "token secret regenerated over the API"
        );
        out["value"] = json!(secret);
        out["full-tokenid"] = json!(full.as_str());
    }
    Ok(out)
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: token, secrets, options and ACL entries.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, _) = ids(ctx)?;
    write(ctx, move |cfg, tokens| {
        delete_token(cfg, tokens, &userid, &name)
    })
    .await?;
    Ok(Value::Null)
}

/// Like `write`, with token-options.cfg handed to `f` too.
async fn write_with_options<T: Send + 'static>(
    ctx: &ApiContext<'_>,
    f: impl FnOnce(&mut UserConfigEdit, &mut TokenShadow, &mut TokenOptions) -> Result<T, StateError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    if let Some(fleet) = &ctx.services.fleet {
        return super::in_etcd(&fleet.writer, move |state| state.modify_with_options(f)).await;
    }
    let (out, written) = ctx
        .services
        .state
        .modify_with_options_written(f)
        .map_err(state_error)?;
    applied(ctx, written).await?;
    Ok(out)
}

/// aclgate's own fields of token `id`, from the request's snapshot.
fn extras(ctx: &ApiContext<'_>, item: &mut Value, id: &Tokenid, now: u64) {
    add_extras(
        item,
        id,
        &ctx.snapshot.token_options,
        &ctx.snapshot.tokens,
        now,
    );
}

fn ids(ctx: &ApiContext<'_>) -> Result<(Userid, TokenName, Tokenid), ApiError> {
    let userid: Userid = id(ctx, "userid")?;
    let name: TokenName = id(ctx, "tokenid")?;
    let full = Tokenid::new(&userid, &name);
    Ok((userid, name, full))
}

fn fields(ctx: &ApiContext<'_>) -> Result<TokenFields, ApiError> {
    let comment = text(ctx, "comment").map(str::to_owned);
    if comment.as_deref().is_some_and(|c| c.contains('\n')) {
        return Err(ApiError::param(
            "comment",
            "value may not contain line breaks",
        ));
    }
    let allowed_ips = text(ctx, "allowed-ips").map(str::to_owned);
    if let Some(list) = &allowed_ips
        && let Err(e) = list.parse::<AllowedIps>()
    {
        return Err(ApiError::param(
            "allowed-ips",
            format!("invalid format - {e}"),
        ));
    }
    Ok(TokenFields {
        privsep: flag(ctx, "privsep")?,
        expire: integer(ctx, "expire")?,
        comment,
        allowed_ips,
        rate_limit: rate(ctx, "rate-limit")?,
        rate_burst: rate(ctx, "rate-burst")?,
    })
}

/// `rate-limit` / `rate-burst`: an integer from 1 to [`MAX_RATE`].
fn rate(ctx: &ApiContext<'_>, name: &str) -> Result<Option<u32>, ApiError> {
    let Some(value) = integer(ctx, name)? else {
        return Ok(None);
    };
    match u32::try_from(value) {
        Ok(v) if (1..=MAX_RATE).contains(&v) => Ok(Some(v)),
        _ if value < 1 => Err(ApiError::param(
            name,
            "value must have a minimum value of 1",
        )),
        _ => Err(ApiError::param(
            name,
            format!("value may have a maximum value of {MAX_RATE}"),
        )),
    }
}
