//! aclgate runs anywhere (issue 10): the binary started in an empty directory serves the
//! built-in Proxmox policies and tells systemd it is ready; a bad configuration writes nothing;
//! `aclgate.toml` is found through `--config`, `ACLGATE_CONFIG`, `./aclgate.toml`; the
//! embedded policies equal `policies/`; `--version`, completions and man pages; and a host
//! without libpam answers a `pam` login with a clear error instead of failing to start.

mod install_support;
mod notify_support;

use std::path::Path;

use aclgate::policy::builtin::BUILTINS;
use install_support::{
    Served, aclgate, client, is_root, source_root, start_upstream, text, token_secret,
};

/// The directory's entries, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn serves_the_proxmox_policies_from_an_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // A user and a privilege-separated token, made with the CLI (it creates ./state).
    let cli = |args: &[&str]| {
        let out = aclgate(root, args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        out
    };
    cli(&["useradd", "joe@pve"]);
    cli(&["aclmod", "/vms", "-user", "joe@pve", "-role", "PVEVMAdmin"]);
    let secret = token_secret(&cli(&[
        "user",
        "token",
        "add",
        "joe@pve",
        "monitoring",
        "-privsep",
        "1",
        "--output-format",
        "json",
    ]));
    cli(&[
        "aclmod",
        "/vms",
        "-token",
        "joe@pve!monitoring",
        "-role",
        "PVEAuditor",
    ]);
    assert_eq!(
        entries(root),
        ["state"],
        "no policies, no aclgate.toml, no certs"
    );

    let upstream = start_upstream();
    let upstream_url = format!("http://{upstream}");
    let sockets = tempfile::tempdir().expect("tempdir");
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream_url,
    ];
    let gw = Served::start(install_support::BIN, &args, root, sockets.path());
    assert_eq!(entries(root), ["certs", "state"]);

    let client = client(&root.join("certs/aclgate.crt"));
    let auth = format!("PVEAPIToken=joe@pve!monitoring={secret}");
    let status = "/api2/json/nodes/n1/qemu/100/status";
    // pve.toml: GET .../status/current needs VM.Audit, which PVEAuditor grants.
    let resp = client
        .get(gw.url(&format!("{status}/current")))
        .header("authorization", &auth)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.expect("body"),
        format!("upstream saw GET {status}/current as joe@pve!monitoring")
    );
    // POST .../status/start needs VM.PowerMgmt: the token lacks it, though its owner has it.
    let resp = client
        .post(gw.url(&format!("{status}/start")))
        .header("authorization", &auth)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 403);
    // The access API answers from builtin:access.
    let resp = client
        .get(gw.url("/api2/json/access/permissions"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("permissions");
    assert_eq!(resp.status(), 200);
    let out = gw.stop();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_bad_configuration_writes_nothing() {
    let cases: &[&[&str]] = &[
        &["serve", "--upstream", "ftp://127.0.0.1:9"],
        &[
            "serve",
            "--upstream",
            "http://127.0.0.1:9",
            "--policy",
            "builtin:nope",
        ],
        &[
            "serve",
            "--upstream",
            "http://127.0.0.1:9",
            "--policy",
            "missing.toml",
        ],
    ];
    for args in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = aclgate(dir.path(), args, &[]);
        assert!(!out.status.success(), "{args:?} started: {}", text(&out));
        assert_eq!(
            entries(dir.path()),
            Vec::<String>::new(),
            "{args:?} wrote files"
        );
    }
    // The error names what is wrong.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aclgate(dir.path(), cases[1], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no built-in policy `nope`"), "{stderr}");
}

#[test]
fn the_config_file_is_found_by_flag_then_env_then_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let other = tempfile::tempdir().expect("tempdir");
    let env_file = other.path().join("from-env.toml");
    let flag_file = other.path().join("from-flag.toml");
    for f in [&env_file, &flag_file] {
        std::fs::write(f, "policies = [\"builtin:access\"]\n").expect("write");
    }
    let used = |args: &[&str], envs: &[(&str, &str)]| {
        let out = aclgate(root, args, envs);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout.lines().next().unwrap_or_default().to_owned()
    };
    let env = env_file.to_str().expect("utf-8");
    let flag = flag_file.to_str().expect("utf-8");
    if !Path::new("/etc/aclgate/aclgate.toml").exists() {
        assert_eq!(
            used(&["check-config"], &[]),
            "config: none found, built-in defaults"
        );
    }
    std::fs::write(root.join("aclgate.toml"), "").expect("write");
    assert_eq!(used(&["check-config"], &[]), "config: aclgate.toml");
    assert_eq!(
        used(&["check-config"], &[("ACLGATE_CONFIG", env)]),
        format!("config: {env}")
    );
    assert_eq!(
        used(
            &["check-config", "--config", flag],
            &[("ACLGATE_CONFIG", env)]
        ),
        format!("config: {flag}")
    );
    // The management commands use the same file's state directory.
    std::fs::write(&env_file, "[state]\ndir = \"env-state\"\n").expect("write");
    let out = aclgate(root, &["useradd", "ann@pve"], &[("ACLGATE_CONFIG", env)]);
    assert!(out.status.success(), "{}", text(&out));
    let user_cfg = std::fs::read_to_string(other.path().join("env-state/user.cfg"))
        .expect("user.cfg in the configured state dir");
    assert!(user_cfg.contains("user:ann@pve:"), "{user_cfg}");
}

#[test]
fn the_embedded_policies_equal_the_files_in_policies() {
    assert!(BUILTINS.len() >= 2);
    for b in BUILTINS {
        let file = std::fs::read_to_string(source_root().join(b.source)).expect("read");
        assert!(
            b.text == file,
            "builtin:{} differs from {}",
            b.name,
            b.source
        );
        aclgate::policy::RouteTable::from_str(b.name, b.text).expect("compiles");
    }
}

#[test]
fn policy_list_and_show_print_the_builtin_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aclgate(dir.path(), &["policy", "list"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    for name in ["builtin:pve", "builtin:access", "builtin:example"] {
        assert!(list.contains(name), "{list}");
    }
    for (name, file) in [("pve", "pve.toml"), ("builtin:access", "access.toml")] {
        let out = aclgate(dir.path(), &["policy", "show", name], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let want = std::fs::read(source_root().join("policies").join(file)).expect("read");
        assert!(out.stdout == want, "policy show {name} differs from {file}");
    }
    let out = aclgate(dir.path(), &["policy", "show", "nope"], &[]);
    assert!(!out.status.success());
}

#[test]
fn version_names_the_git_commit_of_a_checkout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aclgate(dir.path(), &["--version"], &[]);
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // build.rs gave the test the same version string as the binary (one cargo invocation).
    assert_eq!(version, format!("aclgate {}", env!("ACLGATE_VERSION")));
    assert!(
        version.starts_with(&format!("aclgate {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(source_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    if git(&["rev-parse", "--show-toplevel"]).is_none() {
        eprintln!("no git checkout: the version names no commit");
        return;
    }
    // HEAD may have moved since the build: the named commit must be one of this repository's.
    let commit = version
        .split_once("(git ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {version:?}"));
    assert!(
        commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{version}"
    );
    assert!(
        git(&["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_some(),
        "{commit} is not a commit of the source tree"
    );
}

#[test]
fn completions_and_man_pages_are_generated_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (shell, marker) in [
        ("bash", "complete -F _aclgate"),
        ("zsh", "#compdef aclgate"),
        ("fish", "complete -c aclgate"),
    ] {
        let out = aclgate(dir.path(), &["completions", shell], &[]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && script.contains(marker),
            "{shell}: {script:.200}"
        );
        assert!(
            script.contains("check-config"),
            "{shell} completes subcommands"
        );
    }
    let out = aclgate(dir.path(), &["man"], &[]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH aclgate 1") && page.contains("check\\-config"),
        "{page:.300}"
    );
    let out = aclgate(dir.path(), &["man", "--dir", "man"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let pages = entries(&dir.path().join("man"));
    for want in ["aclgate.1", "aclgate-serve.1", "aclgate-user-token-add.1"] {
        assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
    }
}

/// In a private mount namespace, `/dev/null` hides libpam: the binary still starts (it does
/// not link libpam), and a `pam` login fails with a message saying PAM is missing.
#[test]
fn a_host_without_libpam_answers_pam_logins_with_a_clear_error() {
    if !is_root() {
        eprintln!("skipped: hiding libpam needs a mount namespace (run as root)");
        return;
    }
    let libpam = std::fs::canonicalize("/lib/x86_64-linux-gnu/libpam.so.0")
        .or_else(|_| std::fs::canonicalize("/usr/lib/x86_64-linux-gnu/libpam.so.0"))
        .expect("libpam.so.0 (package libpam0g) on this host");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aclgate(dir.path(), &["useradd", "aclgate-pamtest@pam"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let script = format!(
        "mount --bind /dev/null '{}' && echo Pam-test-pw-7 | exec '{}' ticket aclgate-pamtest@pam --pam-service aclgate-test",
        libpam.display(),
        install_support::BIN
    );
    let out = install_support::command("unshare", dir.path(), &[])
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(255), "{all}");
    assert!(all.contains("PAM is not available on this host"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}
