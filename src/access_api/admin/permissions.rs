//! `GET /access/permissions` (spec §4.9): the caller's own permissions and those of the
//! caller's own tokens are free; anyone else's need Sys.Audit on `/access`.

use super::{caller, has_any, privset, text};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::identity::Authid;
use crate::manage::permissions::permission_map;

/// `GET /access/permissions[?userid=...][&path=...]`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let me = caller(ctx)?;
    let target: Authid = match text(ctx, "userid") {
        None => me.clone(),
        Some(raw) => raw
            .parse()
            .map_err(|e| ApiError::param("userid", format!("invalid authid ({e})")))?,
    };
    let own = target == *me
        || matches!((&target, me), (Authid::Token(t), Authid::User(u)) if t.user() == *u);
    if !own && !has_any(ctx, "/access", privset(&["Sys.Audit"]))? {
        return Err(ApiError::Forbidden(
            "Permission check failed (/access, Sys.Audit)".to_owned(),
        ));
    }
    Ok(permission_map(
        &ctx.snapshot.engine,
        &target,
        text(ctx, "path"),
    ))
}
