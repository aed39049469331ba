//! `POST /access/vncticket` (spec §8, Proxmox `PVE::API2::AccessControl::verify_vnc_ticket`):
//! a console proxy asks whether a `PVEVNC` ticket is valid for `authid`, `path` and `port`,
//! and whether that authid holds every one of `privs` on `path`. The answer is `null`, or the
//! same 401 "authentication failure" for every refusal (the cause is logged, never shown).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ApiContext, ApiError, ApiResult};
use crate::access::{AclPath, PrivSet};
use crate::auth::ticket::{Binding, ShortLivedKind, epoch_now};
use crate::config::text::split_list;
use crate::identity::Authid;

/// Longest accepted `authid`, `path` and `privs` (Proxmox: 64 each).
const MAX_LEN: usize = 64;

/// `POST /access/vncticket`.
pub fn verify(ctx: &ApiContext<'_>) -> ApiResult {
    let request = parse(ctx)?;
    match check(ctx, &request) {
        Ok(()) => {
            tracing::info!(authid = %request.authid, path = %request.path, "vnc ticket verified");
            Ok(Value::Null)
        }
        Err(reason) => {
            tracing::info!(
                authid = %request.authid, peer = %ctx.peer, reason = %reason,
                "vnc ticket refused"
            );
            Err(ApiError::AuthFailure)
        }
    }
}

/// The request, after the schema checks Proxmox makes before its handler runs.
struct Request<'a> {
    authid: &'a str,
    ticket: &'a str,
    path: &'a str,
    privs: PrivSet,
    port: Option<u16>,
}

fn parse<'a>(ctx: &'a ApiContext<'_>) -> Result<Request<'a>, ApiError> {
    let p = ctx.params;
    let mut errors = BTreeMap::new();
    let mut required = |name: &str, max: Option<usize>| -> Option<&'a str> {
        match p.get(name) {
            None => {
                errors.insert(
                    name.to_owned(),
                    "property is missing and it is not optional".to_owned(),
                );
                None
            }
            Some(v) if max.is_some_and(|m| v.chars().count() > m) => {
                errors.insert(
                    name.to_owned(),
                    format!("value may only be {} characters long", max.unwrap_or(0)),
                );
                None
            }
            Some(v) => Some(v),
        }
    };
    let authid = required("authid", Some(MAX_LEN));
    let ticket = required("vncticket", None);
    let path = required("path", Some(MAX_LEN));
    let privs_text = required("privs", Some(MAX_LEN));
    let privs = privs_text.and_then(|text| match PrivSet::from_names(split_list(text)) {
        Ok(set) => Some(set),
        Err(unknown) => {
            errors.insert(
                "privs".to_owned(),
                format!("invalid privilege name '{}'", unknown.0),
            );
            None
        }
    });
    let port = match p.get("port") {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => {
                errors.insert("port".to_owned(), "value must be a port number".to_owned());
                None
            }
        },
    };
    match (authid, ticket, path, privs) {
        (Some(authid), Some(ticket), Some(path), Some(privs)) if errors.is_empty() => Ok(Request {
            authid,
            ticket,
            path,
            privs,
            port,
        }),
        _ => Err(ApiError::Params(errors)),
    }
}

/// Ticket first, then privileges, as Proxmox orders them; the error is for the log.
fn check(ctx: &ApiContext<'_>, request: &Request<'_>) -> Result<(), String> {
    let authid: Authid = request
        .authid
        .parse()
        .map_err(|e| format!("invalid authid: {e}"))?;
    let path = AclPath::normalize(request.path).ok_or("invalid ticket path")?;
    let binding = Binding {
        authid: &authid,
        path: path.as_str(),
        port: request.port,
    };
    ctx.services
        .tickets
        .verify_short_lived(ShortLivedKind::Vnc, request.ticket, binding, epoch_now())
        .map_err(|e| e.to_string())?;
    // Beyond Proxmox (which only checks privileges here): a user disabled or expired since
    // the ticket was issued, or a removed or expired token, is refused, as on every request.
    if !is_usable(ctx, &authid) {
        return Err("user or token disabled, expired or removed".to_owned());
    }
    let held = ctx.snapshot.engine.privs(&authid, path.as_str()).granted;
    if request.privs.is_empty() || !held.contains_all(request.privs) {
        return Err(format!("no permission ({}, {})", request.path, {
            request
                .privs
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(",")
        }));
    }
    Ok(())
}

/// The user (a token's owner) exists, is enabled and unexpired; a token exists, unexpired.
fn is_usable(ctx: &ApiContext<'_>, authid: &Authid) -> bool {
    let now = u64::try_from(epoch_now()).unwrap_or(0);
    let users = &ctx.snapshot.user_cfg;
    let owner = match authid {
        Authid::User(user) => user.clone(),
        Authid::Token(token) => token.user(),
    };
    let owner_ok = users.users.get(&owner).is_some_and(|u| u.is_usable(now));
    let token_ok = match authid {
        Authid::User(_) => true,
        Authid::Token(token) => users
            .token(token)
            .is_some_and(|t| t.expire == 0 || t.expire >= now),
    };
    owner_ok && token_ok
}
