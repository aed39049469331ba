//! Scheduled realm syncs: `/cluster/jobs/realm-sync` (Proxmox's `PVE::API2::Jobs::RealmSync`
//! and `PVE::Jobs::RealmSync`). Jobs live in `<state>/jobs.cfg` ([`config`]), their last run
//! in `<state>/priv/jobs/realm-sync-<id>.json` (`{"node","upid"}` or `{"node","time"[,"error"]}`),
//! as in `/etc/pve`. The schedule is a [`calendar::CalendarEvent`]; [`due`] says which jobs
//! the scheduler starts now.

pub mod calendar;
pub mod config;

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::{StateDir, StateError, state_dir::read_optional};
use crate::identity::Realm;
use crate::manage::realm_sync::{RemoveVanished, Scope};
use crate::manage::value::parse_bool;
use crate::tasks::Upid;
pub use calendar::CalendarEvent;
pub use config::{JobsConfig, Section};

/// The section type of realm-sync jobs.
pub const REALM_SYNC: &str = "realm-sync";

/// The options of a realm-sync job (`PVE::Jobs::RealmSync::options`).
pub const JOB_OPTIONS: [&str; 7] = [
    "comment",
    "enable-new",
    "enabled",
    "realm",
    "remove-vanished",
    "schedule",
    "scope",
];

/// Why a job request was refused or failed.
#[derive(Debug, Error)]
pub enum JobError {
    /// A bad parameter (400 with `errors.<param>`).
    #[error("{param}: {message}")]
    Param {
        param: &'static str,
        message: String,
    },
    /// A refused change (400 with the message).
    #[error("{0}")]
    Rejected(String),
    /// Reading or writing the state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The last run of a job (`get_state`/`save_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    /// The node that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The task of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
    /// When a run was attempted without a task (or the job was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// Why the last run could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// === impl JobState ===

impl JobState {
    /// The start of the last run: the task's start time, else `time`.
    pub fn last_run(&self) -> Option<i64> {
        match &self.upid {
            Some(upid) => upid.parse::<Upid>().ok().map(|u| u.starttime),
            None => self.time,
        }
    }
}

/// `GET /cluster/jobs/realm-sync`: every realm-sync job with `id`, `last-run`, `next-run`.
pub fn list(state: &StateDir, now: i64) -> Result<Vec<Value>, JobError> {
    let jobs = load(state)?;
    let mut out = Vec::new();
    for s in jobs.sections.iter().filter(|s| s.kind == REALM_SYNC) {
        let mut item = section_json(s);
        item.insert("id".to_owned(), Value::from(s.id.as_str()));
        if let Some(schedule) = s.option("schedule") {
            let last = load_state(state, &s.id)?.last_run();
            if let Some(last) = last {
                item.insert("last-run".to_owned(), Value::from(last));
            }
            let next = CalendarEvent::from_str(schedule)
                .ok()
                .and_then(|e| e.next_after(last.unwrap_or(now)));
            if let Some(next) = next {
                item.insert("next-run".to_owned(), Value::from(next));
            }
        }
        out.push(Value::Object(item));
    }
    Ok(out)
}

/// `GET /cluster/jobs/realm-sync/{id}`.
pub fn get(state: &StateDir, id: &str) -> Result<Value, JobError> {
    let jobs = load(state)?;
    match jobs.find(id).filter(|s| s.kind == REALM_SYNC) {
        Some(s) => Ok(Value::Object(section_json(s))),
        None => Err(no_such_job(id)),
    }
}

/// `POST /cluster/jobs/realm-sync/{id}`: a new job for an existing ldap/ad realm.
pub fn create(
    state: &StateDir,
    id: &str,
    options: &[(&str, &str)],
    node: &str,
    now: i64,
) -> Result<(), JobError> {
    check_id(id)?;
    let options = check_options(options)?;
    for required in ["realm", "schedule", "scope"] {
        if !options.iter().any(|(k, _)| k == required) {
            return Err(param(
                required,
                "property is missing and it is not optional",
            ));
        }
    }
    state.locked(|state| {
        let mut jobs = load(state)?;
        if jobs.find(id).is_some() {
            return Err(JobError::Rejected(format!("Job '{id}' already exists")));
        }
        let realm = options
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let (domains, _) = state.load_domains()?;
        match domains.realm(&realm) {
            None => return Err(param("realm", format!("No such realm '{realm}'"))),
            Some(c) if !c.kind.is_directory() => {
                return Err(param("realm", "Only LDAP/AD realms can be synced."));
            }
            Some(_) => {}
        }
        jobs.sections.push(Section {
            kind: REALM_SYNC.to_owned(),
            id: id.to_owned(),
            options,
        });
        save(state, &jobs)?;
        // The first run is the first event after the job was created.
        let created = JobState {
            node: Some(node.to_owned()),
            time: Some(now),
            ..JobState::default()
        };
        save_state(state, id, Some(&created))
    })
}

/// `PUT /cluster/jobs/realm-sync/{id}` with options and `delete`; `realm` is fixed.
pub fn update(
    state: &StateDir,
    id: &str,
    options: &[(&str, &str)],
    deletes: &[&str],
) -> Result<(), JobError> {
    if options.is_empty() && deletes.is_empty() {
        return Err(JobError::Rejected("no job options specified".to_owned()));
    }
    let options = check_options(options)?;
    state.locked(|state| {
        let mut jobs = load(state)?;
        let Some(job) = jobs.find_mut(id).filter(|s| s.kind == REALM_SYNC) else {
            return Err(JobError::Rejected("no such realm-sync job".to_owned()));
        };
        for key in deletes {
            if !JOB_OPTIONS.contains(key) {
                return Err(param("delete", format!("invalid option '{key}'")));
            }
            if ["realm", "schedule", "scope"].contains(key) {
                return Err(param(
                    "delete",
                    format!("cannot delete required option '{key}'"),
                ));
            }
            if options.iter().any(|(k, _)| k == key) {
                return Err(param(
                    "delete",
                    format!("cannot set and delete property '{key}' at the same time"),
                ));
            }
            job.unset(key);
        }
        for (key, value) in &options {
            if key == "realm" && job.option("realm") != Some(value.as_str()) {
                return Err(param(
                    "realm",
                    "can't change value of fixed parameter 'realm'",
                ));
            }
            job.set(key, value);
        }
        save(state, &jobs)
    })
}

/// `DELETE /cluster/jobs/realm-sync/{id}` (and its state file).
pub fn delete(state: &StateDir, id: &str) -> Result<(), JobError> {
    state.locked(|state| {
        let mut jobs = load(state)?;
        if jobs.find(id).filter(|s| s.kind == REALM_SYNC).is_none() {
            return Err(no_such_job(id));
        }
        jobs.sections.retain(|s| s.id != id);
        save(state, &jobs)?;
        save_state(state, id, None)
    })
}

/// The enabled realm-sync jobs whose next event after their last run is at or before `now`
/// (on etcd the fleet's leader asks: `ApiServices::runs_fleet_jobs`).
pub fn due(state: &StateDir, now: i64) -> Result<Vec<Section>, JobError> {
    let jobs = load(state)?;
    let mut out = Vec::new();
    for s in jobs.sections.into_iter().filter(|s| s.kind == REALM_SYNC) {
        if s.option("enabled").and_then(|v| parse_bool(v).ok()) == Some(false) {
            continue;
        }
        let Some(event) = s
            .option("schedule")
            .and_then(|t| t.parse::<CalendarEvent>().ok())
        else {
            continue;
        };
        let Some(last) = load_state(state, &s.id)?.last_run() else {
            // Never seen: start counting now.
            continue;
        };
        if event.next_after(last).is_some_and(|next| next <= now) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Read the state of job `id` (empty if none or unreadable, as Proxmox's `get_state`).
pub fn load_state(state: &StateDir, id: &str) -> Result<JobState, JobError> {
    let text = read_optional(&state_path(state, id))?.unwrap_or_default();
    Ok(serde_json::from_str(text.trim()).unwrap_or_default())
}

/// Write (or with `None` remove) the state of job `id`.
pub fn save_state(state: &StateDir, id: &str, job: Option<&JobState>) -> Result<(), JobError> {
    let path = state_path(state, id);
    match job {
        Some(job) => {
            let text = serde_json::to_string(job).unwrap_or_default();
            let dir = state.priv_dir().join("jobs");
            crate::config::atomic::create_dir(&dir, crate::config::atomic::SECRET_DIR_MODE)
                .map_err(|source| StateError::Write {
                    path: dir.clone(),
                    source,
                })?;
            state.write_secret(&path, text.as_bytes())?;
        }
        None => state.remove(&path)?,
    }
    Ok(())
}

fn state_path(state: &StateDir, id: &str) -> std::path::PathBuf {
    state
        .priv_dir()
        .join("jobs")
        .join(format!("{REALM_SYNC}-{id}.json"))
}

fn load(state: &StateDir) -> Result<JobsConfig, JobError> {
    let path = state.root().join("jobs.cfg");
    let text = read_optional(&path)?.unwrap_or_default();
    JobsConfig::parse(&text).map_err(|e| JobError::State(StateError::Rejected(e)))
}

fn save(state: &StateDir, jobs: &JobsConfig) -> Result<(), JobError> {
    let path = state.root().join("jobs.cfg");
    state.write_plain(&path, jobs.write().as_bytes())?;
    Ok(())
}

/// A section's options as the API shows them, with `type`.
fn section_json(s: &Section) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".to_owned(), Value::from(s.kind.as_str()));
    for (k, v) in &s.options {
        let value = match k.as_str() {
            "enabled" | "enable-new" => Value::from(u8::from(parse_bool(v).unwrap_or(true))),
            _ => Value::from(v.as_str()),
        };
        out.insert(k.clone(), value);
    }
    out
}

/// Check each option's value; booleans are stored as 1/0.
fn check_options(options: &[(&str, &str)]) -> Result<Vec<(String, String)>, JobError> {
    let mut out = Vec::new();
    for &(key, value) in options {
        let value = match key {
            "enabled" | "enable-new" => {
                let b = parse_bool(value).map_err(|_| {
                    param_owned(
                        key,
                        format!("type check ('boolean') failed - got '{value}'"),
                    )
                })?;
                u8::from(b).to_string()
            }
            "schedule" => {
                CalendarEvent::from_str(value)
                    .map_err(|e| param("schedule", format!("invalid format - {e}")))?;
                value.to_owned()
            }
            "scope" => {
                Scope::from_str(value).map_err(|_| {
                    param(
                        "scope",
                        format!("value '{value}' does not have a value in the enumeration 'users, groups, both'"),
                    )
                })?;
                value.to_owned()
            }
            "remove-vanished" => {
                RemoveVanished::from_str(value)
                    .map_err(|e| param("remove-vanished", format!("invalid format - {e}")))?;
                value.to_owned()
            }
            "realm" => {
                Realm::from_str(value)
                    .map_err(|e| param("realm", format!("invalid format - {e}")))?;
                value.to_owned()
            }
            "comment" => {
                if value.contains('\n') {
                    return Err(param("comment", "value must not contain a newline"));
                }
                value.to_owned()
            }
            _ => continue,
        };
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// pve-configid: a letter, then letters, digits, `-` and `_`.
fn check_id(id: &str) -> Result<(), JobError> {
    let b = id.as_bytes();
    let ok = b.len() >= 2
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(param(
            "id",
            format!("invalid format - invalid configuration ID '{id}'"),
        ))
    }
}

fn no_such_job(id: &str) -> JobError {
    param_owned("id", format!("No such job '{id}'"))
}

fn param(param: &'static str, message: impl Into<String>) -> JobError {
    JobError::Param {
        param,
        message: message.into(),
    }
}

fn param_owned(key: &str, message: String) -> JobError {
    let name = JOB_OPTIONS
        .iter()
        .chain(["id"].iter())
        .find(|k| **k == key)
        .copied()
        .unwrap_or("id");
    param(name, message)
}
