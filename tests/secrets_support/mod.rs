//! Recording for the suite-wide secrets scan (issue 11; docs/faults.md, "Secrets stay secret").
//!
//! When `ACLGATE_SECRETS_DIR` is set (scripts/test.sh sets it for the whole suite), the shared
//! harnesses note every secret they create or are handed (token secrets, passwords, tickets, CSRF
//! tokens, key material) and every text the gateway or the CLI produced that must hold none (log
//! lines at every level, metrics pages, `explain` output, CLI error output, error bodies) into
//! files of that directory. `tests/secrets_recorded.rs` then looks for every recorded secret in
//! every recorded text, across all test binaries. Unset, nothing is recorded and nothing changes.
//!
//! Parallel-safe: each process (and each copy of this module in one test binary, as several
//! harnesses include it) appends to files of its own, named after the test binary, the process
//! id and a per-copy nonce; every entry is one `write` under a lock.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the run's recording directory.
pub const DIR_ENV: &str = "ACLGATE_SECRETS_DIR";

/// Recorded secrets shorter than this are not searched for (too likely to occur by chance).
pub const MIN_SECRET_LEN: usize = 8;

/// Test binaries that install their own global `tracing` subscriber to assert on log lines:
/// a second one cannot be installed, so their in-process log lines are not recorded (their
/// secrets, outputs and error bodies still are).
const OWN_SUBSCRIBER: [&str; 2] = ["token_options", "secrets_scan"];

/// The files of this process (and module copy).
struct Files {
    /// `what<TAB>secret` lines.
    secrets: Mutex<File>,
    /// `== what` headed sections of output text.
    out: Mutex<File>,
    /// Log lines of the in-process gateways, as formatted for operators.
    log: Mutex<File>,
    /// The test binary's name without cargo's hash.
    binary: String,
}

fn files() -> Option<&'static Files> {
    static FILES: OnceLock<Option<Files>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os(DIR_ENV)?);
            std::fs::create_dir_all(&dir).ok()?;
            let exe = std::env::current_exe().ok()?;
            let stem = exe.file_stem()?.to_string_lossy().into_owned();
            // Cargo names test binaries `NAME-HASH`.
            let binary = stem.rsplit_once('-').map_or(stem.as_str(), |(n, _)| n);
            let nonce = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let base = format!("{binary}.{}.{nonce:09}", std::process::id());
            let open = |ext: &str| -> Option<Mutex<File>> {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{base}.{ext}")))
                    .ok()?;
                Some(Mutex::new(file))
            };
            Some(Files {
                secrets: open("secrets")?,
                out: open("out")?,
                log: open("log")?,
                binary: binary.to_owned(),
            })
        })
        .as_ref()
}

fn append(file: &Mutex<File>, bytes: &[u8]) {
    let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
    // One write per entry: entries of parallel tests never interleave.
    let _ = file.write_all(bytes);
}

/// Whether this run records.
pub fn on() -> bool {
    files().is_some()
}

/// Note a secret the suite created or was handed; `what` says what it is (no tab or newline).
pub fn secret(what: &str, value: &str) {
    let Some(f) = files() else { return };
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN || value.contains(['\t', '\n', '\r']) {
        return;
    }
    let what = what.replace(['\t', '\n', '\r'], " ");
    append(&f.secrets, format!("{what}\t{value}\n").as_bytes());
}

/// Note text the gateway or CLI produced that must hold no secret; `what` heads its section.
pub fn output(what: &str, text: &str) {
    output_bytes(what, text.as_bytes());
}

/// [`output`] for bytes (e.g. a child process's stderr).
pub fn output_bytes(what: &str, bytes: &[u8]) {
    let Some(f) = files() else { return };
    if bytes.is_empty() {
        return;
    }
    let what = what.replace(['\n', '\r'], " ");
    let mut entry = format!("\n== {what}\n").into_bytes();
    entry.extend_from_slice(bytes);
    entry.push(b'\n');
    append(&f.out, &entry);
}

/// Note a response: its body is output when it is an error (status 400 and up); an answer that
/// *is* a credential (a login's ticket, a token's once-shown secret) is not, and the credential
/// in it is noted as a secret instead.
pub fn response(what: &str, status: u16, body: &str) {
    if !on() {
        return;
    }
    if status >= 400 {
        output(&format!("{what}: error body ({status})"), body);
        return;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        credentials_in(what, &json);
    }
}

/// Note the credentials a successful JSON answer carries (`ticket`, `CSRFPreventionToken`,
/// a token's `value`), at the top level or under `data`.
pub fn credentials_in(what: &str, json: &serde_json::Value) {
    for v in [json, &json["data"]] {
        for key in ["ticket", "CSRFPreventionToken", "value"] {
            if let Some(s) = v[key].as_str() {
                secret(&format!("{what}: {key}"), s);
                if let Some((_, signature)) = s.rsplit_once("::") {
                    secret(&format!("{what}: {key} signature"), signature);
                }
            }
        }
    }
}

/// Note the key material of a PEM file (a private key, a ticket key): its longest base64 line.
pub fn pem_secret(what: &str, path: &std::path::Path) {
    if !on() {
        return;
    }
    if let Ok(text) = std::fs::read_to_string(path) {
        let body = text.lines().filter(|l| !l.starts_with("-----"));
        if let Some(line) = body.max_by_key(|l| l.len()) {
            secret(what, line);
        }
    }
}

/// Send the in-process gateways' log lines (every level of aclgate's own targets, warnings of
/// the rest) to the log file, by installing a global `tracing` subscriber once per process —
/// unless the binary installs its own ([`OWN_SUBSCRIBER`]) or one is already installed.
pub fn capture_logs() {
    let Some(f) = files() else { return };
    if OWN_SUBSCRIBER.contains(&f.binary.as_str()) {
        return;
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("aclgate=trace,warn"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Appends each formatted event (one `write_all` per event) to the log file.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = files() {
            append(&f.log, buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Note the keys of a ticket key ring file (`priv/authkey.ring`: the last field of each line).
pub fn key_ring(what: &str, path: &std::path::Path) {
    if !on() {
        return;
    }
    if let Ok(text) = std::fs::read_to_string(path) {
        for key in text.lines().filter_map(|l| l.split_whitespace().last()) {
            secret(what, key);
        }
    }
}
