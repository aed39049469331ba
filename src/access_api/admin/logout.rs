//! `POST /access/aclgate/logout` (aclgate's own): "log out everywhere" for the caller's own
//! user, the web interface's counterpart of `aclgate user logout USERID`. Every ticket of the
//! caller issued up to now is refused from the next reload on, on every instance sharing the
//! state. Tokens are refused by the route (`allowtoken = false`): a token cannot end its
//! owner's sessions.

use super::{caller, reload};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::auth::logout::{LogoutError, LogoutList};
use crate::auth::ticket::epoch_now;
use crate::identity::Authid;

/// `POST /access/aclgate/logout`.
pub async fn post(ctx: &ApiContext<'_>) -> ApiResult {
    let Authid::User(userid) = caller(ctx)? else {
        return Err(ApiError::Forbidden(
            "API tokens cannot log their user out".to_owned(),
        ));
    };
    LogoutList::logout(&ctx.services.state, userid, epoch_now()).map_err(|e| match e {
        LogoutError::State(e) => ApiError::Internal(e.to_string()),
        e @ LogoutError::Parse { .. } => {
            ApiError::Internal(format!("cannot update the logout list: {e}"))
        }
    })?;
    reload(ctx).await?;
    Ok(serde_json::Value::Null)
}
