//! The management endpoints of the access API (spec §8): dispatch by handler name and the small
//! helpers every handler shares (parameters, the caller's privileges, locked writes + reload).
//!
//! The rules themselves live in [`crate::manage`], shared with the CLI.

mod acl;
mod domains;
mod groups;
mod jobs;
mod logout;
mod password;
mod permissions;
mod pools;
mod roles;
pub mod sync_task;
mod tfa;
mod tokens;
mod users;
mod why;

use crate::store::StoreError;
use crate::store::gateway_writer::Writer;
use std::str::FromStr;

use crate::access::{PrivSet, Privs};
use crate::config::{StateError, TokenShadow, UserConfig};
use crate::identity::{Authid, IdError};
use crate::manage::value::parse_bool;

use super::{ApiContext, ApiError, ApiResult};

/// Answer handler `name`; `None` if it is not one of the management handlers.
pub async fn handle(name: &str, ctx: &ApiContext<'_>) -> Option<ApiResult> {
    Some(match name {
        "access.users.list" => users::list(ctx),
        "access.users.get" => users::get(ctx),
        "access.users.create" => users::create(ctx).await,
        "access.users.update" => users::update(ctx).await,
        "access.users.delete" => users::delete(ctx).await,
        "access.tokens.list" => tokens::list(ctx),
        "access.tokens.get" => tokens::get(ctx),
        "access.tokens.create" => tokens::create(ctx).await,
        "access.tokens.update" => tokens::update(ctx).await,
        "access.tokens.delete" => tokens::delete(ctx).await,
        "access.acl.list" => acl::list(ctx),
        "access.acl.update" => acl::update(ctx).await,
        "access.permissions.get" => permissions::get(ctx),
        "access.groups.list" => groups::list(ctx),
        "access.groups.get" => groups::get(ctx),
        "access.groups.create" => groups::create(ctx).await,
        "access.groups.update" => groups::update(ctx).await,
        "access.groups.delete" => groups::delete(ctx).await,
        "access.roles.list" => roles::list(ctx),
        "access.roles.get" => roles::get(ctx),
        "access.roles.create" => roles::create(ctx).await,
        "access.roles.update" => roles::update(ctx).await,
        "access.roles.delete" => roles::delete(ctx).await,
        "access.password.update" => password::update(ctx).await,
        "access.domains.get" => domains::get(ctx),
        "access.domains.create" => domains::create(ctx).await,
        "access.domains.update" => domains::update(ctx).await,
        "access.domains.delete" => domains::delete(ctx).await,
        "access.domains.sync" => domains::sync(ctx).await,
        "access.tfa.list" => tfa::list(ctx),
        "access.tfa.user_list" => tfa::user_list(ctx),
        "access.tfa.get" => tfa::get(ctx),
        "access.tfa.add" => tfa::add(ctx).await,
        "access.tfa.update" => tfa::update(ctx).await,
        "access.tfa.delete" => tfa::delete(ctx).await,
        "access.tfa.user_types" => tfa::user_types(ctx),
        "access.tfa.unlock" => tfa::unlock(ctx).await,
        "pools.list" => pools::list(ctx),
        "pools.get" => pools::get(ctx),
        "pools.create" => pools::create(ctx).await,
        "pools.update" => pools::update(ctx).await,
        "pools.delete" => pools::delete(ctx).await,
        "access.aclgate.why" => why::get(ctx),
        "access.aclgate.qrcode" => qrcode(ctx),
        "access.aclgate.logout" => logout::post(ctx).await,
        "cluster.jobs.realm_sync.list" => jobs::list(ctx),
        "cluster.jobs.realm_sync.get" => jobs::get(ctx),
        "cluster.jobs.realm_sync.create" => jobs::create(ctx).await,
        "cluster.jobs.realm_sync.update" => jobs::update(ctx).await,
        "cluster.jobs.realm_sync.delete" => jobs::delete(ctx).await,
        "nodes.tasks.status" => jobs::task_status(ctx),
        "nodes.tasks.log" => jobs::task_log(ctx),
        _ => return None,
    })
}

/// `POST /access/aclgate/qrcode {uri}`: the web interface's TOTP QR code as SVG, drawn here so
/// that the secret in the URI goes nowhere but to aclgate. Pure: reads and writes no state.
fn qrcode(ctx: &ApiContext<'_>) -> ApiResult {
    let uri = text(ctx, "uri")
        .ok_or_else(|| ApiError::param("uri", "property is missing and it is not optional"))?;
    let svg = crate::ui::qrcode::svg(uri).map_err(|e| ApiError::param("uri", e.to_string()))?;
    Ok(serde_json::json!({ "svg": svg }))
}

/// The authenticated caller (every management route needs one).
fn caller<'a>(ctx: &ApiContext<'a>) -> Result<&'a Authid, ApiError> {
    ctx.caller
        .ok_or_else(|| ApiError::Forbidden("Permission check failed".to_owned()))
}

/// The caller's privileges on `path`.
fn privs_at(ctx: &ApiContext<'_>, path: &str) -> Result<Privs, ApiError> {
    Ok(ctx.snapshot.engine.privs(caller(ctx)?, path))
}

/// Whether the caller holds any of `wanted` on `path`.
fn has_any(ctx: &ApiContext<'_>, path: &str, wanted: PrivSet) -> Result<bool, ApiError> {
    Ok(privs_at(ctx, path)?.granted.intersects(wanted))
}

/// A set of privilege names known at compile time.
fn privset(names: &[&str]) -> PrivSet {
    // INVARIANT: callers pass names from Privilege::NAMES only.
    PrivSet::from_names(names.iter().copied()).expect("known privilege names")
}

/// A text parameter.
fn text<'a>(ctx: &'a ApiContext<'_>, name: &str) -> Option<&'a str> {
    ctx.params.get(name)
}

/// A required identifier parameter, parsed; 400 with `errors.<name>` otherwise.
fn id<T: FromStr<Err = IdError>>(ctx: &ApiContext<'_>, name: &str) -> Result<T, ApiError> {
    let raw = text(ctx, name)
        .ok_or_else(|| ApiError::param(name, "property is missing and it is not optional"))?;
    raw.parse().map_err(|e: IdError| {
        ApiError::param(
            name,
            format!("value does not match the regex pattern ({e})"),
        )
    })
}

/// An optional Proxmox boolean parameter.
fn flag(ctx: &ApiContext<'_>, name: &str) -> Result<Option<bool>, ApiError> {
    text(ctx, name)
        .map(|v| {
            parse_bool(v).map_err(|_| {
                ApiError::param(name, format!("type check ('boolean') failed - got '{v}'"))
            })
        })
        .transpose()
}

/// An optional non-negative integer parameter.
fn integer(ctx: &ApiContext<'_>, name: &str) -> Result<Option<u64>, ApiError> {
    text(ctx, name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::param(name, format!("type check ('integer') failed - got '{v}'"))
            })
        })
        .transpose()
}

/// Lock the state, apply `f`, write atomically, then reload so the next request sees it.
async fn write<T>(
    ctx: &ApiContext<'_>,
    f: impl FnOnce(&mut UserConfig, &mut TokenShadow) -> Result<T, StateError>,
) -> Result<T, ApiError> {
    if let Some(etcd) = Writer::find(ctx.services.state.root()) {
        return in_etcd(&etcd, |state| state.modify(f)).await;
    }
    let out = ctx.services.state.modify(f).map_err(state_error)?;
    reload(ctx).await?;
    Ok(out)
}

/// Like `write`, for the realm files (`StateDir::modify_realms`).
async fn write_realms<T>(
    ctx: &ApiContext<'_>,
    f: impl FnOnce(&mut crate::config::RealmEdit) -> Result<T, StateError>,
) -> Result<T, ApiError> {
    if let Some(etcd) = Writer::find(ctx.services.state.root()) {
        return in_etcd(&etcd, |state| state.modify_realms(f)).await;
    }
    let out = ctx.services.state.modify_realms(f).map_err(state_error)?;
    reload(ctx).await?;
    Ok(out)
}

/// A write on a gateway whose state is in etcd (src/store/gateway_writer.rs): committed there,
/// answered once this gateway serves it.
async fn in_etcd<T>(
    etcd: &Writer,
    f: impl FnOnce(&crate::config::StateDir) -> Result<T, StateError>,
) -> Result<T, ApiError> {
    let (out, revision) = etcd.change_async(f).await.map_err(|e| match e {
        StoreError::State(e) => state_error(e),
        StoreError::Etcd(_) | StoreError::Conflict(_) => ApiError::Unavailable(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    etcd.wait_applied(revision).await;
    Ok(out)
}

/// Reload after a write; a failed reload keeps the old snapshot and is a 500.
async fn reload(ctx: &ApiContext<'_>) -> Result<(), ApiError> {
    ctx.services
        .reload
        .reload()
        .await
        .map(|_| ())
        .map_err(|e| ApiError::Internal(format!("written, but the reload failed: {e}")))
}

/// A rejected change is the caller's fault (400); anything else is ours (500).
fn state_error(e: StateError) -> ApiError {
    match e {
        StateError::Rejected(m) => ApiError::BadRequest(m),
        other => ApiError::Internal(other.to_string()),
    }
}
