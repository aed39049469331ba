//! On etcd a realm-sync job runs once per fleet: of two gateways on one prefix (each with its
//! own mirror, reload door and campaign, as `aclgate serve` wires them), only the leader's
//! scheduler starts a due job; the other skips it, though it sees the same job.

mod etcd_support;

use std::sync::Arc;
use std::time::Duration;

use aclgate::access_api::ApiServices;
use aclgate::access_api::admin::sync_task::run_due;
use aclgate::auth::ticket::epoch_now;
use aclgate::cli::TicketKeys;
use aclgate::cli::serve::{ConfigArgs, ServeArgs, prepare};
use aclgate::manage::jobs;
use aclgate::observe::Metrics;
use aclgate::runtime::Runtime;
use aclgate::store::follow::Mirror;
use etcd_support::{Etcd, ok, until};

/// One gateway's access services on the fleet whose settings are in `config`.
fn gateway(config: &std::path::Path) -> Arc<ApiServices> {
    let args = ServeArgs {
        config: ConfigArgs {
            config: Some(config.to_owned()),
            policies: Vec::new(),
        },
        upstream: Some("http://127.0.0.1:9".into()),
        ..ServeArgs::default()
    };
    let cfg = Arc::new(prepare(&args, None).unwrap());
    let metrics = Arc::new(Metrics::new());
    let mirror = Mirror::prepare(&cfg, Arc::new(TicketKeys(cfg.tickets.algorithm))).unwrap();
    let (_reader, door) =
        aclgate::reload::start(cfg.clone(), Runtime::new(metrics.clone())).unwrap();
    let fleet = mirror
        .follow(door.clone(), tokio::runtime::Handle::current(), metrics)
        .unwrap();
    Arc::new(ApiServices::open(&cfg, door, Some(fleet)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_fleet_leader_starts_a_due_realm_sync_job() {
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (work.path().join("a"), work.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (config_a, config_b) = (etcd.config(&dir_a, ""), etcd.config(&dir_b, ""));
    // A directory realm nobody answers for: the job's task starts, then fails on its own.
    ok(
        &config_a,
        &[
            "realm",
            "add",
            "dir",
            "--type",
            "ldap",
            "--server1",
            "127.0.0.1",
            "--port",
            "9",
            "--base_dn",
            "dc=example,dc=org",
            "--user_attr",
            "uid",
        ],
    );

    let gateways = [gateway(&config_a), gateway(&config_b)];
    let mut leader = None;
    let step = Duration::from_millis(20);
    until(Duration::from_secs(15), step, "one leader", || {
        let leading: Vec<usize> = (0..2).filter(|&i| gateways[i].runs_fleet_jobs()).collect();
        assert!(leading.len() <= 1, "two leaders at once");
        leader = leading.first().copied();
        leader.is_some()
    });
    let leader = leader.unwrap();
    let (leads, follows) = (&gateways[leader], &gateways[1 - leader]);

    // The job, created through the follower (its write goes to etcd, then to both mirrors).
    let now = epoch_now();
    jobs::create(
        &follows.state,
        "nightly",
        &[("realm", "dir"), ("schedule", "daily"), ("scope", "users")],
        "node1",
        now,
    )
    .unwrap();
    // (The access API answers once its own gateway serves the write; here both are awaited.)
    until(
        Duration::from_secs(15),
        step,
        "the job in both mirrors",
        || {
            gateways
                .iter()
                .all(|g| jobs::get(&g.state, "nightly").is_ok())
        },
    );

    // Two days on, the job is due on both; only the leader starts it.
    let later = now + 2 * 86_400;
    assert_eq!(
        jobs::due(&follows.state, later).unwrap().len(),
        1,
        "the follower sees the due job"
    );
    assert!(
        run_due(follows, later).is_empty(),
        "a gateway that does not lead started a fleet job"
    );
    let started = run_due(leads, later);
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].1.is_ok(), "{started:?}");
    assert!(leads.runs_fleet_jobs() && !follows.runs_fleet_jobs());
}
