//! `/access/openid` (spec §8, Proxmox `PVE::API2::OpenId`): the OpenID Connect login.
//!
//! - `GET /access/openid`: the index.
//! - `POST /access/openid/auth-url` (`realm`, `redirect-url`): start a login: discover the
//!   provider, remember the login's private state, answer the provider's authorization URL.
//! - `POST /access/openid/login` (`state`, `code`, `redirect-url`): take the private state
//!   (once: a replayed state finds nothing), redeem the code, verify the ID token, map the
//!   claims to a userid (autocreate, groups from a claim: [`super::openid_users`]), and answer
//!   as a password login does: `username`, `ticket`, `CSRFPreventionToken`, `cap`.
//!
//! Every `login` failure is the same 401 "authentication failure" (Proxmox: "do not return
//! any info to prevent user enumeration attacks"); the cause is logged.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::openid_users::{self, Mapped};
use super::{ApiContext, ApiError, ApiResult, cap};
use crate::auth::realm::openid::{OpenIdError, OpenIdSettings, Provider};
use crate::auth::realm::openid_state::{self, AuthStateError, PrivateAuthState};
use crate::auth::ticket::{TicketError, epoch_now};
use crate::config::{RealmConfig, RealmType};
use crate::identity::{Authid, Realm};

/// Longest accepted `redirect-url`, `state` and `code` (Proxmox's schema).
const MAX_REDIRECT_URL: usize = 255;
const MAX_STATE: usize = 1024;
const MAX_CODE: usize = 4096;

/// `GET /access/openid`.
pub fn index(_ctx: &ApiContext<'_>) -> ApiResult {
    Ok(json!([{ "subdir": "auth-url" }, { "subdir": "login" }]))
}

/// `POST /access/openid/auth-url`.
pub async fn auth_url(ctx: &ApiContext<'_>) -> ApiResult {
    let mut errors = BTreeMap::new();
    let realm = required(ctx, "realm", 32, &mut errors);
    let redirect_url = required(ctx, "redirect-url", MAX_REDIRECT_URL, &mut errors);
    let realm = realm.and_then(|r| match r.parse::<Realm>() {
        Ok(realm) => Some(realm),
        Err(_) => {
            errors.insert(
                "realm".to_owned(),
                "value does not match the regex pattern".to_owned(),
            );
            None
        }
    });
    let redirect_url = redirect_url.filter(|u| {
        let ok = url::Url::parse(u).is_ok_and(|u| u.has_host());
        if !ok {
            errors.insert(
                "redirect-url".to_owned(),
                "value is not an absolute URL".to_owned(),
            );
        }
        ok
    });
    let (Some(realm), Some(redirect_url)) = (realm, redirect_url) else {
        return Err(ApiError::Params(errors));
    };
    let config = openid_realm(ctx, realm.as_str()).map_err(ApiError::BadRequest)?;
    let settings = OpenIdSettings::of_realm(config).map_err(internal)?;
    let provider = Provider::discover(&settings, redirect_url)
        .await
        .map_err(internal)?;
    let now = epoch_now();
    let auth = PrivateAuthState::new(now);
    let public = auth.public_state(realm.as_str());
    let url = provider.authorize_url(&settings, &auth, public);
    let state = ctx.services.state.clone();
    let realm_name = realm.as_str().to_owned();
    tokio::task::spawn_blocking(move || openid_state::store(&state, &realm_name, auth, now))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Value::String(url))
}

/// `POST /access/openid/login`.
pub async fn login(ctx: &ApiContext<'_>) -> ApiResult {
    let mut errors = BTreeMap::new();
    let state = required(ctx, "state", MAX_STATE, &mut errors);
    let code = required(ctx, "code", MAX_CODE, &mut errors);
    let redirect_url = required(ctx, "redirect-url", MAX_REDIRECT_URL, &mut errors);
    let (Some(state), Some(code), Some(redirect_url)) = (state, code, redirect_url) else {
        return Err(ApiError::Params(errors));
    };
    match complete(ctx, state, code, redirect_url).await {
        Ok(answer) => Ok(answer),
        Err(e) => {
            tracing::info!(peer = %ctx.peer, reason = %e, "openid authentication failure");
            Err(ApiError::AuthFailure)
        }
    }
}

/// Why an OpenID login failed: for the log only.
#[derive(Debug, thiserror::Error)]
pub enum OpenIdLoginError {
    #[error("{0}")]
    State(#[from] AuthStateError),
    #[error("{0}")]
    Realm(String),
    #[error("{0}")]
    Provider(#[from] OpenIdError),
    #[error("{0}")]
    Mapping(String),
    #[error("ticket: {0}")]
    Ticket(#[from] TicketError),
    #[error("internal: {0}")]
    Internal(String),
}

async fn complete(
    ctx: &ApiContext<'_>,
    public_state: &str,
    code: &str,
    redirect_url: &str,
) -> Result<Value, OpenIdLoginError> {
    let now = epoch_now();
    let state_dir = ctx.services.state.clone();
    let public_state = public_state.to_owned();
    let (realm, auth) =
        tokio::task::spawn_blocking(move || openid_state::take(&state_dir, &public_state, now))
            .await
            .map_err(|e| OpenIdLoginError::Internal(e.to_string()))??;
    let config = openid_realm(ctx, &realm).map_err(OpenIdLoginError::Realm)?;
    let settings = OpenIdSettings::of_realm(config)?;
    let provider = Provider::discover(&settings, redirect_url).await?;
    let claims = provider.verify_code(&settings, code, &auth).await?;
    let Mapped { userid, engine } = openid_users::map_user(ctx, config, &claims, now)
        .await
        .map_err(OpenIdLoginError::Mapping)?;
    let issued = ctx.services.tickets.issue(&userid, now)?;
    let engine = engine.as_ref().unwrap_or(&ctx.snapshot.engine);
    let authid = Authid::User(userid.clone());
    tracing::info!(user = %userid, "successful openid auth");
    Ok(json!({
        "username": userid.as_str(),
        "ticket": issued.ticket,
        "CSRFPreventionToken": issued.csrf_token,
        "cap": cap::cap(engine, &authid),
    }))
}

/// The realm `name` of the request's snapshot, if it is an `openid` realm; else Proxmox's
/// message.
fn openid_realm<'a>(ctx: &'a ApiContext<'_>, name: &str) -> Result<&'a RealmConfig, String> {
    let config = ctx
        .snapshot
        .domains
        .realm(name)
        .ok_or_else(|| format!("authentication domain '{name}' does not exist"))?;
    if config.kind != RealmType::Openid {
        return Err(format!("wrong realm type ({} != openid)", config.kind));
    }
    Ok(config)
}

/// A required text parameter of at most `max` characters; the error goes to `errors`.
fn required<'a>(
    ctx: &'a ApiContext<'_>,
    name: &str,
    max: usize,
    errors: &mut BTreeMap<String, String>,
) -> Option<&'a str> {
    match ctx.params.get(name) {
        None => {
            errors.insert(
                name.to_owned(),
                "property is missing and it is not optional".to_owned(),
            );
            None
        }
        Some(v) if v.chars().count() > max => {
            errors.insert(
                name.to_owned(),
                format!("value may only be {max} characters long"),
            );
            None
        }
        Some(v) => Some(v),
    }
}

fn internal(e: OpenIdError) -> ApiError {
    ApiError::Internal(format!("OpenID: {e}"))
}
