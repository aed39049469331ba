//! The access line of a forwarded request names the upstream and the endpoint that answered
//! (`upstream="pve" endpoint="http://127.0.0.1:PORT"`), and `retries=N` when endpoints failed
//! before it: checked against three real endpoint processes balanced round robin, and a GET
//! retried away from a dead endpoint. Never a credential.

mod gateway_support;
mod upstream_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use gateway_support::{Gateway, secret_of};
use upstream_support::{Node, cluster, policy};

const POLICY: &str = r#"
upstream = "pve"
prefix = "/pve"

[[route]]
method = "GET"
path = "/nodes/{node}"
user = "all"
"#;

async fn start(nodes: &[&Node]) -> (Gateway, tempfile::TempDir) {
    capture_access_log();
    let dir = tempfile::tempdir().unwrap();
    let file = policy(dir.path(), "pve.toml", POLICY);
    let upstream = cluster("pve", nodes, false);
    let gw = Gateway::start_with(move |c| {
        c.policies.push(file);
        c.upstreams.push(upstream);
    })
    .await;
    (gw, dir)
}

/// GET `/pve/nodes/{node}` over HTTP/2 (each request balanced on its own): the node that
/// answered.
async fn get(gw: &Gateway, client: &reqwest::Client, node: &str) -> String {
    let resp = client
        .get(gw.url(&format!("/pve/nodes/{node}")))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    body["data"]["node"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn round_robin_requests_name_the_endpoint_that_answered() {
    let (a, b, c) = (Node::start("a"), Node::start("b"), Node::start("c"));
    let (gw, _dir) = start(&[&a, &b, &c]).await;
    let url_of: BTreeMap<&str, String> = [("a", a.url()), ("b", b.url()), ("c", c.url())].into();
    let client = gw.client();
    let mut per_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for n in 0..6 {
        let path = format!("rr-{n}");
        let answered = get(&gw, &client, &path).await;
        let line = line_for(&format!("/pve/nodes/{path}"));
        let endpoint = field(&line, "endpoint");
        assert_eq!(endpoint, url_of[answered.as_str()], "{line}");
        assert_eq!(field(&line, "upstream"), "pve", "{line}");
        assert!(!line.contains("retries="), "nothing failed: {line}");
        *per_endpoint.entry(endpoint).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = url_of.values().map(|u| (u.clone(), 2)).collect();
    assert_eq!(per_endpoint, want, "six requests, two per endpoint");

    // A request aclgate answers itself names no upstream.
    let resp = client.get(gw.url("/pve/nodes/x")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let line = line_for("/pve/nodes/x");
    assert!(!line.contains("endpoint="), "{line}");
}

#[tokio::test]
async fn a_retried_get_names_the_endpoint_that_finally_answered() {
    let (mut dead, live) = (Node::start("dead"), Node::start("live"));
    dead.kill();
    let (gw, _dir) = start(&[&dead, &live]).await;
    let client = gw.client();
    // Round robin starts every other request at `dead`: of two, one is retried.
    let mut retried = 0;
    for n in 0..2 {
        let path = format!("retry-{n}");
        assert_eq!(get(&gw, &client, &path).await, "live");
        let line = line_for(&format!("/pve/nodes/{path}"));
        assert_eq!(field(&line, "endpoint"), live.url(), "{line}");
        if line.contains("retries=") {
            assert!(line.ends_with(" retries=1"), "{line}");
            retried += 1;
        }
        assert!(
            !line.contains(&secret_of("joe@pve!full")),
            "a credential in the log: {line}"
        );
    }
    assert_eq!(retried, 1, "one of the two GETs was tried on `dead` first");
}

/// The access line of the one request to `path` (the tests use distinct paths).
fn line_for(path: &str) -> String {
    let needle = format!(" path=\"{path}\" ");
    let lines: Vec<String> = access_lines()
        .into_iter()
        .filter(|l| l.contains(&needle))
        .collect();
    assert_eq!(lines.len(), 1, "lines for {path}: {lines:#?}");
    lines.into_iter().next().unwrap()
}

/// A quoted field's value (`name="value"`), or a bare number.
fn field(line: &str, name: &str) -> String {
    let start = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 2;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted[..quoted.find('"').unwrap()].to_owned(),
        None => rest.split(' ').next().unwrap().to_owned(),
    }
}

static LINES: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The access lines as tracing-subscriber writes them (the gateway under test logs through
/// tracing), collected for the whole test binary.
fn capture_access_log() {
    LINES.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("aclgate::access=info"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    });
}

fn access_lines() -> Vec<String> {
    let buf = LINES.get().unwrap().lock().unwrap();
    String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| l.contains("aclgate::access"))
        .map(str::to_owned)
        .collect()
}
