//! `/access/users/{userid}/token[/{tokenid}]`: list, get, create (the secret is answered only
//! here and on `regenerate=1`), update, delete. Every write reloads, so a new token works on the
//! next request and a deleted one is refused.

use serde_json::{Value, json};

use super::{flag, id, integer, text, write};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::identity::{TokenName, Tokenid, Userid};
use crate::manage::token::{
    TokenFields, add_token, delete_token, modify_token, token_info, token_item,
};

/// `GET /access/users/{userid}/token`.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    let user = ctx
        .snapshot
        .user_cfg
        .users
        .get(&userid)
        .ok_or_else(|| ApiError::Internal(format!("no such user ('{userid}')")))?;
    Ok(Value::Array(
        user.tokens
            .iter()
            .map(|(name, t)| token_item(name.as_str(), t))
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
    Ok(token_info(token))
}

/// `POST /access/users/{userid}/token/{tokenid}`: `{full-tokenid, info, value}`.
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, full) = ids(ctx)?;
    let fields = fields(ctx)?;
    if ctx.snapshot.user_cfg.token(&full).is_some() {
        return Err(ApiError::param("tokenid", "Token already exists."));
    }
    let secret = write(ctx, |cfg, tokens| {
        add_token(cfg, tokens, &userid, &name, &fields)
    })
    .await?;
    tracing::info!(tokenid = full.as_str(), "token created over the API");
    let mut info = json!({ "privsep": u8::from(fields.privsep.unwrap_or(true)) });
    if let Some(expire) = fields.expire {
        info["expire"] = json!(expire);
    }
    if let Some(comment) = fields.comment.filter(|c| !c.is_empty()) {
        info["comment"] = json!(comment);
    }
    Ok(json!({ "full-tokenid": full.as_str(), "info": info, "value": secret }))
}

/// `PUT /access/users/{userid}/token/{tokenid}` (`regenerate=1` answers a new secret).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, full) = ids(ctx)?;
    let fields = fields(ctx)?;
    let regenerate = flag(ctx, "regenerate")?.unwrap_or(false);
    let delete = text(ctx, "delete").map(str::to_owned);
    let (token, secret) = write(ctx, |cfg, tokens| {
        modify_token(
            cfg,
            tokens,
            &userid,
            &name,
            &fields,
            delete.as_deref(),
            regenerate,
        )
    })
    .await?;
    let mut out = token_info(&token);
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

/// `DELETE /access/users/{userid}/token/{tokenid}`: token, secret and ACL entries.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let (userid, name, _) = ids(ctx)?;
    write(ctx, |cfg, tokens| delete_token(cfg, tokens, &userid, &name)).await?;
    Ok(Value::Null)
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
    Ok(TokenFields {
        privsep: flag(ctx, "privsep")?,
        expire: integer(ctx, "expire")?,
        comment,
    })
}
