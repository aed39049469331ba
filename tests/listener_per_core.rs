//! `worker_threads = 2` per core (the default model): the real `aclgate serve` runs a second
//! thread with its own runtime and `SO_REUSEPORT` socket, the kernel hands it connections, and
//! SIGTERM drains requests in flight on every worker before the process exits 0.

mod gateway_support;
mod notify_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway_support::{Gateway, POLICY, USER_CFG, Upstream, shadow_text, write_atomic};
use notify_support::{Notify, ready_tls_port};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The thread named `name` of process `pid`: its voluntary context switches (one per wake-up
/// from an idle wait).
fn wakeups(pid: u32, name: &str) -> Option<u64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

#[tokio::test]
async fn two_workers_share_the_connections_and_drain_on_sigterm() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_atomic(&root.join("state/user.cfg"), USER_CFG);
    write_atomic(
        &root.join("state/priv/token.shadow"),
        &shadow_text(&["joe@pve!full"]),
    );
    write_atomic(&root.join("policies/test.toml"), POLICY);
    write_atomic(
        &root.join("aclgate.toml"),
        "policies = [\"policies/test.toml\"]\nworker_threads = 2\n\
         [auth]\nfailure_delay_ms = 0\n",
    );
    let notify = Notify::bind(root);
    let child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .current_dir(root)
        .env("ACLGATE_LOG", "warn")
        .env("NOTIFY_SOCKET", notify.path())
        .args([
            "serve",
            "--config",
            "aclgate.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--upstream")
        .arg(format!("http://{}", upstream.addr))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let pid = server.0.id();
    // Port 0: both workers' sockets are bound to the port the kernel chose for the first.
    let port = ready_tls_port(
        &notify
            .message()
            .expect("aclgate serve did not become ready"),
    );
    let pem = std::fs::read(root.join("certs/aclgate.crt")).unwrap();
    let before = wakeups(pid, "aclgate-worker1").expect("a second worker thread");

    // New connections (a client per request, no pooling): the kernel spreads them over both
    // workers' sockets.
    let url = format!("https://127.0.0.1:{port}/api2/json/hold");
    let version = format!("https://127.0.0.1:{port}/api2/json/version");
    let auth = Gateway::token_header("joe@pve!full");
    let client = || {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    for _ in 0..16 {
        let resp = client()
            .get(&version)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let after = wakeups(pid, "aclgate-worker1").unwrap();
    assert!(
        after > before,
        "the second worker took no connection ({before} → {after})"
    );

    // Requests held by the upstream on several connections (so on both workers), then SIGTERM.
    let mut upstream = upstream;
    // Forget the arrivals of the requests above (all answered).
    while upstream.arrivals.try_recv().is_ok() {}
    let held: Vec<_> = (0..8)
        .map(|_| {
            let (c, url, auth) = (client(), url.clone(), auth.clone());
            tokio::spawn(async move {
                let resp = c.get(url).header("authorization", auth).send().await?;
                Ok::<_, reqwest::Error>(resp.status().as_u16())
            })
        })
        .collect();
    for _ in 0..8 {
        tokio::time::timeout(Duration::from_secs(30), upstream.arrivals.recv())
            .await
            .expect("held request did not reach the upstream")
            .unwrap();
    }
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Every worker stops accepting...
    tokio::time::timeout(Duration::from_secs(10), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("still accepting after SIGTERM");
    // ...and the held requests complete once the upstream answers.
    // (Repeated: a held request registers its wait just after reporting its arrival.)
    let release = upstream.release.clone();
    let releaser = tokio::spawn(async move {
        loop {
            release.notify_waiters();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    for h in held {
        assert_eq!(h.await.unwrap().unwrap(), 200);
    }
    releaser.abort();
    let mut server = server;
    let exit = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(s) = server.0.try_wait().unwrap() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("did not exit after draining");
    assert!(exit.success(), "{exit:?}");
}
