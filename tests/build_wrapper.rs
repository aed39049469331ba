//! The release build's rustc wrapper (`scripts/rustc-lto-inline.sh`, named in
//! `.cargo/config.toml`): it raises the inline threshold only where cargo links a binary with
//! fat LTO, and passes every other call through unchanged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const THRESHOLD: &str = "llvm-args=-inline-threshold=1000";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A stand-in for rustc that prints its arguments one per line, then exits with 3.
fn fake_rustc(dir: &Path) -> PathBuf {
    let path = dir.join("rustc");
    std::fs::write(
        &path,
        "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The arguments the wrapper hands to rustc for `args`, and rustc's exit code as it reports it.
fn through_wrapper(args: &[&str]) -> (Vec<String>, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(root().join("scripts/rustc-lto-inline.sh"))
        .arg(fake_rustc(dir.path()))
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout).unwrap();
    (
        lines.lines().map(str::to_owned).collect(),
        out.status.code(),
    )
}

#[test]
fn only_a_fat_lto_binary_gets_the_threshold() {
    let bin_lto = [
        "--crate-type",
        "bin",
        "-C",
        "opt-level=3",
        "-C",
        "lto=fat",
        "src/main.rs",
    ];
    let (args, code) = through_wrapper(&bin_lto);
    assert_eq!(
        args[..bin_lto.len()],
        bin_lto,
        "the original arguments first, in order"
    );
    assert_eq!(args[bin_lto.len()..], ["-C", THRESHOLD]);
    assert_eq!(code, Some(3), "rustc's exit code reaches cargo");
    let (args, _) = through_wrapper(&["--crate-type", "bin", "-Clto=fat"]);
    assert_eq!(args.last().map(String::as_str), Some(THRESHOLD));

    for unchanged in [
        &["--crate-type", "lib", "-C", "lto=fat"][..],
        &["--crate-type", "bin", "-C", "opt-level=3"][..],
        &["--crate-type", "bin", "-C", "linker-plugin-lto"][..],
        &["-vV"][..],
        &["--crate-name", "has spaces", "--crate-type", "bin"][..],
    ] {
        let (args, code) = through_wrapper(unchanged);
        assert_eq!(args, unchanged, "passed through as is");
        assert_eq!(code, Some(3));
    }
}

#[test]
fn cargo_config_names_the_wrapper() {
    let config = std::fs::read_to_string(root().join(".cargo/config.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    let wrapper = config["build"]["rustc-workspace-wrapper"].as_str().unwrap();
    assert_eq!(wrapper, "scripts/rustc-lto-inline.sh");
    let mode = std::fs::metadata(root().join(wrapper))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "executable");
}
