//! `POST /access/ticket` (spec §6.7, §7.3): password login, ticket renewal and the two-step
//! TFA login; with `path` and `privs` the verify mode of [`super::ticket_verify`]. Every
//! failure is the same [`ApiError::AuthFailure`] (the cause is logged, never shown);
//! throttled attempts look exactly like failed ones.

use std::time::Instant;

use serde_json::{Value, json};
use thiserror::Error;

use super::ticket_verify::{VerifyRequest, verify_login};
use super::{ApiContext, ApiError, ApiResult, cap};
use crate::access::{Engine, PrivSet};
use crate::auth::logout::LogoutList;
use crate::auth::realm::{self, LoginOptions, LookupError, RealmError, RealmSecrets};
use crate::auth::tfa::{self, Challenge, RealmTfa, TfaError, TfaStore, VerifyContext};
use crate::auth::ticket::{Issued, TicketAuthority, TicketError, epoch_now};
use crate::config::datacenter_cfg::{DatacenterTfa, U2fConfig, WebauthnConfig};
use crate::config::text::split_list;
use crate::config::{DomainsConfig, StateDir, UserConfig};
use crate::identity::{Authid, Userid};
use crate::reload::ReloadHandle;

/// Longest accepted `username` (Proxmox: 64).
const MAX_USERNAME: usize = 64;

/// Why a login failed: for the log only.
#[derive(Debug, Error)]
pub enum LoginError {
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
    #[error("'otp' together with 'tfa-challenge'")]
    OtpWithChallenge,
    #[error("the challenge in the tfa ticket is unreadable")]
    BadChallenge,
    #[error("throttled: {0}")]
    Throttled(#[from] crate::auth::throttle::Throttled),
    /// Verify mode: the path or the privileges refused the login.
    #[error("{0}")]
    Refused(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// The login's parameters.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a> {
    /// The userid as submitted (with `@realm` appended when `realm` was given).
    pub submitted: &'a str,
    /// The password, a ticket (renewal), or `<type>:<value>` (second step).
    pub password: &'a str,
    /// A second factor sent with the password (completes the login at once when valid).
    pub otp: Option<&'a str>,
    /// The half ticket of the first step.
    pub tfa_challenge: Option<&'a str>,
}

/// What a login reads and writes: the gateway's snapshot and services, or the state
/// directory for the `ticket` command.
pub struct LoginEnv<'a> {
    /// `user.cfg`.
    pub users: &'a UserConfig,
    /// `domains.cfg`.
    pub domains: &'a DomainsConfig,
    /// `logout.cfg`.
    pub logout: &'a LogoutList,
    /// The permission engine (for `cap`).
    pub engine: &'a Engine,
    /// The state directory (secrets, tfa.cfg).
    pub state: &'a StateDir,
    /// Ticket keys.
    pub tickets: &'a TicketAuthority,
    /// PAM service, LDAP timeout and the client's address.
    pub options: LoginOptions,
    /// The request's `Host` (WebAuthn origin).
    pub host: Option<&'a str>,
    /// Told when tfa.cfg changed.
    pub reload: Option<&'a ReloadHandle>,
}

/// `POST /access/ticket`.
pub async fn create_ticket(ctx: &ApiContext<'_>) -> ApiResult {
    let parsed = parse_request(ctx)?;
    let req = parsed.as_request();
    let services = ctx.services;
    let mut options = services.login.clone();
    options.client_ip = Some(ctx.peer.ip());
    let env = LoginEnv {
        users: &ctx.snapshot.user_cfg,
        domains: &ctx.snapshot.domains,
        logout: &ctx.snapshot.logout,
        engine: &ctx.snapshot.engine,
        state: &services.state,
        tickets: &services.tickets,
        options,
        host: ctx.host,
        reload: Some(&services.reload),
    };
    let source = ctx.peer.ip();
    let admitted = services
        .throttle
        .admit(source, req.submitted, Instant::now());
    let result = match admitted {
        Err(throttled) => Err(LoginError::Throttled(throttled)),
        Ok(admission) => {
            if !admission.delay.is_zero() {
                tokio::time::sleep(admission.delay).await;
            }
            let result = match &parsed.verify {
                Some(verify) => verify_login(&env, &req, verify).await,
                None => login(&env, &req).await,
            };
            match &result {
                Ok(_) => services
                    .throttle
                    .record_success(source, req.submitted, Instant::now()),
                Err(_) => services
                    .throttle
                    .record_failure(source, req.submitted, Instant::now()),
            }
            result
        }
    };
    result.map_err(|e| {
        tracing::info!(user = %req.submitted, peer = %ctx.peer, reason = %e, "login failed");
        ApiError::AuthFailure
    })
}

/// The parameters as read from the request.
struct Parsed<'a> {
    submitted: String,
    password: &'a str,
    otp: Option<&'a str>,
    tfa_challenge: Option<&'a str>,
    /// `path` and `privs`: verify mode.
    verify: Option<VerifyRequest<'a>>,
}

impl Parsed<'_> {
    fn as_request(&self) -> LoginRequest<'_> {
        LoginRequest {
            submitted: &self.submitted,
            password: self.password,
            otp: self.otp,
            tfa_challenge: self.tfa_challenge,
        }
    }
}

fn parse_request<'a>(ctx: &'a ApiContext<'_>) -> Result<Parsed<'a>, ApiError> {
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
    let verify = verify_params(p.get("path"), p.get("privs"), &mut errors);
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
    Ok(Parsed {
        submitted,
        password,
        otp: p.get("otp").filter(|o| !o.is_empty()),
        tfa_challenge: p.get("tfa-challenge").filter(|c| !c.is_empty()),
        verify,
    })
}

/// Verify mode when both `path` and `privs` are non-empty (as Proxmox tests them); each at
/// most 64 characters, `privs` a list of known privileges.
fn verify_params<'a>(
    path: Option<&'a str>,
    privs: Option<&'a str>,
    errors: &mut std::collections::BTreeMap<String, String>,
) -> Option<VerifyRequest<'a>> {
    for (name, value) in [("path", path), ("privs", privs)] {
        if value.is_some_and(|v| v.chars().count() > 64) {
            errors.insert(
                name.to_owned(),
                "value may only be 64 characters long".to_owned(),
            );
        }
    }
    let (path, privs_text) = (
        path.filter(|p| !p.is_empty())?,
        privs.filter(|p| !p.is_empty())?,
    );
    match PrivSet::from_names(split_list(privs_text)) {
        Ok(privs) => Some(VerifyRequest {
            path,
            privs,
            privs_text,
        }),
        Err(unknown) => {
            errors.insert(
                "privs".to_owned(),
                format!("invalid privilege name '{}'", unknown.0),
            );
            None
        }
    }
}

fn missing() -> String {
    "property is missing and it is not optional".to_owned()
}

/// Run one login (password, renewal, or second step); the answer's `data` on success.
pub async fn login(env: &LoginEnv<'_>, req: &LoginRequest<'_>) -> Result<Value, LoginError> {
    let now = epoch_now();
    let userid = realm::canonical_userid(env.users, env.domains, req.submitted)?;
    check_user(env.users, &userid, now)?;

    if let Some(challenge_ticket) = req.tfa_challenge {
        if req.otp.is_some() {
            return Err(LoginError::OtpWithChallenge);
        }
        return second_step(env, &userid, challenge_ticket, req.password, now).await;
    }

    if renewal_allowed(env, &userid, req.password, now) {
        return full_answer(env, &userid, now);
    }

    check_password(env, &userid, req.password).await?;
    match first_factor_challenge(env, &userid, now).await? {
        None => full_answer(env, &userid, now),
        Some(challenge) => match req.otp {
            // A valid `otp` completes the login at once (Proxmox would still ask for step 2).
            Some(otp) => {
                let response = otp_response(otp, realm_tfa(env, &userid)?.as_ref());
                verify_second_factor(env, &userid, challenge, response, now).await?;
                full_answer(env, &userid, now)
            }
            None => {
                let text = serde_json::to_string(&challenge)
                    .map_err(|e| LoginError::Internal(e.to_string()))?;
                let issued = env.tickets.issue_tfa_pending(&userid, &text, now)?;
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

/// The realm's password check.
async fn check_password(
    env: &LoginEnv<'_>,
    userid: &Userid,
    password: &str,
) -> Result<(), LoginError> {
    let secrets = {
        let (state, domains) = (env.state.clone(), env.domains.clone());
        tokio::task::spawn_blocking(move || RealmSecrets::load(&state, &domains))
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?
            .map_err(|e| LoginError::Internal(e.to_string()))?
            .0
    };
    realm::authenticate(env.domains, &secrets, userid, password, &env.options).await?;
    Ok(())
}

/// A one-step login without a ticket (verify mode): the password, and a user with second
/// factors must also give one in `otp`.
pub(super) async fn password_login(
    env: &LoginEnv<'_>,
    userid: &Userid,
    password: &str,
    otp: Option<&str>,
    now: i64,
) -> Result<(), LoginError> {
    check_password(env, userid, password).await?;
    if let Some(challenge) = first_factor_challenge(env, userid, now).await? {
        let otp = otp.ok_or(LoginError::Tfa(TfaError::NoSuchChallenge))?;
        let response = otp_response(otp, realm_tfa(env, userid)?.as_ref());
        verify_second_factor(env, userid, challenge, response, now).await?;
    }
    Ok(())
}

/// The user exists, is enabled and unexpired in the request's snapshot.
pub(super) fn check_user(users: &UserConfig, userid: &Userid, now: i64) -> Result<(), LoginError> {
    let user = users.users.get(userid).ok_or(LoginError::UnknownUser)?;
    if !user.is_usable(u64::try_from(now).unwrap_or(0)) {
        return Err(LoginError::UserUnusable);
    }
    Ok(())
}

/// `password` is a valid full ticket of `userid` or of root@pam, whose owner is still usable
/// and not logged out.
fn renewal_allowed(env: &LoginEnv<'_>, userid: &Userid, password: &str, now: i64) -> bool {
    if !password.starts_with("PVE:") {
        return false;
    }
    let Ok(verified) = env.tickets.authenticate(password, now) else {
        return false;
    };
    (verified.userid == *userid || verified.userid.is_root())
        && check_user(env.users, &verified.userid, now).is_ok()
        && !env.logout.is_revoked(&verified.userid, verified.issued_at)
}

fn realm_tfa(env: &LoginEnv<'_>, userid: &Userid) -> Result<Option<RealmTfa>, LoginError> {
    match env.domains.realm(userid.realm()) {
        Some(r) => Ok(RealmTfa::of_realm(r)?),
        None => Ok(None),
    }
}

/// datacenter.cfg's WebAuthn (origin resolved for this request) and U2F settings.
fn tfa_settings(
    env: &LoginEnv<'_>,
) -> Result<(Option<WebauthnConfig>, Option<U2fConfig>), LoginError> {
    let dc = DatacenterTfa::load(env.state).map_err(|e| LoginError::Internal(e.to_string()))?;
    let webauthn = dc
        .webauthn
        .map(|w| w.for_host(env.host.unwrap_or("localhost")));
    Ok((webauthn, dc.u2f))
}

/// After the password: the challenge, if a second factor is required. The store is written
/// only when the challenge changed it (a WebAuthn challenge, imported legacy keys).
async fn first_factor_challenge(
    env: &LoginEnv<'_>,
    userid: &Userid,
    now: i64,
) -> Result<Option<Challenge>, LoginError> {
    let realm = realm_tfa(env, userid)?;
    let (webauthn, u2f) = tfa_settings(env)?;
    let legacy_keys = env
        .users
        .users
        .get(userid)
        .map(|u| u.keys.clone())
        .unwrap_or_default();
    let state = env.state.clone();
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
            tfa::challenge_with_u2f(
                store,
                &userid,
                realm.as_ref(),
                webauthn.as_ref(),
                u2f.as_ref(),
                now,
            )
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
    env: &LoginEnv<'_>,
    userid: &Userid,
    challenge_ticket: &str,
    response: &str,
    now: i64,
) -> Result<Value, LoginError> {
    let pending = env
        .tickets
        .verify_tfa_pending(challenge_ticket, userid, now)?;
    let challenge: Challenge =
        serde_json::from_str(&pending.challenge).map_err(|_| LoginError::BadChallenge)?;
    verify_second_factor(env, userid, challenge, response.to_owned(), now).await?;
    full_answer(env, userid, now)
}

async fn verify_second_factor(
    env: &LoginEnv<'_>,
    userid: &Userid,
    challenge: Challenge,
    response: String,
    now: i64,
) -> Result<(), LoginError> {
    let realm = realm_tfa(env, userid)?;
    let (webauthn, u2f) = tfa_settings(env)?;
    let state = env.state.clone();
    let userid = userid.clone();
    // Counters, `last-count` and spent recovery keys are persisted whether or not it verified.
    tokio::task::spawn_blocking(move || {
        let vctx = VerifyContext {
            realm: realm.as_ref(),
            webauthn: webauthn.as_ref(),
            u2f: u2f.as_ref(),
        };
        // The verdict is the closure's answer, so a refused response still has its counters
        // written (the write itself failing is the outer error).
        TfaStore::modify(&state, |store| {
            Ok(tfa::verify_response(
                store, &userid, &challenge, &response, &vctx, now,
            ))
        })?
    })
    .await
    .map_err(|e| LoginError::Internal(e.to_string()))?
    .map_err(LoginError::Tfa)?;
    // tfa.cfg changed: let the next request see it (best effort; the watcher also fires).
    if let Some(reload) = env.reload {
        reload.files_changed();
    }
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

fn full_answer(env: &LoginEnv<'_>, userid: &Userid, now: i64) -> Result<Value, LoginError> {
    let Issued {
        ticket, csrf_token, ..
    } = env.tickets.issue(userid, now)?;
    let authid = Authid::User(userid.clone());
    Ok(json!({
        "username": userid.as_str(),
        "ticket": ticket,
        "CSRFPreventionToken": csrf_token,
        "cap": cap::cap(env.engine, &authid),
    }))
}
