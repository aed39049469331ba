//! The endpoints aclgate answers itself (policy routes with `handler = "..."`): the login
//! endpoints here ([`login`], [`public`]), the management endpoints in [`admin`].
//!
//! The gateway decides a handler route exactly like a forwarded route, buffers its body, and
//! then dispatches the permit to [`handle`] with an [`ApiContext`]. Handlers answer `Ok(value)` (sent
//! as `200 {"data": value}`) or an [`ApiError`]; `src/error.rs` turns both into HTTP answers.

pub mod admin;
pub mod cap;
pub mod cluster_resources;
pub mod login;
pub mod openid;
mod openid_users;
pub mod public;
pub mod ticket_verify;
pub mod vncticket;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::auth::realm::LoginOptions;
use crate::auth::throttle::Throttle;
use crate::auth::ticket::{TicketAuthority, TicketError, epoch_now};
use crate::config::StateDir;
use crate::config::gateway::GatewayConfig;
use crate::identity::Authid;
use crate::policy::{Handler, LoginHandler, Params};
use crate::reload::ReloadHandle;
use crate::snapshot::Snapshot;
use crate::store::follow::Fleet;

/// Services the built-in handlers share, built once in `serve` (an `Arc` in the gateway).
#[derive(Debug)]
pub struct ApiServices {
    /// The state directory (writes go through its lock; on etcd, to the fleet's writer).
    pub state: StateDir,
    /// On etcd: this gateway's writer and leadership (`None` on the files backend, where the
    /// gateway is a fleet of its own).
    pub fleet: Option<Fleet>,
    /// After a write: `reload.reload().await` so that the next request sees it.
    pub reload: ReloadHandle,
    /// Ticket keys, CSRF secret and the verified-ticket cache.
    pub tickets: TicketAuthority,
    /// Failed-login counters.
    pub throttle: Throttle,
    /// PAM service and LDAP timeout for password checks.
    pub login: LoginOptions,
    /// aclgate's own worker tasks (realm syncs).
    pub tasks: crate::tasks::Tasks,
    /// How long one realm sync may take in all.
    pub sync_deadline: Duration,
    /// The upstream's `/cluster/resources` (pool members' node and guest type).
    pub cluster: cluster_resources::ClusterResources,
}

/// What a handler sees of one request.
pub struct ApiContext<'a> {
    /// The snapshot the request was authorised against.
    pub snapshot: &'a Snapshot,
    /// The authenticated caller; `None` on `user = "world"` routes.
    pub caller: Option<&'a Authid>,
    /// Whether the caller authenticated with an API token.
    pub via_token: bool,
    /// Path, body and query parameters (the query wins over the body).
    pub params: &'a Params<'a>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The shared services.
    pub services: &'a ApiServices,
    /// The request's `Host` (for WebAuthn origins), if sent.
    pub host: Option<&'a str>,
}

/// A handler's answer: `Ok(v)` becomes `200 {"data": v}`.
pub type ApiResult = Result<serde_json::Value, ApiError>;

/// Why a handler refused or failed. Messages never contain a secret.
#[derive(Debug, Error)]
pub enum ApiError {
    /// 400 "Parameter verification failed." with the per-parameter errors.
    #[error("parameter verification failed")]
    Params(BTreeMap<String, String>),
    /// 400 with the message.
    #[error("{0}")]
    BadRequest(String),
    /// 403 with Proxmox's permission message.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// A rule refused the change (duplicate id, unknown member, non-empty pool, ...): 500 with
    /// the message, as Proxmox answers a handler's `die`.
    #[error("{0}")]
    Rejected(String),
    /// 401 "authentication failure", held until the failure delay after the request started.
    #[error("authentication failure")]
    AuthFailure,
    /// 500 (the message never holds a secret).
    #[error("{0}")]
    Internal(String),
    /// Not aclgate's to answer (another node's task): the proxy forwards the request.
    #[error("forwarded to the upstream")]
    Upstream,
    /// 503: the state store (etcd) cannot take the change now; nothing was written.
    #[error("{0}")]
    Unavailable(String),
}

/// Settings of [`ApiServices::open`] taken from the gateway configuration.
impl ApiServices {
    /// Open the ticket keys of the configured state directory and set up the throttle.
    pub fn open(
        config: &GatewayConfig,
        reload: ReloadHandle,
        fleet: Option<Fleet>,
    ) -> Result<ApiServices, TicketError> {
        let mut state = StateDir::new(&config.state.dir);
        if let Some(fleet) = &fleet {
            state = state.with_redirect(fleet.writer.clone());
        }
        let tickets = TicketAuthority::open(&state, epoch_now(), config.tickets)?;
        Ok(ApiServices {
            state,
            fleet,
            reload,
            tickets,
            throttle: Throttle::new(config.login_throttle),
            login: LoginOptions {
                pam_service: config.auth.pam_service.clone(),
                client_ip: None,
                ldap_timeout: Duration::from_millis(config.auth.ldap_timeout_ms),
            },
            tasks: crate::tasks::Tasks::new(&config.state.dir),
            sync_deadline: Duration::from_millis(config.auth.sync_deadline_ms),
            cluster: cluster_resources::ClusterResources::from_config(config),
        })
    }

    /// Whether this gateway runs the once-per-fleet jobs (realm syncs) now: always on the
    /// files backend, on etcd only while it leads (src/store/leader.rs).
    pub fn runs_fleet_jobs(&self) -> bool {
        self.fleet
            .as_ref()
            .is_none_or(|fleet| fleet.leadership.is_leader())
    }

    /// Called by the reload door before each reload: adopt a key ring another instance (or
    /// the CLI) wrote. Errors are logged; the keys in use stay.
    pub fn refresh(&self) {
        if let Err(e) = self.tickets.refresh() {
            tracing::warn!(error = %e, "cannot re-read the ticket keys; keeping the ones in use");
        }
    }
}

/// Answer a request with a built-in handler: the login endpoints here, the management ones in
/// [`admin::handle`]. Both matches are exhaustive: every handler a policy can name has an answer.
pub async fn handle(handler: Handler, ctx: &ApiContext<'_>) -> ApiResult {
    let login = match handler {
        Handler::Login(h) => h,
        Handler::Admin(h) => return admin::handle(h, ctx).await,
    };
    match login {
        LoginHandler::Index => public::index(ctx),
        LoginHandler::TicketGet => Ok(serde_json::Value::Null),
        LoginHandler::TicketCreate => login::create_ticket(ctx).await,
        LoginHandler::DomainsList => public::domains(ctx),
        LoginHandler::VncticketCreate => vncticket::verify(ctx),
        LoginHandler::OpenidIndex => openid::index(ctx),
        LoginHandler::OpenidAuthUrl => openid::auth_url(ctx).await,
        LoginHandler::OpenidLogin => openid::login(ctx).await,
    }
}

// === impl ApiError ===

impl ApiError {
    /// A 400 naming one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::Params(BTreeMap::from([(name.to_owned(), message.into())]))
    }

    /// Whether the answer is a 401 (the caller holds it until the failure delay).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, ApiError::AuthFailure)
    }
}
