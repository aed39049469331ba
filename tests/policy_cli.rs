//! `aclgate policy import-pve` through its clap arguments and `run`, as the CLI will call it.

use std::process::ExitCode;

use aclgate::cli::policy::{PolicyArgs, run};
use clap::Parser;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: PolicyArgs,
}

fn parse(argv: &[&str]) -> PolicyArgs {
    Wrap::try_parse_from(std::iter::once("policy").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .args
}

#[test]
fn import_pve_writes_the_shipped_policy() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pve.toml");
    let fixture = format!("{root}/tests/fixtures/pve-api-permissions.json");
    let code = run(parse(&[
        "import-pve",
        &fixture,
        "-o",
        out.to_str().expect("utf-8 path"),
        "--exclude",
        "/access",
        "--exclude",
        "/pools",
        "--exclude",
        "/cluster/jobs/realm-sync",
        "--exclude",
        "/nodes/{node}/tasks/{upid}/status",
        "--exclude",
        "/nodes/{node}/tasks/{upid}/log",
    ]));
    assert_eq!(code, ExitCode::SUCCESS);
    let written = std::fs::read_to_string(&out).expect("output written");
    let shipped = std::fs::read_to_string(format!("{root}/policies/pve.toml")).expect("shipped");
    assert!(
        written == shipped,
        "import-pve output differs from policies/pve.toml"
    );
}

#[test]
fn import_pve_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"method":"GET","path":"/elsewhere","permissions":null}]"#,
    )
    .expect("write");
    let out = dir.path().join("out.toml");
    let code = run(parse(&[
        "import-pve",
        bad.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]));
    assert_eq!(code, ExitCode::FAILURE);
    assert!(!out.exists(), "no output on failure");
    let missing = dir.path().join("missing.json");
    let code = run(parse(&["import-pve", missing.to_str().expect("utf-8")]));
    assert_eq!(code, ExitCode::FAILURE);
}
