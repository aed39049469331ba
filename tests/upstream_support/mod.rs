//! Shared by the `upstream_*` tests: endpoints of a test upstream cluster as real OS processes
//! (tests/fixtures/upstreams/node.py) that can be SIGKILLed and restarted on their port, and
//! waiting for an endpoint's health as `/metrics` reports it.

#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The venv's python if scripts/test.sh made one, else the system's (node.py needs only the
/// standard library).
pub fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// One endpoint process.
pub struct Node {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// Certificate and key files: HTTPS.
    tls: Option<(PathBuf, PathBuf)>,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Start `name` on a free port.
    pub fn start(name: &str) -> Node {
        Node::start_with(name, None)
    }

    /// Start `name` on a free port, serving HTTPS with this certificate and key.
    pub fn start_tls(name: &str, cert: &Path, key: &Path) -> Node {
        Node::start_with(name, Some((cert.to_owned(), key.to_owned())))
    }

    fn start_with(name: &str, tls: Option<(PathBuf, PathBuf)>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        std::fs::write(&log, "").unwrap();
        let mut node = Node {
            name: name.to_owned(),
            port: 0,
            child: None,
            log,
            tls,
            _dir: dir,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstreams/node.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(&self.name)
            .arg(self.port.to_string())
            .arg(&self.log)
            .args(self.tls.iter().flat_map(|(c, k)| [c, k]))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("node {} said {line:?}", self.name));
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// SIGKILL the process (no goodbye to open connections).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Start again on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running node");
        self.spawn();
    }

    /// Every request it logged (health checks excluded), across restarts.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The admin listener's `/metrics` text.
pub async fn metrics(admin: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Wait (up to 10 s) until `/metrics` reports endpoint `url` of `upstream` with health
/// `healthy` (1 or 0); panics with the metrics text otherwise.
pub async fn await_health(admin: std::net::SocketAddr, upstream: &str, url: &str, healthy: u8) {
    let want = format!(
        "aclgate_upstream_endpoint_healthy{{upstream=\"{upstream}\",endpoint=\"{url}\"}} {healthy}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics(admin).await;
        if text.contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "no `{want}` in:\n{text}");
        // The health checks run every 100 ms in these tests; poll at their pace.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An `[[upstreams]]` table for `name` over `nodes`, checked every 100 ms, one failure marks
/// down, one pass brings back.
pub fn cluster(
    name: &str,
    nodes: &[&Node],
    health: bool,
) -> aclgate::config::upstreams::NamedUpstream {
    let mut u = aclgate::config::upstreams::NamedUpstream::from_single(&Default::default());
    u.name = name.to_owned();
    u.endpoints = nodes.iter().map(|n| n.url()).collect();
    if health {
        u.health_check = Some(aclgate::config::upstreams::HealthCheck {
            path: "/health".to_owned(),
            interval_ms: 100,
            timeout_ms: 500,
            unhealthy_after: 1,
            healthy_after: 1,
        });
    }
    u
}

/// Write a policy file into `dir` and return its path.
pub fn policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
