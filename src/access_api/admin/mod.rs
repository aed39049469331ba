//! The management endpoints of the access API (spec §8): dispatch by handler and the small
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
use crate::config::user_cfg::UserConfigEdit;
use crate::config::{StateError, TokenShadow};
use crate::identity::{Authid, IdError};
use crate::manage::value::parse_bool;
use crate::policy::AdminHandler;

use super::{ApiContext, ApiError, ApiResult};

/// Answer a management handler.
pub async fn handle(handler: AdminHandler, ctx: &ApiContext<'_>) -> ApiResult {
    match handler {
        AdminHandler::UsersList => users::list(ctx),
        AdminHandler::UsersGet => users::get(ctx),
        AdminHandler::UsersCreate => users::create(ctx).await,
        AdminHandler::UsersUpdate => users::update(ctx).await,
        AdminHandler::UsersDelete => users::delete(ctx).await,
        AdminHandler::TokensList => tokens::list(ctx),
        AdminHandler::TokensGet => tokens::get(ctx),
        AdminHandler::TokensCreate => tokens::create(ctx).await,
        AdminHandler::TokensUpdate => tokens::update(ctx).await,
        AdminHandler::TokensDelete => tokens::delete(ctx).await,
        AdminHandler::AclList => acl::list(ctx),
        AdminHandler::AclUpdate => acl::update(ctx).await,
        AdminHandler::PermissionsGet => permissions::get(ctx),
        AdminHandler::GroupsList => groups::list(ctx),
        AdminHandler::GroupsGet => groups::get(ctx),
        AdminHandler::GroupsCreate => groups::create(ctx).await,
        AdminHandler::GroupsUpdate => groups::update(ctx).await,
        AdminHandler::GroupsDelete => groups::delete(ctx).await,
        AdminHandler::RolesList => roles::list(ctx),
        AdminHandler::RolesGet => roles::get(ctx),
        AdminHandler::RolesCreate => roles::create(ctx).await,
        AdminHandler::RolesUpdate => roles::update(ctx).await,
        AdminHandler::RolesDelete => roles::delete(ctx).await,
        AdminHandler::PasswordUpdate => password::update(ctx).await,
        AdminHandler::DomainsGet => domains::get(ctx),
        AdminHandler::DomainsCreate => domains::create(ctx).await,
        AdminHandler::DomainsUpdate => domains::update(ctx).await,
        AdminHandler::DomainsDelete => domains::delete(ctx).await,
        AdminHandler::DomainsSync => domains::sync(ctx).await,
        AdminHandler::TfaList => tfa::list(ctx),
        AdminHandler::TfaUserList => tfa::user_list(ctx),
        AdminHandler::TfaGet => tfa::get(ctx),
        AdminHandler::TfaAdd => tfa::add(ctx).await,
        AdminHandler::TfaUpdate => tfa::update(ctx).await,
        AdminHandler::TfaDelete => tfa::delete(ctx).await,
        AdminHandler::TfaUserTypes => tfa::user_types(ctx),
        AdminHandler::TfaUnlock => tfa::unlock(ctx).await,
        AdminHandler::PoolsList => pools::list(ctx).await,
        AdminHandler::PoolsGet => pools::get(ctx).await,
        AdminHandler::PoolsCreate => pools::create(ctx).await,
        AdminHandler::PoolsUpdate => pools::update(ctx).await,
        AdminHandler::PoolsDelete => pools::delete(ctx).await,
        AdminHandler::Why => why::get(ctx),
        AdminHandler::Qrcode => qrcode(ctx),
        AdminHandler::Logout => logout::post(ctx).await,
        AdminHandler::RealmSyncJobsList => jobs::list(ctx),
        AdminHandler::RealmSyncJobsGet => jobs::get(ctx),
        AdminHandler::RealmSyncJobsCreate => jobs::create(ctx).await,
        AdminHandler::RealmSyncJobsUpdate => jobs::update(ctx).await,
        AdminHandler::RealmSyncJobsDelete => jobs::delete(ctx).await,
        AdminHandler::TaskStatus => jobs::task_status(ctx),
        AdminHandler::TaskLog => jobs::task_log(ctx),
    }
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

/// Lock the state, apply `f`, write atomically, then hand the edit to the reload door so the
/// next request sees it (applied to the running snapshot where it can be: docs/scale.md).
async fn write<T: Send + 'static>(
    ctx: &ApiContext<'_>,
    f: impl FnOnce(&mut UserConfigEdit, &mut TokenShadow) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    if let Some(fleet) = &ctx.services.fleet {
        return in_etcd(&fleet.writer, move |state| state.modify(f)).await;
    }
    let (out, written) = ctx.services.state.modify_written(f).map_err(state_error)?;
    applied(ctx, written).await?;
    Ok(out)
}

/// Hand a write to the reload door; a failed reload keeps the old snapshot and is a 500.
async fn applied(
    ctx: &ApiContext<'_>,
    written: crate::config::state_dir::Written,
) -> Result<(), ApiError> {
    ctx.services
        .reload
        .apply(written)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::Internal(format!("written, but the reload failed: {e}")))
}

/// Like `write`, for the realm files (`StateDir::modify_realms`).
async fn write_realms<T: Send + 'static>(
    ctx: &ApiContext<'_>,
    f: impl FnOnce(&mut crate::config::RealmEdit) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    if let Some(fleet) = &ctx.services.fleet {
        return in_etcd(&fleet.writer, move |state| state.modify_realms(f)).await;
    }
    let out = ctx.services.state.modify_realms(f).map_err(state_error)?;
    reload(ctx).await?;
    Ok(out)
}

/// A write on a gateway whose state is in etcd (src/store/gateway_writer.rs): committed there,
/// answered once this gateway serves it.
async fn in_etcd<T: Send + 'static>(
    etcd: &Writer,
    f: impl FnOnce(&crate::config::StateDir) -> Result<T, StateError> + Send + 'static,
) -> Result<T, ApiError> {
    let (out, revision) = etcd.change_async(f).await.map_err(|e| match e {
        StoreError::State(e) => state_error(e),
        StoreError::Etcd(_) | StoreError::Conflict(_) | StoreError::Uncertain(_) => {
            ApiError::Unavailable(e.to_string())
        }
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

/// A value Proxmox's schema refuses (`invalid ...`, line breaks) and what aclgate does not
/// support are a 400; any other rule's refusal is the handler's `die` in Proxmox, a 500 with
/// the message; anything else is ours (500).
fn state_error(e: StateError) -> ApiError {
    match e {
        StateError::Rejected(m)
            if m.starts_with("invalid ")
                || m.contains("line breaks")
                || m.contains("not supported by aclgate") =>
        {
            ApiError::BadRequest(m)
        }
        StateError::Rejected(m) => ApiError::Rejected(m),
        other => ApiError::Internal(other.to_string()),
    }
}
