//! `POST /access/ticket` (spec §6.7, §7.3): password login, ticket renewal and the two-step
//! TFA login. Every failure is the same [`ApiError::AuthFailure`] (the cause is logged, never
//! shown); throttled attempts look exactly like failed ones.

use std::time::Instant;

use serde_json::{Value, json};
use thiserror::Error;

use super::{ApiContext, ApiError, ApiResult, cap};
use crate::auth::realm::{self, LookupError, RealmError, RealmSecrets};
use crate::auth::tfa::{self, Challenge, RealmTfa, TfaError, TfaStore, VerifyContext};
use crate::auth::ticket::{Issued, TicketError, epoch_now};
use crate::config::datacenter_cfg::{DatacenterTfa, WebauthnConfig};
use crate::identity::{Authid, Userid};
use crate::snapshot::Snapshot;

/// Longest accepted `username` (Proxmox: 64).
const MAX_USERNAME: usize = 64;

/// Why a login failed: for the log only.
#[derive(Debug, Error)]
enum LoginError {
    #[error("{0}")]
    Lookup(#[from] LookupError),
    #[error("unknown user")]
    UnknownUser,
    #[error("user disabled or expired")]
    UserUnusable,
    #[error("password: {0}")]
    Realm(#[from] RealmError),
    #[error("tfa: {0}")]
    Tfa(#[from] TfaError),
    #[error("ticket: {0}")]
    Ticket(#[from] TicketError),
    #[error("`otp` together with `tfa-challenge`")]
    OtpWithChallenge,
    #[error("the challenge in the tfa ticket is unreadable")]
    BadChallenge,
    #[error("throttled: {0}")]
    Throttled(#[from] crate::auth::throttle::Throttled),
    #[error("internal: {0}")]
    Internal(String),
}

/// The login's parameters.
struct LoginRequest<'a> {
    submitted: String,
    password: &'a str,
    otp: Option<&'a str>,
    tfa_challenge: Option<&'a str>,
}

/// `POST /access/ticket`.
pub async fn create_ticket(ctx: &ApiContext<'_>) -> ApiResult {
    let req = parse_request(ctx)?;
    let services = ctx.services;
    let source = ctx.peer.ip();
    let admitted = services
        .throttle
        .admit(source, &req.submitted, Instant::now());
    let result = match admitted {
        Err(throttled) => Err(LoginError::Throttled(throttled)),
        Ok(admission) => {
            if !admission.delay.is_zero() {
                tokio::time::sleep(admission.delay).await;
            }
            let result = login(ctx, &req).await;
            match &result {
                Ok(_) => services
                    .throttle
                    .record_success(source, &req.submitted, Instant::now()),
                Err(_) => services
                    .throttle
                    .record_failure(source, &req.submitted, Instant::now()),
            }
            result
        }
    };
    result.map_err(|e| {
        tracing::info!(user = %req.submitted, peer = %ctx.peer, reason = %e, "login failed");
        ApiError::AuthFailure
    })
}

fn parse_request<'a>(ctx: &'a ApiContext<'_>) -> Result<LoginRequest<'a>, ApiError> {
    let p = ctx.params;
    let mut errors = std::collections::BTreeMap::new();
    let username = p.get("username");
    let password = p.get("password");
    if username.is_none() {
        errors.insert("username".to_owned(), missing());
    }
    if password.is_none() {
        errors.insert("password".to_owned(), missing());
    }
    if username.is_some_and(|u| u.len() > MAX_USERNAME) {
        errors.insert(
            "username".to_owned(),
            format!("value may only be {MAX_USERNAME} characters long"),
        );
    }
    if p.get("path").is_some() || p.get("privs").is_some() {
        // Proxmox's verify mode skips the second factor; aclgate does not offer it.
        errors.insert(
            "path".to_owned(),
            "ticket verification mode (`path`, `privs`) is not supported".to_owned(),
        );
    }
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Params(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Params(errors));
    }
    let submitted = match p.get("realm").filter(|r| !r.is_empty()) {
        Some(realm) => format!("{username}@{realm}"),
        None => username.to_owned(),
    };
    Ok(LoginRequest {
        submitted,
        password,
        otp: p.get("otp").filter(|o| !o.is_empty()),
        tfa_challenge: p.get("tfa-challenge").filter(|c| !c.is_empty()),
    })
}

fn missing() -> String {
    "property is missing and it is not optional".to_owned()
}

async fn login(ctx: &ApiContext<'_>, req: &LoginRequest<'_>) -> Result<Value, LoginError> {
    let snapshot = ctx.snapshot;
    let now = epoch_now();
    let userid = realm::canonical_userid(&snapshot.user_cfg, &snapshot.domains, &req.submitted)?;
    check_user(snapshot, &userid, now)?;

    if let Some(challenge_ticket) = req.tfa_challenge {
        if req.otp.is_some() {
            return Err(LoginError::OtpWithChallenge);
        }
        return second_step(ctx, &userid, challenge_ticket, req.password, now).await;
    }

    if renewal_allowed(ctx, &userid, req.password, now) {
        return full_answer(ctx, &userid, now);
    }

    let state = &ctx.services.state;
    let secrets = {
        let (state, domains) = (state.clone(), snapshot.domains.clone());
        tokio::task::spawn_blocking(move || RealmSecrets::load(&state, &domains))
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?
            .map_err(|e| LoginError::Internal(e.to_string()))?
            .0
    };
    let mut opts = ctx.services.login.clone();
    opts.client_ip = Some(ctx.peer.ip());
    realm::authenticate(&snapshot.domains, &secrets, &userid, req.password, &opts).await?;

    match first_factor_challenge(ctx, &userid, now).await? {
        None => full_answer(ctx, &userid, now),
        Some(challenge) => match req.otp {
            // A valid `otp` completes the login at once (Proxmox would still ask for step 2).
            Some(otp) => {
                let response = otp_response(otp, realm_tfa(snapshot, &userid)?.as_ref());
                verify_second_factor(ctx, &userid, challenge, response, now).await?;
                full_answer(ctx, &userid, now)
            }
            None => {
                let text = serde_json::to_string(&challenge)
                    .map_err(|e| LoginError::Internal(e.to_string()))?;
                let issued = ctx
                    .services
                    .tickets
                    .issue_tfa_pending(&userid, &text, now)?;
                Ok(json!({
                    "username": userid.as_str(),
                    "ticket": issued.ticket,
                    "CSRFPreventionToken": issued.csrf_token,
                    "NeedTFA": 1,
                }))
            }
        },
    }
}

/// The user exists, is enabled and unexpired in the request's snapshot.
fn check_user(snapshot: &Snapshot, userid: &Userid, now: i64) -> Result<(), LoginError> {
    let user = snapshot
        .user_cfg
        .users
        .get(userid)
        .ok_or(LoginError::UnknownUser)?;
    if !user.is_usable(u64::try_from(now).unwrap_or(0)) {
        return Err(LoginError::UserUnusable);
    }
    Ok(())
}

/// `password` is a valid full ticket of `userid` or of root@pam, whose owner is still usable
/// and not logged out.
fn renewal_allowed(ctx: &ApiContext<'_>, userid: &Userid, password: &str, now: i64) -> bool {
    if !password.starts_with("PVE:") {
        return false;
    }
    let Ok(verified) = ctx.services.tickets.authenticate(password, now) else {
        return false;
    };
    (verified.userid == *userid || verified.userid.is_root())
        && check_user(ctx.snapshot, &verified.userid, now).is_ok()
        && !ctx
            .snapshot
            .logout
            .is_revoked(&verified.userid, verified.issued_at)
}

fn realm_tfa(snapshot: &Snapshot, userid: &Userid) -> Result<Option<RealmTfa>, LoginError> {
    match snapshot.domains.realm(userid.realm()) {
        Some(r) => Ok(RealmTfa::of_realm(r)?),
        None => Ok(None),
    }
}

fn webauthn(ctx: &ApiContext<'_>) -> Result<Option<WebauthnConfig>, LoginError> {
    let dc = DatacenterTfa::load(&ctx.services.state)
        .map_err(|e| LoginError::Internal(e.to_string()))?;
    Ok(dc
        .webauthn
        .map(|w| w.for_host(ctx.host.unwrap_or("localhost"))))
}

/// After the password: the challenge, if a second factor is required. The store is written
/// only when the challenge changed it (a WebAuthn challenge, imported legacy keys).
async fn first_factor_challenge(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    now: i64,
) -> Result<Option<Challenge>, LoginError> {
    let realm = realm_tfa(ctx.snapshot, userid)?;
    let webauthn = webauthn(ctx)?;
    let legacy_keys = ctx
        .snapshot
        .user_cfg
        .users
        .get(userid)
        .map(|u| u.keys.clone())
        .unwrap_or_default();
    let state = ctx.services.state.clone();
    let userid = userid.clone();
    tokio::task::spawn_blocking(move || {
        let compute = |store: &mut TfaStore| {
            // Legacy `keys` are imported once: aclgate does not rewrite user.cfg to `x`, so
            // a user who already has entries in tfa.cfg is not imported again.
            if let Some(realm) = &realm
                && store.user(&userid).is_none_or(|u| u.is_empty())
            {
                tfa::import_legacy_keys(store, &userid, &legacy_keys, realm, now);
            }
            tfa::challenge_for(store, &userid, realm.as_ref(), webauthn.as_ref(), now)
        };
        // Most logins change nothing: try on a copy first and take the lock only if needed.
        let mut store = TfaStore::load(&state)?;
        let before = store.clone();
        let challenge = compute(&mut store)?;
        if store == before {
            return Ok(challenge);
        }
        TfaStore::modify(&state, compute)
    })
    .await
    .map_err(|e| LoginError::Internal(e.to_string()))?
    .map_err(LoginError::Tfa)
}

/// Step 2: the half ticket verifies for this user; the response answers its challenge.
async fn second_step(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    challenge_ticket: &str,
    response: &str,
    now: i64,
) -> Result<Value, LoginError> {
    let pending = ctx
        .services
        .tickets
        .verify_tfa_pending(challenge_ticket, userid, now)?;
    let challenge: Challenge =
        serde_json::from_str(&pending.challenge).map_err(|_| LoginError::BadChallenge)?;
    verify_second_factor(ctx, userid, challenge, response.to_owned(), now).await?;
    full_answer(ctx, userid, now)
}

async fn verify_second_factor(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    challenge: Challenge,
    response: String,
    now: i64,
) -> Result<(), LoginError> {
    let realm = realm_tfa(ctx.snapshot, userid)?;
    let webauthn = webauthn(ctx)?;
    let state = ctx.services.state.clone();
    let userid = userid.clone();
    // Counters, `last-count` and spent recovery keys are persisted whether or not it verified.
    tokio::task::spawn_blocking(move || {
        let _lock = state.lock()?;
        let mut store = TfaStore::load(&state)?;
        let before = store.clone();
        let vctx = VerifyContext {
            realm: realm.as_ref(),
            webauthn: webauthn.as_ref(),
        };
        let result = tfa::verify_response(&mut store, &userid, &challenge, &response, &vctx, now);
        if store != before {
            store.save(&state)?;
        }
        result
    })
    .await
    .map_err(|e| LoginError::Internal(e.to_string()))?
    .map_err(LoginError::Tfa)?;
    // tfa.cfg changed: let the next request see it (best effort; the watcher also fires).
    ctx.services.reload.files_changed();
    Ok(())
}

/// `otp` as a `<type>:<value>` response: a bare code is a TOTP code (a Yubico OTP in a
/// Yubico realm).
fn otp_response(otp: &str, realm: Option<&RealmTfa>) -> String {
    if otp.contains(':') {
        return otp.to_owned();
    }
    match realm {
        Some(r) => format!("{}:{otp}", r.response_type()),
        None => format!("totp:{otp}"),
    }
}

fn full_answer(ctx: &ApiContext<'_>, userid: &Userid, now: i64) -> Result<Value, LoginError> {
    let Issued {
        ticket, csrf_token, ..
    } = ctx.services.tickets.issue(userid, now)?;
    let authid = Authid::User(userid.clone());
    Ok(json!({
        "username": userid.as_str(),
        "ticket": ticket,
        "CSRFPreventionToken": csrf_token,
        "cap": cap::cap(&ctx.snapshot.engine, &authid),
    }))
}
