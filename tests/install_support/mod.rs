//! Helpers for the installation tests: the `aclgate` binary run as a process (as an operator
//! runs it), a plain upstream, readiness through systemd's `NOTIFY_SOCKET` protocol, and an
//! HTTPS client trusting the gateway's generated certificate.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::notify_support::{Notify, ready_tls_port};

/// Recording for the suite-wide secrets scan (only when `ACLGATE_SECRETS_DIR` is set).
// Several harnesses of one test binary may include it: one copy each, by design.
#[allow(clippy::duplicate_mod)]
#[path = "../secrets_support/mod.rs"]
pub mod recorder;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_aclgate");

/// `aclgate ARGS` in `dir`, with `envs` on top of an environment without aclgate's variables.
pub fn aclgate(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let out = command(BIN, dir, envs)
        .args(args)
        .output()
        .expect("run aclgate");
    let command = args.first().copied().unwrap_or_default();
    recorder::output_bytes(&format!("aclgate {command}: stderr"), &out.stderr);
    out
}

/// A command with aclgate's environment variables removed (the test runner's must not leak in).
pub fn command(program: &str, dir: &Path, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_remove("ACLGATE_CONFIG")
        .env_remove("ACLGATE_STATE_DIR")
        .env_remove("NOTIFY_SOCKET")
        .envs(envs.iter().copied());
    cmd
}

/// Text of stdout + stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A plain HTTP/1.1 upstream on its own thread: every request is answered 200 with
/// `upstream saw METHOD PATH as AUTHID` (the identity header aclgate adds), then the connection
/// closes. Lives as long as the test process.
pub fn start_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut authid = String::from("-");
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("x-aclgate-authid:") {
                    authid = v.trim().to_owned();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let answer = format!("upstream saw {method} {path} as {authid}");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    addr
}

/// A gateway process; SIGTERM and wait on drop.
pub struct Served {
    pub child: Child,
    pub port: u16,
}

impl Served {
    /// Start `program ARGS` (the `aclgate serve` command line, possibly behind `setpriv`, with
    /// `--listen 127.0.0.1:0`) in `dir` with `NOTIFY_SOCKET` in `socket_dir`, and wait for its
    /// `READY=1` (or its exit); the port is the one its readiness message names.
    pub fn start(program: &str, args: &[&str], dir: &Path, socket_dir: &Path) -> Served {
        let notify = Notify::bind(socket_dir);
        // The gateway may run as another user (the installed package's `aclgate`).
        set_mode(notify.path(), 0o666);
        let socket_env = notify.path().to_str().expect("utf-8 path").to_owned();
        let mut child = command(program, dir, &[("NOTIFY_SOCKET", &socket_env)])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the gateway");
        let message = match notify.message() {
            Ok(message) => message,
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("wait");
                panic!("no READY=1 from the gateway ({e}):\n{}", text(&out));
            }
        };
        let port = ready_tls_port(&message);
        Served { child, port }
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Stop with SIGTERM; the exit status and everything the gateway printed.
    pub fn stop(mut self) -> Output {
        self.terminate();
        let child = std::mem::replace(&mut self.child, placeholder());
        let out = child.wait_with_output().expect("wait for the gateway");
        recorder::output_bytes("gateway process: stdout", &out.stdout);
        recorder::output_bytes("gateway process: stderr", &out.stderr);
        out
    }

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.terminate();
        let _ = self.child.wait();
    }
}

/// A finished child to leave behind in `Served` after `stop` took the real one.
fn placeholder() -> Child {
    Command::new("true").spawn().expect("spawn true")
}

/// An HTTPS client trusting only `cert` (the gateway's PEM certificate).
pub fn client(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).expect("read the gateway certificate");
    let cert = reqwest::Certificate::from_pem(&pem).expect("PEM certificate");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .build()
        .expect("client")
}

/// `chmod MODE path`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The token secret printed by `aclgate user token add ... --output-format json`.
pub fn token_secret(out: &Output) -> String {
    assert!(out.status.success(), "token add: {}", text(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let value = v["value"].as_str().expect("value").to_owned();
    recorder::secret("token secret shown by the CLI", &value);
    value
}

/// The source tree's root.
pub fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the tests run as root (installing packages, mount namespaces).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
