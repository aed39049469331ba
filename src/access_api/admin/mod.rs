//! The management endpoints under `/access` and `/pools` (users, tokens, groups, roles, ACLs,
//! realms, TFA, pools). A stub until the access-API stream lands: every name is unknown here.

use super::{ApiContext, ApiResult};

/// Answer handler `name`, or `None` when this module has no such handler (the proxy then
/// answers 501).
pub async fn handle(name: &str, ctx: &ApiContext<'_>) -> Option<ApiResult> {
    let _ = (name, ctx);
    None
}
