//! The etcd state store against a real etcd (one member): `store migrate` both ways is
//! lossless, the management commands write through etcd one key per object, concurrent
//! writers lose nothing, and writes with etcd down fail clearly without writing anything.

mod etcd_support;

use std::path::Path;

use etcd_support::{Etcd, aclgate, ok, ok_files};

/// A state made by the CLI on files, touching every kind of object.
fn files_state(dir: &Path) {
    for args in [
        &[
            "user",
            "add",
            "joe@pve",
            "--comment",
            "Jöe: the admin",
            "--email",
            "joe@example.com",
        ][..],
        &["group", "add", "ops", "--comment", "Operators"],
        &["user", "modify", "joe@pve", "--groups", "ops"],
        &["role", "add", "Custom", "--privs", "VM.Audit,VM.Console"],
        &["pool", "add", "p1", "--comment", "pool one"],
        &[
            "acl",
            "modify",
            "/vms",
            "--users",
            "joe@pve",
            "--roles",
            "PVEAuditor",
        ],
        &[
            "acl",
            "modify",
            "/",
            "--groups",
            "ops",
            "--roles",
            "Custom",
            "--propagate",
            "0",
        ],
        &["user", "token", "add", "joe@pve", "ci", "--privsep", "1"],
        &[
            "acl",
            "modify",
            "/vms/100",
            "--tokens",
            "joe@pve!ci",
            "--roles",
            "Custom",
        ],
        &["user", "logout", "joe@pve"],
    ] {
        ok_files(dir, args);
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn migrate_round_trip_is_byte_identical_and_one_key_per_object() {
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let config = etcd.config(work.path(), "");
    let src = work.path().join("src");
    files_state(&src);
    let src_s = src.to_str().unwrap();
    let out = ok(
        &config,
        &[
            "store",
            "migrate",
            "--from",
            &format!("files:{src_s}"),
            "--to",
            "etcd",
        ],
    );
    assert!(out.contains("migrated"), "{out}");

    let keys = etcd.keys("/aclgate-test/v1/");
    for want in [
        "/aclgate-test/v1/user/joe@pve",
        "/aclgate-test/v1/user/root@pam",
        "/aclgate-test/v1/token/joe@pve!ci",
        "/aclgate-test/v1/group/ops",
        "/aclgate-test/v1/role/Custom",
        "/aclgate-test/v1/pool/p1",
        "/aclgate-test/v1/token-hash/joe@pve!ci",
        "/aclgate-test/v1/logout/joe@pve",
    ] {
        assert!(
            keys.iter().any(|k| k == want),
            "{want} missing from {keys:?}"
        );
    }
    let acl: Vec<_> = keys.iter().filter(|k| k.contains("/v1/acl/")).collect();
    assert_eq!(acl.len(), 3, "one key per ACL entry: {acl:?}");
    assert!(
        acl.iter().any(|k| k.ends_with("/joe@pve/PVEAuditor/vms")),
        "{acl:?}"
    );

    let back = work.path().join("back");
    let back_s = back.to_str().unwrap();
    ok(
        &config,
        &[
            "store",
            "migrate",
            "--from",
            "etcd",
            "--to",
            &format!("files:{back_s}"),
        ],
    );
    let (a, b) = (files_of(&src), files_of(&back));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs after the round trip:\n{}\n---\n{}",
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y)
        );
    }
    assert!(a.iter().any(|f| f.0 == "user.cfg"));

    // Migrating into a directory that holds files is refused.
    let out = aclgate(
        &config,
        &[
            "store",
            "migrate",
            "--from",
            "etcd",
            "--to",
            &format!("files:{src_s}"),
        ],
    );
    assert_eq!(out.status.code(), Some(255));

    let status = ok(&config, &["store", "status"]);
    assert!(
        status.contains("backend: etcd") && status.contains("members: 1"),
        "{status}"
    );
    assert!(status.contains("leader"), "{status}");
}

#[test]
fn management_commands_write_through_etcd_and_concurrent_writers_lose_nothing() {
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let config = etcd.config(work.path(), "");
    ok(&config, &["user", "add", "alice@pve"]);
    assert!(
        etcd.keys("/aclgate-test/v1/user/")
            .contains(&"/aclgate-test/v1/user/alice@pve".to_owned())
    );
    // Nothing was written into a local state directory.
    assert!(!work.path().join("state/user.cfg").exists());

    // Invalid changes are refused by the same validators as on files.
    let out = aclgate(
        &config,
        &[
            "acl",
            "modify",
            "/vms",
            "--users",
            "alice@pve",
            "--roles",
            "NoSuchRole",
        ],
    );
    assert_eq!(out.status.code(), Some(255), "{out:?}");

    // 24 writers at once, each adding its own ACL entry: all of them land.
    let n = 24;
    std::thread::scope(|s| {
        for i in 0..n {
            let config = &config;
            s.spawn(move || {
                let path = format!("/vms/{}", 100 + i);
                ok(
                    config,
                    &[
                        "acl",
                        "modify",
                        &path,
                        "--users",
                        "alice@pve",
                        "--roles",
                        "PVEAuditor",
                    ],
                );
            });
        }
    });
    let acl = etcd.keys("/aclgate-test/v1/acl/");
    assert_eq!(acl.len(), n, "{acl:?}");
    let listed = ok(&config, &["acl", "list", "--output-format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), n, "{listed}");
}

#[test]
fn writes_fail_clearly_while_etcd_is_down() {
    let mut etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let config = etcd.config(work.path(), "timeout_ms = 500\n");
    ok(&config, &["user", "add", "alice@pve"]);
    etcd.kill(0);
    let out = aclgate(&config, &["user", "add", "bob@pve"]);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unreachable") && err.contains("nothing was written"),
        "{err}"
    );
    etcd.restart(0);
    etcd.wait_healthy();
    let users = ok(&config, &["user", "list", "--output-format", "json"]);
    assert!(
        users.contains("alice@pve") && !users.contains("bob@pve"),
        "{users}"
    );
}

#[test]
fn every_state_dir_writer_of_an_etcd_mirror_goes_to_etcd() {
    use std::sync::Arc;

    use aclgate::config::StateDir;
    use aclgate::config::store::EtcdSettings;
    use aclgate::store::etcd::EtcdStore;
    use aclgate::store::gateway_writer::Writer;
    use aclgate::store::health::Health;

    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let settings = EtcdSettings {
        endpoints: etcd.endpoints(),
        prefix: "/aclgate-test".to_owned(),
        ..EtcdSettings::default()
    };
    let store = Arc::new(EtcdStore::new(&settings).unwrap());
    let metrics = Arc::new(aclgate::observe::Metrics::new());
    let health = Arc::new(Health::new(metrics, &settings, 1));
    let mirror = work.path().join("mirror");
    // Any StateDir::modify on the mirror held by a gateway on etcd (realm sync, password
    // changes, OpenID users, ...) commits to etcd instead of writing the mirror's files.
    let mirrored = StateDir::new(&mirror).with_redirect(Writer::start(store, health));
    mirrored
        .modify(|cfg, _| {
            cfg.users
                .insert("zed@pve".parse().unwrap(), Default::default());
            Ok(())
        })
        .unwrap();
    assert!(
        etcd.keys("/aclgate-test/v1/user/")
            .contains(&"/aclgate-test/v1/user/zed@pve".to_owned())
    );
    assert!(!mirror.join("user.cfg").exists());
    // A refused change is refused as on files, and nothing is written.
    let err = mirrored
        .modify(|_, _| -> Result<(), _> {
            Err(aclgate::config::StateError::Rejected("no".to_owned()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("no"), "{err}");
}

/// A command that makes a secret prints it only once its change is committed. The same etcd
/// restarted with `--max-txn-ops=1` takes the writers' lock (one operation per branch) but
/// refuses the commit: `user token add` then prints nothing, fails with 255 and no token
/// exists. Restarted with its defaults, it prints the secret, of the token now stored.
#[test]
fn a_secret_is_printed_only_after_its_commit() {
    let mut etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let cli = etcd.config(work.path(), "");
    ok(&cli, &["user", "add", "joe@pve"]);
    let add = [
        "user",
        "token",
        "add",
        "joe@pve",
        "t1",
        "--output-format",
        "json",
    ];

    etcd.kill(0);
    etcd.restart_with(0, &["--max-txn-ops=1"]);
    etcd.wait_healthy();
    let out = aclgate(&cli, &add);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "printed for a change not made: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("too many operations") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(etcd.keys("/aclgate-test/v1/token").is_empty());

    etcd.kill(0);
    etcd.restart_with(0, &[]);
    etcd.wait_healthy();
    let out: serde_json::Value = serde_json::from_str(&ok(&cli, &add)).unwrap();
    assert_eq!(out["full-tokenid"], "joe@pve!t1");
    assert!(out["value"].as_str().is_some_and(|v| !v.is_empty()));
    let keys = etcd.keys("/aclgate-test/v1/token");
    assert!(
        keys.contains(&"/aclgate-test/v1/token/joe@pve!t1".to_owned())
            && keys.contains(&"/aclgate-test/v1/token-hash/joe@pve!t1".to_owned()),
        "{keys:?}"
    );
}

/// Against an etcd that requires TLS client certificates and user + password (role `gate`:
/// read-write on `/sec/` only): with the CA, the client certificate and the password the
/// commands work (writes, reads, `store status`); without the certificate, with a wrong
/// password, or outside the role's keys they fail with exit 255 and write nothing.
#[test]
fn a_secured_etcd_needs_the_certificate_and_the_password() {
    use etcd_support::{GATE_PASSWORD, SecuredEtcd};
    let etcd = SecuredEtcd::start();
    let work = tempfile::tempdir().unwrap();
    let good = etcd.credentials(true, GATE_PASSWORD);
    let cli = etcd.config(work.path(), "/sec", &good);
    ok(&cli, &["user", "add", "joe@pve"]);
    let out = ok(
        &cli,
        &[
            "user",
            "token",
            "add",
            "joe@pve",
            "t1",
            "--output-format",
            "json",
        ],
    );
    assert!(out.contains("joe@pve!t1"), "{out}");
    let users = ok(&cli, &["user", "list", "--output-format", "json"]);
    assert!(users.contains("joe@pve"), "{users}");
    let status = ok(&cli, &["store", "status"]);
    assert!(
        status.contains("backend: etcd") && status.contains("revision: "),
        "{status}"
    );

    let refused = |name: &str, prefix: &str, settings: &str, why: &str| {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = etcd.config(&dir, prefix, settings);
        let out = aclgate(&config, &["user", "add", &format!("{name}@pve")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{name}: {stderr}");
        assert!(stderr.contains(why), "{name}: {stderr}");
    };
    refused(
        "nocert",
        "/sec",
        &etcd.credentials(false, GATE_PASSWORD),
        "unreachable",
    );
    refused(
        "badpw",
        "/sec",
        &etcd.credentials(true, "not-the-password"),
        "authentication failed",
    );
    refused("elsewhere", "/other", &good, "permission denied");
    // Nothing of the refused writers landed; the good one's user is there.
    let users = ok(&cli, &["user", "list", "--output-format", "json"]);
    assert!(
        !users.contains("nocert@pve") && !users.contains("badpw@pve"),
        "{users}"
    );
}
