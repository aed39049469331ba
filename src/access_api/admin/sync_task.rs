//! Realm syncs as worker tasks: [`SyncRunner::start`] makes Proxmox's checks, takes the
//! realm's sync lock, starts a task (`auth-realm-sync`, `auth-realm-sync-test` for a dry run)
//! and answers its UPID at once; the sync runs in the background, bounded by the deadline,
//! writes its log to the task and reloads the gateway when user.cfg changed.
//!
//! [`run_due`] is one tick of the job scheduler (`pvescheduler`): it starts every realm-sync
//! job of `jobs.cfg` whose time has come; [`spawn_scheduler`] ticks at every full minute
//! while `serve` runs.

use std::sync::Arc;
use std::time::Duration;

use crate::access_api::ApiServices;
use crate::auth::ticket::epoch_now;
use crate::config::{StateDir, StateError};
use crate::identity::Realm;
use crate::manage::jobs::{self, JobState, Section};
use crate::manage::realm_sync::{SyncError, SyncParams, check, lock_realm, sync_realm};
use crate::reload::ReloadHandle;
use crate::tasks::{Exit, Tasks, Upid};

/// Everything a background sync needs (cheap clones of the services' parts).
#[derive(Clone)]
pub struct SyncRunner {
    state: StateDir,
    tasks: Tasks,
    reload: ReloadHandle,
    ldap_timeout: Duration,
    deadline: Duration,
}

// === impl SyncRunner ===

impl SyncRunner {
    /// The runner of the gateway's services.
    pub fn new(services: &ApiServices) -> SyncRunner {
        SyncRunner {
            state: services.state.clone(),
            tasks: services.tasks.clone(),
            reload: services.reload.clone(),
            ldap_timeout: services.login.ldap_timeout,
            deadline: services.sync_deadline,
        }
    }

    /// Check, lock and start a sync of `realm` for `user`; its UPID.
    pub fn start(&self, realm: Realm, params: SyncParams, user: &str) -> Result<Upid, SyncError> {
        check(&self.state, &realm, &params)?;
        // A dry run writes nothing: it needs no lock and may run beside a sync.
        let lock = if params.dry_run {
            None
        } else {
            Some(lock_realm(&self.state, &realm)?)
        };
        let kind = if params.dry_run {
            "auth-realm-sync-test"
        } else {
            "auth-realm-sync"
        };
        let now = epoch_now();
        let mut log = self
            .tasks
            .start(kind, realm.as_str(), user, now)
            .map_err(|source| {
                SyncError::State(StateError::Write {
                    path: self.state.root().join("tasks"),
                    source,
                })
            })?;
        let upid = log.upid.clone();
        let this = self.clone();
        tokio::spawn(async move {
            let _lock = lock;
            let run = sync_realm(&this.state, &realm, &params, this.ldap_timeout);
            let exit = match tokio::time::timeout(this.deadline, run).await {
                Ok(Ok(report)) => {
                    for warning in &report.warnings {
                        log.line(&format!("WARN: {warning}"));
                    }
                    for line in report.log() {
                        log.line(&line);
                    }
                    if report.changed
                        && !report.options.dry_run
                        && let Err(e) = this.reload.reload().await
                    {
                        log.line(&format!("WARN: written, but the reload failed: {e}"));
                    }
                    match report.warnings.len() {
                        0 => Exit::Ok,
                        n => Exit::Warnings(n),
                    }
                }
                Ok(Err(e)) => {
                    log.line(&format!("starting sync for realm {realm}"));
                    Exit::Error(e.to_string())
                }
                Err(_) => {
                    log.line(&format!("starting sync for realm {realm}"));
                    // The sync writes only after its last await, so a cancelled one wrote
                    // nothing.
                    Exit::Error(format!(
                        "sync of realm '{realm}' did not finish within {} s, nothing was changed",
                        this.deadline.as_secs_f64()
                    ))
                }
            };
            log.finish(&exit);
        });
        Ok(upid)
    }
}

/// One scheduler tick at `now`: start each due realm-sync job as root@pam and record its
/// run (Proxmox's `PVE::Jobs::RealmSync::run`). Returns what was started, by job id.
pub fn run_due(services: &ApiServices, now: i64) -> Vec<(String, Result<Upid, String>)> {
    // On etcd a job runs once per fleet: on its leader.
    if !services.runs_fleet_jobs() {
        return Vec::new();
    }
    let due = match jobs::due(&services.state, now) {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read jobs.cfg");
            return Vec::new();
        }
    };
    let runner = SyncRunner::new(services);
    let node = services.tasks.node().to_owned();
    due.into_iter()
        .map(|job| {
            let started = start_job(&runner, &job);
            let state = match &started {
                Ok(upid) => JobState {
                    node: Some(node.clone()),
                    upid: Some(upid.to_string()),
                    ..JobState::default()
                },
                Err(e) => JobState {
                    node: Some(node.clone()),
                    time: Some(now),
                    error: Some(e.clone()),
                    ..JobState::default()
                },
            };
            if let Err(e) = jobs::save_state(&services.state, &job.id, Some(&state)) {
                tracing::warn!(job = %job.id, error = %e, "cannot save the job state");
            }
            (job.id, started)
        })
        .collect()
}

/// Tick [`run_due`] at every full minute until the gateway stops.
pub fn spawn_scheduler(services: Arc<ApiServices>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = epoch_now();
            let wait = u64::try_from(60 - now.rem_euclid(60)).unwrap_or(60);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let now = epoch_now();
            for (id, started) in run_due(&services, now) {
                match started {
                    Ok(upid) => tracing::info!(job = %id, %upid, "realm-sync job started"),
                    Err(e) => tracing::warn!(job = %id, error = %e, "realm-sync job not started"),
                }
            }
        }
    })
}

fn start_job(runner: &SyncRunner, job: &Section) -> Result<Upid, String> {
    let realm: Realm = job
        .option("realm")
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("{e}"))?;
    let params = SyncParams {
        scope: job.option("scope").map(str::to_owned),
        remove_vanished: job.option("remove-vanished").map(str::to_owned),
        enable_new: job
            .option("enable-new")
            .map(|v| crate::manage::value::parse_bool(v).unwrap_or(true)),
        ..SyncParams::default()
    };
    runner
        .start(realm, params, "root@pam")
        .map_err(|e| e.to_string())
}
