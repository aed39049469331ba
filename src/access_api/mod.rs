//! The built-in `/api2/json/access/*` and `/pools` endpoints, answered by aclgate itself.
//!
//! The proxy evaluates a route's check as for any route, then calls [`handle`] with the route's
//! `handler` name instead of forwarding. Contract: /work/briefs/access_api.md. This is the
//! access-API stream's private copy of the login stream's types; main's version replaces it.

pub mod admin;

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};

use crate::auth::throttle::Throttle;
use crate::auth::ticket::TicketAuthority;
use crate::config::StateDir;
use crate::identity::Authid;
use crate::policy::Params;
use crate::reload::ReloadHandle;
use crate::snapshot::Snapshot;

/// Built once in `serve`, shared by all connections.
pub struct ApiServices {
    /// The state directory every write goes to.
    pub state: StateDir,
    /// After a write: `reload.reload().await` so the next request sees it.
    pub reload: ReloadHandle,
    /// Ticket keys and CSRF secret.
    pub tickets: TicketAuthority,
    /// Failed-login counters.
    pub throttle: Throttle,
}

/// What a handler sees of one request.
pub struct ApiContext<'a> {
    /// The request's snapshot.
    pub snapshot: &'a Snapshot,
    /// The authenticated caller; `None` on `user = "world"` routes.
    pub caller: Option<&'a Authid>,
    /// Whether the caller authenticated with an API token.
    pub via_token: bool,
    /// Path, body and query parameters.
    pub params: &'a Params<'a>,
    /// The client address.
    pub peer: std::net::SocketAddr,
    /// The shared services.
    pub services: &'a ApiServices,
}

/// `Ok(v)` → 200 `{"data": v}`.
pub type ApiResult = Result<Value, ApiError>;

/// A handler's failure, mapped to Proxmox's status codes and bodies (spec §6.8).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 "Parameter verification failed." with the `errors` map.
    #[error("Parameter verification failed.")]
    Params(BTreeMap<String, String>),
    /// 400 with a message.
    #[error("{0}")]
    BadRequest(String),
    /// 403 with Proxmox's permission message.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 401 "authentication failure".
    #[error("authentication failure")]
    AuthFailure,
    /// 500 (never a secret in it).
    #[error("{0}")]
    Internal(String),
}

/// Dispatch by handler name; `None` = no such handler (the proxy answers 501).
pub async fn handle(name: &str, ctx: &ApiContext<'_>) -> Option<ApiResult> {
    admin::handle(name, ctx).await
}

// === impl ApiError ===

impl ApiError {
    /// A 400 naming one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::Params(BTreeMap::from([(name.to_owned(), message.into())]))
    }

    /// The HTTP status and the JSON body.
    pub fn status_and_body(&self) -> (StatusCode, Value) {
        let message = format!("{self}\n");
        let status = match self {
            ApiError::Params(errors) => {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"data": null, "errors": errors, "message": message}),
                );
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AuthFailure => StatusCode::UNAUTHORIZED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, json!({"data": null, "message": message}))
    }
}
