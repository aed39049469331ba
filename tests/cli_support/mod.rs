//! Shared helpers for the CLI integration tests: run the real `aclgate` binary against a
//! temporary state directory.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Recording for the suite-wide secrets scan (only when `ACLGATE_SECRETS_DIR` is set).
// Several harnesses of one test binary may include it: one copy each, by design.
#[allow(clippy::duplicate_mod)]
#[path = "../secrets_support/mod.rs"]
pub mod recorder;

/// A temporary state directory and the binary to drive it.
pub struct State {
    pub dir: tempfile::TempDir,
}

impl State {
    pub fn new() -> State {
        State {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The state directory path (`<tmp>/state`, created on first write).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Run `aclgate --state-dir <root> ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.run_unrecorded(args);
        record_cli(args, &out);
        out
    }

    fn run_unrecorded(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("--state-dir")
            .arg(self.root())
            .args(args)
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .output()
            .unwrap()
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "aclgate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and require JSON output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output-format", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// Run, require failure with a message on stderr, and require that no file changed.
    pub fn fails(&self, args: &[&str]) -> String {
        let before = snapshot(&self.root());
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "aclgate {args:?} should fail");
        assert!(!stderr.trim().is_empty(), "aclgate {args:?}: no message");
        assert_eq!(
            before,
            snapshot(&self.root()),
            "aclgate {args:?} changed files"
        );
        stderr
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap_or_default()
    }
}

/// Every file under `root` (except the lock) with its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if e.file_name() != ".lock" {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// All bytes of all files under `root`, for "no plaintext anywhere" checks.
pub fn all_bytes(root: &Path) -> Vec<u8> {
    snapshot(root).into_values().flatten().collect()
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// For the secrets scan: the CLI's stderr, `explain`'s stdout, and the secret a command shows
/// once (`value` of `--output-format json`), as a secret. The section is named by the command
/// words only: other arguments can be secrets.
pub fn record_cli(args: &[&str], out: &Output) {
    if !recorder::on() {
        return;
    }
    let words: Vec<&str> = args
        .iter()
        .take(3)
        .copied()
        .take_while(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .collect();
    let name = format!("aclgate {}", words.join(" "));
    recorder::output_bytes(&format!("{name}: stderr"), &out.stderr);
    if words.first() == Some(&"explain") {
        recorder::output_bytes(&format!("{name}: stdout"), &out.stdout);
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        recorder::credentials_in(&name, &json);
    }
}
