//! Gateway processes on etcd, a plain upstream, and request helpers for the etcd tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Etcd, free_port, ok};

/// A plain HTTP/1.1 upstream answering `200 {}` to every request (keep-alive), on a thread.
pub fn upstream() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    // Headers end with an empty line; GETs have no body.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let body = "{\"data\":{}}";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// An `aclgate serve` process on etcd, with a plain-HTTP listener and an admin listener.
pub struct GatewayProc {
    child: Option<Child>,
    pub http: u16,
    pub admin: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

/// The policy the gateway tests use: `GET /api2/json/vms` needs `VM.Audit` on `/vms`.
pub const POLICY: &str = "[[route]]\nmethod = \"GET\"\npath = \"/api2/json/vms\"\ncheck = [\"perm\", \"/vms\", [\"VM.Audit\"]]\n";

impl GatewayProc {
    /// Start a gateway in `dir` (created) on `etcd`, forwarding to `upstream`.
    pub fn start(etcd: &Etcd, dir: &Path, upstream: u16, extra_state: &str) -> GatewayProc {
        GatewayProc::start_with(dir, upstream, |dir, top| {
            etcd.config_with(dir, top, extra_state)
        })
    }

    /// Start a gateway in `dir` whose `aclgate.toml` is written by `config(dir, top)`, `top`
    /// being the listener and upstream settings (for an etcd set up otherwise).
    pub fn start_with(
        dir: &Path,
        upstream: u16,
        config: impl FnOnce(&Path, &str) -> PathBuf,
    ) -> GatewayProc {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
        let (http, admin, tls) = (free_port(), free_port(), free_port());
        let top = format!(
            "listen = \"127.0.0.1:{tls}\"\nhttp_listen = \"127.0.0.1:{http}\"\nadmin_listen = \"127.0.0.1:{admin}\"\npolicies = [\"policy.toml\", \"builtin:access\"]\n[upstream]\nurl = \"http://127.0.0.1:{upstream}\"\n[auth]\nfailure_delay_ms = 0\n"
        );
        let config = config(dir, &top);
        let log = dir.join("gateway.log");
        let mut gw = GatewayProc {
            child: None,
            http,
            admin,
            config,
            log,
        };
        gw.spawn();
        gw
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.config.parent().unwrap())
            .env("ACLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.healthz().is_none() {
            assert!(
                Instant::now() < deadline,
                "gateway did not start: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /api2/json/vms` with an API token: the status code (0: no answer).
    pub fn get(&self, token: &str) -> u16 {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build();
        match agent
            .get(&format!("http://127.0.0.1:{}/api2/json/vms", self.http))
            .set("Authorization", &format!("PVEAPIToken={token}"))
            .call()
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }

    /// The admin `/healthz` text and status, `None` if not answering.
    pub fn healthz(&self) -> Option<(u16, String)> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        match agent
            .get(&format!("http://127.0.0.1:{}/healthz", self.admin))
            .call()
        {
            Ok(r) => Some((r.status(), r.into_string().unwrap_or_default())),
            Err(ureq::Error::Status(code, r)) => Some((code, r.into_string().unwrap_or_default())),
            Err(_) => None,
        }
    }

    /// `aclgate_store_full_loads_total{cause}` from the admin `/metrics` (0: none yet).
    pub fn full_loads(&self, cause: &str) -> u64 {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        let Ok(r) = agent
            .get(&format!("http://127.0.0.1:{}/metrics", self.admin))
            .call()
        else {
            return 0;
        };
        let text = r.into_string().unwrap_or_default();
        let series = format!("aclgate_store_full_loads_total{{cause=\"{cause}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    /// The process id (for SIGSTOP/SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Wait (polling every `step`) until `f` holds; panics after `limit`. Answers the time taken.
pub fn until(limit: Duration, step: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(step);
    }
    start.elapsed()
}

/// Create an API token with the CLI; answers `ID=SECRET`.
pub fn token(config: &Path, user: &str, name: &str) -> String {
    let out = ok(
        config,
        &[
            "user",
            "token",
            "add",
            user,
            name,
            "--privsep",
            "0",
            "--output-format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    format!(
        "{}={}",
        v["full-tokenid"].as_str().unwrap(),
        v["value"].as_str().unwrap()
    )
}

/// `PUT` form data to the gateway's access API with an API token: the status code.
pub fn put(gw: &GatewayProc, token: &str, path: &str, form: &[(&str, &str)]) -> u16 {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    match agent
        .put(&format!("http://127.0.0.1:{}/api2/json{path}", gw.http))
        .set("Authorization", &format!("PVEAPIToken={token}"))
        .send_form(form)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, r)) => {
            eprintln!("PUT {path}: {code} {}", r.into_string().unwrap_or_default());
            code
        }
        Err(e) => {
            eprintln!("PUT {path}: {e}");
            0
        }
    }
}

/// Run `aclgate ARGS` through etcd with `input` on stdin (passwords); requires success and
/// answers stdout.
pub fn ok_stdin(config: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .args(args)
        .env("ACLGATE_CONFIG", config)
        .env_remove("ACLGATE_STATE_DIR")
        .current_dir(config.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "aclgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl GatewayProc {
    /// `GET /api2/json/vms` with a ticket cookie: the status code (0: no answer).
    pub fn get_with_ticket(&self, ticket: &str) -> u16 {
        let enc = percent_encoding::utf8_percent_encode(ticket, percent_encoding::NON_ALPHANUMERIC);
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build();
        match agent
            .get(&format!("http://127.0.0.1:{}/api2/json/vms", self.http))
            .set("Cookie", &format!("PVEAuthCookie={enc}"))
            .call()
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }
}
