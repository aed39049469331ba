//! Build script: the version `aclgate --version` prints, with the git commit when the source
//! is a git checkout (`0.1.0 (git 1a2b3c4d5e6f)`), else just the package version (a source
//! tarball, `cargo install` from a registry).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    // Only this package's own checkout counts, not a repository it was unpacked inside.
    let own_checkout = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        PathBuf::from(top).canonicalize().ok() == manifest_dir.and_then(|d| d.canonicalize().ok())
    });
    let commit = own_checkout
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten();
    let full = match commit {
        Some(commit) => {
            watch_head();
            format!("{version} (git {commit})")
        }
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=ACLGATE_VERSION={full}");
}

/// Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
fn watch_head() {
    let mut files = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(branch);
    }
    for f in files {
        if let Some(path) = git(&["rev-parse", "--git-path", &f]) {
            let path = PathBuf::from(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}

/// `git ARGS` in the package directory; `None` without git, outside a checkout, or on error.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(&dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
