//! `/cluster/jobs/realm-sync[/{id}]` (list, get, create, update, delete) and the task
//! endpoints of aclgate's own tasks, `/nodes/{node}/tasks/{upid}/status` and `/log`: a UPID
//! that is not ours is answered [`ApiError::Upstream`], so the proxy forwards it.

use serde_json::Value;

use super::{caller, has_any, integer, privset, state_error, text};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::auth::ticket::epoch_now;
use crate::manage::jobs::{self, JOB_OPTIONS, JobError};
use crate::manage::value::split_list;
use crate::tasks::Upid;

/// `GET /cluster/jobs/realm-sync`.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let now = epoch_now();
    let items = jobs::list(&ctx.services.state, now).map_err(job_error)?;
    Ok(Value::Array(items))
}

/// `GET /cluster/jobs/realm-sync/{id}`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    jobs::get(&ctx.services.state, id(ctx)?).map_err(job_error)
}

/// `POST /cluster/jobs/realm-sync/{id}`.
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let now = epoch_now();
    let node = ctx.services.tasks.node();
    jobs::create(&ctx.services.state, id(ctx)?, &options(ctx), node, now).map_err(job_error)?;
    Ok(Value::Null)
}

/// `PUT /cluster/jobs/realm-sync/{id}` (options, `delete`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let deletes: Vec<&str> = text(ctx, "delete")
        .map(|d| split_list(d).collect())
        .unwrap_or_default();
    jobs::update(&ctx.services.state, id(ctx)?, &options(ctx), &deletes).map_err(job_error)?;
    Ok(Value::Null)
}

/// `DELETE /cluster/jobs/realm-sync/{id}`.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    jobs::delete(&ctx.services.state, id(ctx)?).map_err(job_error)?;
    Ok(Value::Null)
}

/// `GET /nodes/{node}/tasks/{upid}/status` of one of our tasks.
pub fn task_status(ctx: &ApiContext<'_>) -> ApiResult {
    let upid = own_task(ctx)?;
    ctx.services.tasks.status(&upid).ok_or(ApiError::Upstream)
}

/// `GET /nodes/{node}/tasks/{upid}/log?start&limit` of one of our tasks.
pub fn task_log(ctx: &ApiContext<'_>) -> ApiResult {
    let upid = own_task(ctx)?;
    let start = integer(ctx, "start")?.unwrap_or(0);
    let limit = integer(ctx, "limit")?.unwrap_or(50);
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let (_total, lines) = ctx
        .services
        .tasks
        .log(&upid, size(start), size(limit))
        .ok_or(ApiError::Upstream)?;
    Ok(Value::Array(lines))
}

/// The UPID of the request if the task is ours and the caller may read it (the task's owner,
/// or `Sys.Audit` on `/nodes/{node}`); [`ApiError::Upstream`] if it is not ours.
fn own_task(ctx: &ApiContext<'_>) -> Result<Upid, ApiError> {
    let raw = text(ctx, "upid").unwrap_or_default();
    let Ok(upid) = raw.parse::<Upid>() else {
        return Err(ApiError::Upstream);
    };
    let node = text(ctx, "node").unwrap_or_default();
    if node != upid.node || !ctx.services.tasks.owns(&upid) {
        return Err(ApiError::Upstream);
    }
    let who = caller(ctx)?;
    if who.as_str() != upid.user
        && !has_any(ctx, &format!("/nodes/{node}"), privset(&["Sys.Audit"]))?
    {
        return Err(ApiError::Forbidden(format!(
            "Permission check failed (/nodes/{node}, Sys.Audit)"
        )));
    }
    Ok(upid)
}

fn id<'a>(ctx: &'a ApiContext<'_>) -> Result<&'a str, ApiError> {
    text(ctx, "id")
        .ok_or_else(|| ApiError::param("id", "property is missing and it is not optional"))
}

/// The job options present in the request.
fn options<'a>(ctx: &'a ApiContext<'_>) -> Vec<(&'static str, &'a str)> {
    JOB_OPTIONS
        .iter()
        .filter_map(|key| text(ctx, key).map(|v| (*key, v)))
        .collect()
}

fn job_error(e: JobError) -> ApiError {
    match e {
        JobError::Param { param, message } => ApiError::param(param, message),
        JobError::Rejected(m) => ApiError::BadRequest(m),
        JobError::State(e) => state_error(e),
    }
}
