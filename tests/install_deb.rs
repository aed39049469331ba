//! The Debian package (issue 10): built with cargo-deb from the binary this test build made,
//! installed with `dpkg -i`, its unit file checked with `systemd-analyze verify`, the installed
//! binary run as the `aclgate` system user with the installed configuration (found at
//! `/etc/aclgate/aclgate.toml`), a request forwarded through it; then `dpkg --purge`.
//!
//! Installing packages needs root: as any other user the test prints why and passes. Its own
//! test binary, so that no other test sees `/etc/aclgate/aclgate.toml` while it is installed.

mod install_support;
mod notify_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use install_support::{Served, client, command, is_root, source_root, start_upstream};

const PACKAGE: &str = "aclgate";

/// The package's files that must be installed.
const FILES: &[&str] = &[
    "/usr/bin/aclgate",
    "/etc/aclgate/aclgate.toml",
    "/usr/lib/systemd/system/aclgate.service",
    "/usr/share/man/man1/aclgate.1.gz",
    "/usr/share/man/man1/aclgate-serve.1.gz",
    "/usr/share/bash-completion/completions/aclgate",
    "/usr/share/zsh/vendor-completions/_aclgate",
    "/usr/share/fish/vendor_completions.d/aclgate.fish",
];

/// Run a command to completion; panic with its output unless it succeeds.
fn run(program: &str, args: &[&str]) -> Output {
    let out = command(
        program,
        Path::new("/"),
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .args(args)
    .output()
    .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        install_support::text(&out)
    );
    out
}

/// As the `aclgate` user, without new privileges and with only CAP_NET_BIND_SERVICE in the
/// bounding set: what the systemd unit grants.
const AS_SERVICE_USER: &[&str] = &[
    "--reuid=aclgate",
    "--regid=aclgate",
    "--init-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--bounding-set=-all,+net_bind_service",
    "--",
];

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Purges the package when the test ends, passed or failed.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).status();
    }
}

#[tokio::test]
async fn the_debian_package_installs_runs_as_its_user_and_purges() {
    if !is_root() {
        eprintln!("skipped: installing a Debian package needs root");
        return;
    }
    if installed() {
        eprintln!("note: purging an `{PACKAGE}` package left installed before this test");
        run("dpkg", &["--purge", PACKAGE]);
    }

    // Package the binary of this test build: no second build.
    let bin = Path::new(install_support::BIN);
    let profile_dir = bin.parent().expect("profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected binary path {}", bin.display()),
    };
    let out_dir = tempfile::tempdir().expect("tempdir");
    let script = source_root().join("packaging/build-deb.sh");
    let out = command("bash", &source_root(), &[])
        .env("CARGO_TARGET_DIR", target_dir)
        .arg(&script)
        .args([
            "--no-build",
            "--profile",
            profile,
            "--fast",
            "--strip",
            "--quiet",
            "-o",
        ])
        .arg(out_dir.path())
        .output()
        .expect("build-deb.sh");
    assert!(
        out.status.success(),
        "build-deb.sh: {}",
        install_support::text(&out)
    );
    let deb = std::fs::read_dir(out_dir.path())
        .expect("read out dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");

    let _purge = Purge;
    run("dpkg", &["-i", deb.to_str().expect("utf-8 path")]);
    for f in FILES {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(String::from_utf8_lossy(&conffiles.stdout).contains("/etc/aclgate/aclgate.toml"));
    // The maintainer scripts: the system user, its 0700 state directory, the certificate.
    run("getent", &["passwd", "aclgate"]);
    let uid = String::from_utf8_lossy(&run("id", &["-u", "aclgate"]).stdout)
        .trim()
        .parse::<u32>()
        .expect("uid");
    let state = std::fs::metadata("/var/lib/aclgate").expect("state dir");
    assert_eq!((state.uid(), state.mode() & 0o7777), (uid, 0o700));
    let key = std::fs::metadata("/etc/aclgate/certs/aclgate.key").expect("key");
    assert_eq!(
        key.mode() & 0o7777,
        0o640,
        "key readable by group aclgate only"
    );
    // The unit file, as systemd reads it (this machine runs no systemd; the check is offline).
    if Path::new("/usr/bin/systemd-analyze").exists() {
        run(
            "systemd-analyze",
            &["verify", "/usr/lib/systemd/system/aclgate.service"],
        );
    } else {
        eprintln!("not verified: systemd-analyze is not installed");
    }
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/aclgate.service").expect("unit");
    for line in [
        "Type=notify",
        "ExecStartPre=/usr/bin/aclgate check-config",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/aclgate",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    ] {
        assert!(unit.contains(line), "unit lacks {line}");
    }

    // As the service user from `/`: the installed config is found, the state is /var/lib/aclgate.
    let as_user = |args: &[&str]| {
        let mut all = AS_SERVICE_USER.to_vec();
        all.push("/usr/bin/aclgate");
        all.extend_from_slice(args);
        run("setpriv", &all)
    };
    let check = as_user(&["check-config"]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.starts_with("config: /etc/aclgate/aclgate.toml"),
        "{report}"
    );
    as_user(&["useradd", "joe@pve"]);
    as_user(&["aclmod", "/vms", "-user", "joe@pve", "-role", "PVEAuditor"]);
    let out = as_user(&[
        "user",
        "token",
        "add",
        "joe@pve",
        "ci",
        "-privsep",
        "0",
        "--output-format",
        "json",
    ]);
    let secret = install_support::token_secret(&out);
    assert!(Path::new("/var/lib/aclgate/user.cfg").exists());
    // Root's management commands act as the state's owner: the service can still read it.
    run("/usr/bin/aclgate", &["useradd", "ann@pve"]);
    let user_cfg = std::fs::metadata("/var/lib/aclgate/user.cfg").expect("user.cfg");
    assert_eq!(user_cfg.uid(), uid, "user.cfg written as aclgate");
    as_user(&["check-config"]);

    let upstream = start_upstream();
    let upstream_url = format!("http://{upstream}");
    // The readiness socket must be reachable by the service user.
    let sockets = tempfile::tempdir().expect("tempdir");
    install_support::set_mode(sockets.path(), 0o755);
    let mut args = AS_SERVICE_USER.to_vec();
    args.extend_from_slice(&[
        "/usr/bin/aclgate",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream_url,
    ]);
    let gw = Served::start("setpriv", &args, Path::new("/"), sockets.path());
    let client = client(Path::new("/etc/aclgate/certs/aclgate.crt"));
    let path = "/api2/json/nodes/n1/qemu/100/status/current";
    let resp = client
        .get(gw.url(path))
        .header("authorization", format!("PVEAPIToken=joe@pve!ci={secret}"))
        .send()
        .await
        .expect("request through the installed gateway");
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.expect("body");
    assert_eq!(body, format!("upstream saw GET {path} as joe@pve!ci"));
    let out = gw.stop();
    assert!(out.status.success(), "{}", install_support::text(&out));

    drop(_purge);
    assert!(!installed(), "purged");
    for gone in ["/usr/bin/aclgate", "/etc/aclgate", "/var/lib/aclgate"] {
        assert!(!Path::new(gone).exists(), "{gone} left after purge");
    }
}
