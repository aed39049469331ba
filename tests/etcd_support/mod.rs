//! A real etcd for the tests (Debian's `etcd-server`, installed by scripts/test.sh): one or
//! three members on free 127.0.0.1 ports with a temporary data directory, stopped on drop.
//! Plus helpers to run the `aclgate` binary against it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod gateway;
mod secured;

#[allow(unused_imports)]
pub use gateway::*;
#[allow(unused_imports)]
pub use secured::*;

/// A running etcd cluster.
pub struct Etcd {
    pub dir: tempfile::TempDir,
    members: Vec<Member>,
    cluster: String,
    token: String,
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
    /// More etcd flags (a restart with other limits).
    extra: Vec<String>,
}

/// Why a member is not serving.
struct Unhealthy {
    /// It exited (else it is running but did not answer in time).
    exited: bool,
    message: String,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    /// One member.
    pub fn single() -> Etcd {
        Etcd::start(1)
    }

    /// Three members.
    pub fn three() -> Etcd {
        Etcd::start(3)
    }

    /// `n` members on free ports. A port found free can be taken before etcd binds it (by
    /// another test, or as the source port of some connection): a member that exits at once is
    /// such a race, and the cluster starts again on other ports.
    fn start(n: usize) -> Etcd {
        const ATTEMPTS: usize = 3;
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            let mut etcd = Etcd::on_free_ports(n);
            for i in 0..n {
                etcd.spawn(i);
            }
            match etcd.healthy() {
                Ok(()) => return etcd,
                // Only a member that exited is a lost race; one that is silent is not retried.
                Err(e) if e.exited => failures.push(e.message),
                Err(e) => panic!("{}", e.message),
            }
        }
        panic!("etcd did not start in {ATTEMPTS} attempts: {failures:#?}");
    }

    fn on_free_ports(n: usize) -> Etcd {
        static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let members: Vec<Member> = (1..=n)
            .map(|i| Member {
                name: format!("n{i}"),
                client: free_port(),
                peer: free_port(),
                child: None,
                extra: Vec::new(),
            })
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        // One token per cluster: members of two clusters of this process never join up.
        let token = format!(
            "t-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        Etcd {
            dir,
            members,
            cluster,
            token,
        }
    }

    fn spawn(&mut self, i: usize) {
        let data = self.dir.path().join(&self.members[i].name);
        let m = &mut self.members[i];
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", m.name))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{}", m.client),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{}", m.client),
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", m.peer),
            ])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", m.peer),
            ])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .arg("--experimental-watch-progress-notify-interval=1s")
            .args(&m.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd not installed (apt-get install etcd-server; scripts/test.sh does)");
        m.child = Some(child);
    }

    /// Client URLs of the members.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client))
            .collect()
    }

    /// Wait until every running member answers a linearizable read.
    pub fn wait_healthy(&mut self) {
        if let Err(e) = self.healthy() {
            panic!("{}", e.message);
        }
    }

    /// Wait until every running member answers a linearizable read; why not, with the log of
    /// the member that did not (one that exited is not waited for).
    fn healthy(&mut self) -> Result<(), Unhealthy> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let log_dir = self.dir.path();
        for m in self.members.iter_mut() {
            let Some(child) = m.child.as_mut() else {
                continue;
            };
            let url = format!("http://127.0.0.1:{}/v3/kv/range", m.client);
            loop {
                let ok = ureq::post(&url)
                    .timeout(Duration::from_secs(2))
                    .send_string(r#"{"key":"AA=="}"#)
                    .is_ok();
                if ok {
                    break;
                }
                let exited = child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() >= deadline {
                    let log = std::fs::read_to_string(log_dir.join(format!("{}.log", m.name)))
                        .unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(5)..];
                    return Err(Unhealthy {
                        exited: exited.is_some(),
                        message: format!(
                            "etcd member {} did not come up ({}); its log ends: {tail:#?}",
                            m.name,
                            match exited {
                                Some(status) => format!("exited: {status}"),
                                None => "no answer in 30 s".to_owned(),
                            }
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// SIGKILL member `i` (0-based) and wait for it to be gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The index of the member that is the leader now (asked of every running member until one
    /// knows).
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for m in self.members.iter().filter(|m| m.child.is_some()) {
                let url = format!("http://127.0.0.1:{}/v3/maintenance/status", m.client);
                let Ok(resp) = ureq::post(&url)
                    .timeout(Duration::from_secs(2))
                    .send_string("{}")
                else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_reader(resp.into_reader()).unwrap();
                let (me, leader) = (&v["header"]["member_id"], &v["leader"]);
                if !leader.is_null() && leader != "0" && me == leader {
                    return self.members.iter().position(|x| x.name == m.name).unwrap();
                }
            }
            assert!(Instant::now() < deadline, "no etcd leader");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data directory of member `i` (copy it while the member is stopped: a backup).
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    /// Start member `i` again on its data directory.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Start member `i` again with more flags (e.g. `--max-txn-ops=1`), kept for later restarts.
    pub fn restart_with(&mut self, i: usize, flags: &[&str]) {
        self.members[i].extra = flags.iter().map(|f| (*f).to_owned()).collect();
        self.spawn(i);
    }

    /// A raw JSON call to the first running member.
    pub fn call(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let m = self.members.iter().find(|m| m.child.is_some()).unwrap();
        let resp = ureq::post(&format!("http://127.0.0.1:{}{path}", m.client))
            .send_string(&body.to_string())
            .unwrap();
        serde_json::from_reader(resp.into_reader()).unwrap()
    }

    /// Keys under `prefix` (decoded).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let end = format!(
            "{}{}",
            &prefix[..prefix.len() - 1],
            (prefix.as_bytes()[prefix.len() - 1] + 1) as char
        );
        let answer = self.call(
            "/v3/kv/range",
            &serde_json::json!({ "key": b64(prefix), "range_end": b64(&end), "keys_only": true }),
        );
        answer["kvs"]
            .as_array()
            .map(|kvs| {
                kvs.iter()
                    .map(|kv| String::from_utf8(unb64(kv["key"].as_str().unwrap())).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Compact the history up to the current revision.
    pub fn compact(&self) {
        let rev =
            self.call("/v3/kv/range", &serde_json::json!({ "key": "AA==" }))["header"]["revision"]
                .as_str()
                .unwrap()
                .to_owned();
        self.call(
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": rev, "physical": true }),
        );
    }

    /// Write `aclgate.toml` for this cluster under `dir` (state mirror at `dir/state`) and
    /// answer its path.
    pub fn config(&self, dir: &Path, extra_state: &str) -> PathBuf {
        self.config_with(dir, "", extra_state)
    }

    /// As [`Etcd::config`], with top-level settings `top` (before the tables).
    pub fn config_with(&self, dir: &Path, top: &str, extra_state: &str) -> PathBuf {
        let endpoints = self
            .endpoints()
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let path = dir.join("aclgate.toml");
        std::fs::write(
            &path,
            format!(
                "{top}\n[state]\ndir = \"state\"\nbackend = \"etcd\"\n\n[state.etcd]\nendpoints = [{endpoints}]\nprefix = \"/aclgate-test\"\nprobe_interval_ms = 200\n{extra_state}"
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

pub fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Run `aclgate ARGS` with `ACLGATE_CONFIG=config` (the management commands then use etcd).
pub fn aclgate(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .args(args)
        .env("ACLGATE_CONFIG", config)
        .env_remove("ACLGATE_STATE_DIR")
        .current_dir(config.parent().unwrap())
        .output()
        .unwrap()
}

/// As [`aclgate`], requiring success; answers stdout.
pub fn ok(config: &Path, args: &[&str]) -> String {
    let out = aclgate(config, args);
    assert!(
        out.status.success(),
        "aclgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `aclgate --state-dir DIR ARGS` (the files backend), requiring success.
pub fn ok_files(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .env_remove("ACLGATE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aclgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
