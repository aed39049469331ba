//! aclgate's token features beyond Proxmox, end to end: `allowed-ips` (real clients bound to
//! different loopback addresses), per-token rate limits (429 + Retry-After, the upstream
//! counting what got through), secret rotation with an overlap window, and how
//! `token-options.cfg` is written, read, cleaned up and reloaded. Writes go through the real
//! binary into the state directory of a running gateway (real TLS, real upstream).

mod cli_support;
mod gateway_support;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aclgate::config::TokenShadow;
use cli_support::State;
use gateway_support::{Gateway, TOKENS, USER_CFG, secret_of, shadow_text, write_atomic};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";
const MON: &str = "joe@pve!monitoring";
const FULL: &str = "joe@pve!full";

/// A gateway serving the state directory of `State`, so the real binary edits what it serves.
async fn start_with(
    tweak: impl FnOnce(&mut aclgate::config::gateway::GatewayConfig),
) -> (Gateway, State) {
    let cli = State::new();
    write_atomic(&cli.root().join("user.cfg"), USER_CFG);
    write_atomic(&cli.root().join("priv/token.shadow"), &shadow_text(&TOKENS));
    let root = cli.root();
    let gw = Gateway::start_with(move |cfg| {
        cfg.state.dir = root;
        tweak(cfg);
    })
    .await;
    (gw, cli)
}

async fn start() -> (Gateway, State) {
    start_with(|_| {}).await
}

/// A client trusting the gateway that connects from `local` (any 127.0.0.0/8 address works
/// on Linux loopback).
fn client_from(gw: &Gateway, local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(gw.ca.clone())
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// GET `PATH` with token `id` and `secret`: status, headers, body.
async fn get(
    client: &reqwest::Client,
    gw: &Gateway,
    id: &str,
    secret: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = client
        .get(gw.url(PATH))
        .header("authorization", format!("PVEAPIToken={id}={secret}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn status(client: &reqwest::Client, gw: &Gateway, id: &str, secret: &str) -> u16 {
    get(client, gw, id, secret).await.0
}

/// The log lines written on the test's thread while the capture lives (current-thread runtime:
/// the gateway's tasks run on the test's thread). One global subscriber for the whole binary
/// writes each line into the buffer of the thread that logged it: a scoped `set_default` per
/// test lost lines when tests of this binary ran in parallel (callsite interest races).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static THREAD_CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Writes into the current thread's capture, if any.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        THREAD_CAPTURE.with(|c| {
            if let Some(captured) = c.borrow().as_ref() {
                captured.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadWriter {
    type Writer = ThreadWriter;
    fn make_writer(&'a self) -> ThreadWriter {
        ThreadWriter
    }
}

/// Clears the thread's capture when dropped.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        THREAD_CAPTURE.with(|c| c.borrow_mut().take());
    }
}

impl Captured {
    fn install(&self) -> CaptureGuard {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(ThreadWriter)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        THREAD_CAPTURE.with(|c| *c.borrow_mut() = Some(self.clone()));
        CaptureGuard
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn allowed_ips_refuse_other_sources_and_follow_cli_changes() {
    let (gw, cli) = start().await;
    let log = Captured::default();
    let _guard = log.install();
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--allowed-ips",
        "127.0.0.2/32",
    ]);
    gw.reload().await.unwrap();
    let (from_1, from_2) = (client_from(&gw, "127.0.0.1"), client_from(&gw, "127.0.0.2"));
    let secret = secret_of(MON);

    let refused = get(&from_1, &gw, MON, &secret).await;
    assert_eq!(refused.0, 401, "right secret, wrong source");
    let wrong_secret = get(&from_1, &gw, MON, "not-the-secret").await;
    assert_eq!(
        (refused.0, &refused.2),
        (wrong_secret.0, &wrong_secret.2),
        "refused exactly like any other authentication failure"
    );
    assert_eq!(
        status(&from_2, &gw, MON, &secret).await,
        200,
        "allowed source"
    );
    assert_eq!(
        status(&from_1, &gw, FULL, &secret_of(FULL)).await,
        200,
        "other tokens are unaffected"
    );
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("source address not allowed"))
        .unwrap_or_else(|| panic!("no access log reason in:\n{text}"));
    assert!(line.contains(MON) && line.contains("401"), "{line}");
    assert!(!text.contains(&secret), "the secret is never logged");

    // The next CLI write reaches the running gateway through the file watcher.
    let cfg = gw.reader.load().config.clone();
    let _watcher = aclgate::reload::watch_files(gw.reload.clone(), &cfg).unwrap();
    let next = gw.reader.generation() + 1;
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--allowed-ips",
        "127.0.0.0/8",
    ]);
    tokio::time::timeout(Duration::from_secs(10), gw.reader.wait_for_generation(next))
        .await
        .expect("the watcher reloads after token-options.cfg changed");
    assert_eq!(
        status(&from_1, &gw, MON, &secret).await,
        200,
        "127.0.0.0/8 now"
    );
    let list = cli.json(&["user", "token", "list", "joe@pve"]);
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tokenid"] == "monitoring")
        .unwrap();
    assert_eq!(item["allowed-ips"], "127.0.0.0/8", "{list}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_counts() {
    // 127.0.0.1 plays the load balancer; 127.0.0.2 is a client that is not one.
    let (gw, cli) = start_with(|cfg| {
        cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--allowed-ips",
        "198.51.100.7",
    ]);
    gw.reload().await.unwrap();
    let (balancer, other) = (client_from(&gw, "127.0.0.1"), client_from(&gw, "127.0.0.2"));
    let secret = secret_of(MON);
    let send = |client: &reqwest::Client, xff: Option<&str>| {
        let mut req = client
            .get(gw.url(PATH))
            .header("authorization", format!("PVEAPIToken={MON}={secret}"));
        if let Some(xff) = xff {
            req = req.header("x-forwarded-for", xff);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let check = |got: u16, want: u16, what: &str| assert_eq!(got, want, "{what}");
    check(
        send(&balancer, Some("198.51.100.7")).await,
        200,
        "forwarded client allowed",
    );
    check(
        send(&balancer, None).await,
        401,
        "the balancer itself is not allowed",
    );
    check(
        send(&balancer, Some("198.51.100.7, 203.0.113.1")).await,
        401,
        "the nearest untrusted hop counts, not a client-written entry",
    );
    check(
        send(&other, Some("198.51.100.7")).await,
        401,
        "an untrusted peer's header is ignored",
    );
    check(
        send(&balancer, Some("198.51.100.7:443")).await,
        400,
        "a malformed header from the balancer is refused",
    );
}

#[tokio::test]
async fn a_refused_source_waits_for_the_failure_delay() {
    let (gw, cli) = start_with(|cfg| cfg.auth.failure_delay_ms = 300).await;
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--allowed-ips",
        "192.0.2.0/24",
    ]);
    gw.reload().await.unwrap();
    let client = client_from(&gw, "127.0.0.1");
    let start = Instant::now();
    assert_eq!(status(&client, &gw, MON, &secret_of(MON)).await, 401);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "held until the failure delay: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn rate_limit_answers_429_and_keeps_its_buckets_across_reloads() {
    let (gw, cli) = start().await;
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--rate-limit",
        "1",
        "--rate-burst",
        "2",
    ]);
    gw.reload().await.unwrap();
    let client = gw.client();
    let secret = secret_of(MON);
    let before = gw.upstream.count();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(get(&client, &gw, MON, &secret).await);
    }
    let statuses: Vec<u16> = got.iter().map(|g| g.0).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let (_, headers, body) = &got[2];
    assert_eq!(headers["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("rate limit"),
        "{body}"
    );
    assert_eq!(
        gw.upstream.count() - before,
        2,
        "the upstream saw exactly two"
    );
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(
        metrics.contains("aclgate_requests_total{decision=\"limited\",status=\"429\"} 1"),
        "{metrics}"
    );

    // A reload swaps the snapshot, not the buckets.
    gw.reload().await.unwrap();
    assert_eq!(status(&client, &gw, MON, &secret).await, 429);
    // Wrong secrets are refused before the limiter and do not count; other tokens are free.
    assert_eq!(status(&client, &gw, MON, "wrong").await, 401);
    assert_eq!(status(&client, &gw, FULL, &secret_of(FULL)).await, 200);
}

#[tokio::test]
async fn regenerate_with_overlap_keeps_the_old_secret_then_without_kills_it() {
    let (gw, cli) = start().await;
    let client = gw.client();
    let old = secret_of(MON);
    let out = cli.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--regenerate",
        "--overlap",
        "3600",
    ]);
    let first = out["value"].as_str().unwrap().to_owned();
    let until = out["overlap-until"].as_u64().expect("overlap-until shown");
    let now = aclgate::snapshot::now();
    assert!((now + 3590..=now + 3600).contains(&until), "{out}");
    gw.reload().await.unwrap();
    assert_eq!(
        status(&client, &gw, MON, &old).await,
        200,
        "old, in the window"
    );
    assert_eq!(status(&client, &gw, MON, &first).await, 200, "new");
    assert!(cli.read("priv/token.shadow").contains(" prev=sha256$"));
    let list = cli.json(&["user", "token", "list", "joe@pve"]);
    assert!(list.to_string().contains("\"overlap-until\""), "{list}");
    assert!(
        !list.to_string().contains(&first),
        "secrets are never listed"
    );

    // Without --overlap: Proxmox's behaviour, every earlier secret dies at once.
    let out = cli.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--regenerate",
    ]);
    let second = out["value"].as_str().unwrap().to_owned();
    assert!(out.get("overlap-until").is_none(), "{out}");
    gw.reload().await.unwrap();
    assert_eq!(status(&client, &gw, MON, &first).await, 401);
    assert_eq!(status(&client, &gw, MON, &old).await, 401);
    assert_eq!(status(&client, &gw, MON, &second).await, 200);
    assert!(!cli.read("priv/token.shadow").contains("prev="));

    // --overlap 0 is the same as none.
    let out = cli.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--regenerate",
        "--overlap",
        "0",
    ]);
    gw.reload().await.unwrap();
    assert_eq!(status(&client, &gw, MON, &second).await, 401);
    let third = out["value"].as_str().unwrap();
    assert_eq!(status(&client, &gw, MON, third).await, 200);
}

#[tokio::test]
async fn an_expired_previous_secret_is_refused_and_dropped_on_the_next_write() {
    let (gw, cli) = start().await;
    let client = gw.client();
    let path = cli.root().join("priv/token.shadow");
    let (mut shadow, _) = TokenShadow::parse(&std::fs::read_to_string(&path).unwrap());
    let now = aclgate::snapshot::now();
    let id = MON.parse().unwrap();
    shadow.rotate(&id, "5ec0d000-0000-4000-8000-000000000000", now - 1);
    write_atomic(&path, &shadow.write());
    assert!(cli.read("priv/token.shadow").contains("prev="));
    gw.reload().await.unwrap();
    assert_eq!(
        status(&client, &gw, MON, &secret_of(MON)).await,
        401,
        "expired"
    );
    let new = "5ec0d000-0000-4000-8000-000000000000";
    assert_eq!(status(&client, &gw, MON, new).await, 200);

    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "full",
        "--comment",
        "x",
    ]);
    assert!(!cli.read("priv/token.shadow").contains("prev="), "dropped");
    gw.reload().await.unwrap();
    assert_eq!(
        status(&client, &gw, MON, new).await,
        200,
        "the current one stays"
    );
}

#[tokio::test]
async fn a_broken_token_options_file_keeps_the_old_options_but_not_revoked_tokens() {
    let (gw, cli) = start().await;
    cli.ok(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--allowed-ips",
        "192.0.2.1",
    ]);
    gw.reload().await.unwrap();
    let client = gw.client();
    assert_eq!(status(&client, &gw, MON, &secret_of(MON)).await, 401);
    assert_eq!(status(&client, &gw, FULL, &secret_of(FULL)).await, 200);

    // A typo would drop the restriction if the line were skipped: the file is refused whole,
    // and the running options stay in force.
    write_atomic(
        &cli.root().join("token-options.cfg"),
        "token: joe@pve!monitoring\n\tallowed-ip 192.0.2.1\n",
    );
    gw.reload().await.unwrap();
    let warnings = &gw.reader.load().warnings;
    assert!(
        warnings.iter().any(
            |w| w.contains("token-options.cfg`:2: unknown property `allowed-ip`")
                && w.contains("previous token options stay in force")
        ),
        "{warnings:?}"
    );
    let check = cli.run(&["check-config"]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "check-config: {stderr}");
    assert!(stderr.contains("token-options.cfg`:2"), "{stderr}");
    assert_eq!(
        status(&client, &gw, MON, &secret_of(MON)).await,
        401,
        "the restriction still holds"
    );
    // Editing options needs a readable file ...
    let err = cli.fails(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "monitoring",
        "--rate-limit",
        "3",
    ]);
    assert!(err.contains("token-options.cfg`:2"), "{err}");
    // ... but revoking a token does not, and takes effect at once (the broken file is left
    // for the operator).
    cli.ok(&["user", "token", "delete", "joe@pve", "full"]);
    gw.reload().await.unwrap();
    assert_eq!(
        status(&client, &gw, FULL, &secret_of(FULL)).await,
        401,
        "a revoked token is refused while the options file is broken"
    );
    assert_eq!(status(&client, &gw, MON, &secret_of(MON)).await, 401);
    assert!(
        cli.read("token-options.cfg")
            .contains("allowed-ip 192.0.2.1")
    );
    // Options of tokens that no longer exist are a warning, not an error.
    write_atomic(
        &cli.root().join("token-options.cfg"),
        "token: joe@pve!full\n\tallowed-ips 192.0.2.1\n",
    );
    gw.reload().await.unwrap();
    let warnings = &gw.reader.load().warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w
                .ends_with("token-options.cfg:1: options of unknown token `joe@pve!full` ignored")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn tokens_expiring_soon_reaches_the_metrics() {
    let (gw, cli) = start().await;
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(
        metrics.contains("aclgate_tokens_expiring_soon 0"),
        "{metrics}"
    );
    let soon = aclgate::snapshot::now() + 2 * 24 * 3600;
    let later = aclgate::snapshot::now() + 30 * 24 * 3600;
    let text = USER_CFG
        .replace(
            "token:joe@pve!full:0:0::",
            &format!("token:joe@pve!full:{soon}:0::"),
        )
        .replace(
            "token:joe@pve!monitoring:0:1::",
            &format!("token:joe@pve!monitoring:{later}:1::"),
        );
    write_atomic(&cli.root().join("user.cfg"), &text);
    gw.reload().await.unwrap();
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(
        metrics.contains("aclgate_tokens_expiring_soon 1"),
        "{metrics}"
    );
}
