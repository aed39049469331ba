//! A gateway on a real etcd applies what a watch response says as `Change`s (src/store/edit.rs)
//! instead of rebuilding its snapshot: a token revoked, a user disabled, a group membership
//! removed and an ACL entry deleted are each refused through the gateway and counted in
//! `aclgate_store_changes_applied_total{how="incremental"}`; a change the changes cannot say
//! (a role removed) still takes effect, by a full load; SIGHUP right after an incremental change
//! loads a mirror that holds it; and a fresh gateway started afterwards decides every request,
//! and lists the ACL and the users, exactly as the one that applied the changes.

mod etcd_support;

use std::path::Path;
use std::time::{Duration, Instant};

use etcd_support::{Etcd, GatewayProc, ok, token, until, upstream};

/// `GET /api2/json{path}` with an API token: status and body.
fn get(gw: &GatewayProc, token: &str, path: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    match agent
        .get(&format!("http://127.0.0.1:{}/api2/json{path}", gw.http))
        .set("Authorization", &format!("PVEAPIToken={token}"))
        .call()
    {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// `aclgate_store_changes_applied_total{how}` of `gw`: (incremental, full).
fn applied(gw: &GatewayProc) -> (u64, u64) {
    let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", gw.admin))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let count = |how: &str| {
        let prefix = format!("aclgate_store_changes_applied_total{{how=\"{how}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics")) as u64
    };
    (count("incremental"), count("full"))
}

/// The generation of `gw`'s snapshot.
fn generation(gw: &GatewayProc) -> u64 {
    let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", gw.admin))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("aclgate_snapshot_generation "))
        .and_then(|v| v.trim().parse().ok())
        .expect("aclgate_snapshot_generation")
}

fn setup(cli: &Path) -> Vec<(&'static str, String)> {
    for user in ["joe@pve", "ann@pve", "gm@pve", "del@pve", "rl@pve"] {
        ok(cli, &["user", "add", user]);
    }
    ok(cli, &["group", "add", "ops"]);
    ok(cli, &["group", "add", "other"]);
    ok(cli, &["user", "modify", "gm@pve", "--groups", "ops"]);
    ok(cli, &["role", "add", "Aud", "--privs", "VM.Audit"]);
    let acl = |args: &[&str]| {
        let mut all = vec!["acl", "modify", "/vms"];
        all.extend_from_slice(args);
        ok(cli, &all);
    };
    acl(&["--groups", "ops", "--roles", "PVEAuditor"]);
    acl(&[
        "--users",
        "joe@pve,ann@pve,del@pve",
        "--roles",
        "PVEAuditor",
    ]);
    acl(&["--users", "rl@pve", "--roles", "Aud"]);
    vec![
        ("revoked", token(cli, "joe@pve", "t1")),
        ("kept", token(cli, "joe@pve", "t2")),
        ("sighup", token(cli, "joe@pve", "t3")),
        ("disabled", token(cli, "ann@pve", "tk")),
        ("member", token(cli, "gm@pve", "tk")),
        ("entry", token(cli, "del@pve", "tk")),
        ("role", token(cli, "rl@pve", "tk")),
        ("root", token(cli, "root@pam", "adm")),
    ]
}

#[test]
fn changes_from_etcd_are_applied_and_decide_as_a_fresh_load() {
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let cli = etcd.config(work.path(), "");
    let tokens = setup(&cli);
    let tok = |name: &str| tokens.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let a = GatewayProc::start(&etcd, &work.path().join("a"), upstream(), "");
    for (name, t) in &tokens {
        assert_eq!(a.get(t), 200, "{name} before");
    }

    // (command, token, status once applied, applied incrementally)
    let steps: &[(&[&str], &str, u16, bool)] = &[
        (
            &["user", "token", "remove", "joe@pve", "t1"],
            "revoked",
            401,
            true,
        ),
        (
            &["user", "modify", "ann@pve", "--enable", "0"],
            "disabled",
            401,
            true,
        ),
        (
            &["user", "modify", "gm@pve", "--groups", "other"],
            "member",
            403,
            true,
        ),
        (
            &[
                "acl",
                "delete",
                "/vms",
                "--users",
                "del@pve",
                "--roles",
                "PVEAuditor",
            ],
            "entry",
            403,
            true,
        ),
        // A role removed is more than a change says: a full load.
        (&["role", "delete", "Aud"], "role", 403, false),
    ];
    for (args, name, want, incremental) in steps {
        let before = applied(&a);
        ok(&cli, args);
        let returned = Instant::now();
        until(
            Duration::from_secs(20),
            Duration::from_millis(1),
            &format!("{args:?} refused"),
            || a.get(&tok(name)) == *want,
        );
        println!(
            "{args:?}: refused {:?} after the command returned",
            returned.elapsed()
        );
        // The counters move just after the swap.
        let moved = |after: (u64, u64)| match incremental {
            true => after.0 > before.0,
            false => after.1 > before.1,
        };
        until(
            Duration::from_secs(10),
            Duration::from_millis(1),
            &format!("{args:?} counted"),
            || moved(applied(&a)),
        );
        if *incremental {
            assert_eq!(applied(&a).1, before.1, "{args:?}: no full load");
        }
        assert_eq!(a.get(&tok("kept")), 200, "{args:?}: the others still work");
    }

    // SIGHUP right after an incremental change: the full load reads a mirror that holds it
    // (written before any full load, not only when the watch is quiet).
    let generation_before = generation(&a);
    let (incremental_before, _) = applied(&a);
    ok(&cli, &["user", "token", "remove", "joe@pve", "t3"]);
    until(
        Duration::from_secs(20),
        Duration::from_millis(1),
        "t3 refused",
        || a.get(&tok("sighup")) == 401,
    );
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until(
        Duration::from_secs(20),
        Duration::from_millis(5),
        "the SIGHUP load",
        || generation(&a) >= generation_before + 2,
    );
    assert!(applied(&a).0 > incremental_before);
    assert_eq!(
        a.get(&tok("sighup")),
        401,
        "still refused after a full load"
    );

    // A fresh gateway decides alike, and lists the same ACL and users.
    let b = GatewayProc::start(&etcd, &work.path().join("b"), upstream(), "");
    for (name, t) in &tokens {
        assert_eq!(a.get(t), b.get(t), "{name}: incremental and fresh agree");
    }
    let root = tok("root");
    for path in [
        "/access/acl",
        "/access/users?full=1",
        "/access/groups",
        "/access/roles",
    ] {
        let (sa, body_a) = get(&a, &root, path);
        let (sb, body_b) = get(&b, &root, path);
        assert_eq!((sa, &body_a), (sb, &body_b), "GET {path}");
        assert_eq!(sa, 200, "GET {path}: {body_a}");
    }
    // And A's mirror (written in the background once the watch was quiet, or before this
    // load) holds the same state: a full load of it lists the same.
    let generation_before = generation(&a);
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until(
        Duration::from_secs(20),
        Duration::from_millis(5),
        "the second SIGHUP load",
        || generation(&a) > generation_before,
    );
    for path in ["/access/acl", "/access/users?full=1", "/access/groups"] {
        assert_eq!(
            get(&a, &root, path),
            get(&b, &root, path),
            "GET {path} after SIGHUP"
        );
    }
}

/// `aclgate_store_leader` of `gw` (`None`: not answering).
fn leads(gw: &GatewayProc) -> Option<bool> {
    let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", gw.admin))
        .timeout(Duration::from_secs(2))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("aclgate_store_leader "))
        .map(|v| v.trim() == "1")
}

/// The index of the one leader among `fleet`, once there is exactly one (never two at once).
fn leader_of(fleet: &[&GatewayProc], limit: Duration) -> usize {
    let start = Instant::now();
    loop {
        let leading: Vec<usize> = (0..fleet.len())
            .filter(|&i| leads(fleet[i]) == Some(true))
            .collect();
        assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
        if let [one] = leading[..] {
            return one;
        }
        assert!(start.elapsed() < limit, "no leader after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_gateway_of_the_fleet_leads_and_a_killed_leader_is_replaced() {
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let up = upstream();
    let mut fleet: Vec<Option<GatewayProc>> = ["a", "b", "c"]
        .iter()
        .map(|n| Some(GatewayProc::start(&etcd, &work.path().join(n), up, "")))
        .collect();
    for round in 0..2 {
        let gateways: Vec<(usize, &GatewayProc)> = fleet
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
            .collect();
        let refs: Vec<&GatewayProc> = gateways.iter().map(|(_, g)| *g).collect();
        let first = gateways[leader_of(&refs, Duration::from_secs(15))].0;
        // The leader stays the leader while it lives.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(gateways[leader_of(&refs, Duration::from_secs(1))].0, first);
        drop(refs);
        drop(gateways);
        // SIGKILL: no resignation; the lease runs out.
        let killed = Instant::now();
        fleet[first] = None;
        let gateways: Vec<(usize, &GatewayProc)> = fleet
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
            .collect();
        let refs: Vec<&GatewayProc> = gateways.iter().map(|(_, g)| *g).collect();
        let next = gateways[leader_of(&refs, Duration::from_secs(15))].0;
        let took = killed.elapsed();
        println!("round {round}: leader {first} killed, {next} leads after {took:?}");
        assert_ne!(next, first);
        assert!(took < Duration::from_secs(8), "handover took {took:?}");
    }
}
