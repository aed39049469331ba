//! `serve` settings resolution and certificate generation, `explain`, `check-config`.

mod gateway_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aclgate::cli::check_config::{CheckConfigArgs, check};
use aclgate::cli::explain::{self, ExplainArgs};
use aclgate::cli::serve::{ConfigArgs, ServeArgs, prepare};

use gateway_support::{POLICY, USER_CFG, shadow_text, write_atomic};

/// A config dir with state, policy and `aclgate.toml` using relative paths.
fn setup(extra_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_atomic(&root.join("state/user.cfg"), USER_CFG);
    write_atomic(
        &root.join("state/priv/token.shadow"),
        &shadow_text(&["joe@pve!monitoring"]),
    );
    write_atomic(&root.join("policies/test.toml"), POLICY);
    let toml = format!("policies = [\"policies/test.toml\"]\n{extra_toml}");
    write_atomic(&root.join("aclgate.toml"), &toml);
    dir
}

fn config_args(root: &Path) -> ConfigArgs {
    ConfigArgs {
        config: Some(root.join("aclgate.toml")),
        policies: Vec::new(),
    }
}

#[test]
fn prepare_generates_a_self_signed_certificate_once() {
    let dir = setup("");
    let args = ServeArgs {
        config: config_args(dir.path()),
        upstream: Some("http://127.0.0.1:9".into()),
        ..ServeArgs::default()
    };
    let cfg = prepare(&args, None).unwrap();
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:8006");
    assert_eq!(
        cfg.upstream.url, "http://127.0.0.1:9",
        "flag overrides the file"
    );
    assert_eq!(
        cfg.state.dir,
        dir.path().join("state"),
        "relative to the config file"
    );
    let key = dir.path().join("certs/aclgate.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = std::fs::read(&key).unwrap();
    prepare(&args, None).unwrap();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        first,
        "an existing key is kept"
    );
    aclgate::server::tls::load_certified_key(&cfg.tls.cert, &cfg.tls.key).unwrap();
}

#[test]
fn unknown_config_keys_are_errors() {
    let dir = setup("[auth]\nfailure_delay = 0\n");
    let args = ServeArgs {
        config: config_args(dir.path()),
        ..ServeArgs::default()
    };
    let err = prepare(&args, None).unwrap_err();
    assert!(
        err.contains("aclgate.toml") && err.contains("failure_delay"),
        "{err}"
    );
}

fn run_check(root: &Path) -> (bool, String, String) {
    aclgate::server::tls::ensure_self_signed(
        &root.join("certs/aclgate.crt"),
        &root.join("certs/aclgate.key"),
    )
    .unwrap();
    let args = CheckConfigArgs {
        config: config_args(root),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ok = check(&args, None, &mut out, &mut err);
    (
        ok,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn check_config_table() {
    // (name, change to make, expect ok, text expected in stdout or stderr)
    type Change = fn(&Path);
    let cases: [(&str, Change, bool, &str); 5] = [
        ("clean", |_| {}, true, "ok: 4 users, 15 routes, 0 warnings"),
        (
            "skipped user.cfg line",
            |r| {
                write_atomic(
                    &r.join("state/user.cfg"),
                    &format!("{USER_CFG}bogus:line\n"),
                )
            },
            true,
            "user.cfg:12: ",
        ),
        (
            "broken policy",
            |r| write_atomic(&r.join("policies/test.toml"), "[[route]]\nmethod = 1\n"),
            false,
            "test.toml",
        ),
        (
            "missing certificate",
            |r| std::fs::write(r.join("certs/aclgate.crt"), "not pem").unwrap(),
            false,
            "aclgate.crt",
        ),
        (
            "https upstream without trust",
            |r| {
                let toml = "policies = [\"policies/test.toml\"]\n[upstream]\nurl = \"https://10.0.0.1:8006\"\n";
                write_atomic(&r.join("aclgate.toml"), toml);
            },
            false,
            "upstream",
        ),
    ];
    for (name, change, want_ok, want_text) in cases {
        let dir = setup("");
        aclgate::server::tls::ensure_self_signed(
            &dir.path().join("certs/aclgate.crt"),
            &dir.path().join("certs/aclgate.key"),
        )
        .unwrap();
        change(dir.path());
        let (ok, out, err) = run_check(dir.path());
        assert_eq!(ok, want_ok, "case `{name}`: out {out} err {err}");
        assert!(
            out.contains(want_text) || err.contains(want_text),
            "case `{name}`: `{want_text}` not in out {out} / err {err}"
        );
    }
}

fn explain(root: &Path, authid: &str, method: &str, path: &str, params: &[&str]) -> (bool, String) {
    let args = ExplainArgs {
        config: config_args(root),
        authid: authid.into(),
        method: method.into(),
        path: path.into(),
        params: params.iter().map(|p| p.to_string()).collect(),
    };
    let mut out = String::new();
    let allowed = explain::run(&args, None, &mut out).unwrap();
    (allowed, out)
}

#[test]
fn explain_monitoring_example() {
    let dir = setup("");
    let token = "joe@pve!monitoring";
    let (allowed, out) = explain(
        dir.path(),
        token,
        "GET",
        "/api2/json/nodes/n1/qemu/100/status/current",
        &[],
    );
    assert!(allowed, "{out}");
    assert!(out.contains("test.toml"), "route source: {out}");
    assert!(
        out.contains(r#"["perm", "/vms/{vmid}", ["VM.Audit"]]"#),
        "{out}"
    );
    assert!(
        out.contains("decided at /vms by Token entry (inherited)"),
        "{out}"
    );
    assert!(out.contains("roles [PVEAuditor (propagate)]"), "{out}");

    let (allowed, out) = explain(
        dir.path(),
        token,
        "POST",
        "/api2/json/nodes/n1/qemu/100/status/start",
        &[],
    );
    assert!(!allowed, "{out}");
    assert!(
        out.contains("Permission check failed (/vms/100, VM.PowerMgmt)"),
        "{out}"
    );

    let (allowed, out) = explain(
        dir.path(),
        "joe@pve",
        "POST",
        "/api2/json/nodes/n1/qemu",
        &["vmid=100"],
    );
    assert!(allowed, "{out}");
    assert!(out.contains("decided at /vms by User entry"), "{out}");

    let (allowed, out) = explain(
        dir.path(),
        "joe@pve!full",
        "GET",
        "/api2/json/nodes/n1/qemu/100/status/current",
        &[],
    );
    assert!(!allowed, "{out}");
    assert!(out.contains("token has no secret (401)"), "{out}");
}
