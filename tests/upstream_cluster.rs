//! Three real upstream processes as one named upstream: round robin across all; one SIGKILLed
//! under a bounded load of GETs gives zero failed requests, is marked down by the health check
//! and comes back when restarted; a POST that reached an endpoint is never sent twice, one that
//! could not connect goes to another endpoint; all endpoints down answers 503 at once.

mod gateway_support;
mod upstream_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gateway_support::Gateway;
use upstream_support::{Node, await_health, cluster, policy};

const POLICY: &str = r#"
upstream = "pve"
prefix = "/pve"

[[route]]
method = "GET"
path = "/nodes/{node}"
user = "all"

[[route]]
method = "POST"
path = "/nodes/{node}/drop"
user = "all"

[[route]]
method = "POST"
path = "/nodes/{node}/start"
user = "all"
"#;

async fn start(nodes: &[&Node], health: bool) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = policy(dir.path(), "pve.toml", POLICY);
    let upstream = cluster("pve", nodes, health);
    let gw = Gateway::start_with(move |c| {
        c.policies.push(file);
        c.upstreams.push(upstream);
    })
    .await;
    (gw, dir)
}

/// GET `/pve/nodes/{n}` with `client`: the status and the node that answered.
async fn get(gw: &Gateway, client: &reqwest::Client, n: usize) -> (u16, String) {
    let resp = client
        .get(gw.url(&format!("/pve/nodes/n{n}")))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default();
    (
        status,
        body["data"]["node"].as_str().unwrap_or("-").to_owned(),
    )
}

#[tokio::test]
async fn round_robin_survives_a_killed_endpoint_and_takes_it_back() {
    let (a, mut b, c) = (Node::start("a"), Node::start("b"), Node::start("c"));
    let (gw, _dir) = start(&[&a, &b, &c], true).await;

    // Round robin over HTTP/2 (each request balanced on its own).
    let client = gw.client();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in 0..30 {
        let (status, node) = get(&gw, &client, n).await;
        assert_eq!(status, 200);
        *counts.entry(node).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = [("a", 10), ("b", 10), ("c", 10)]
        .map(|(n, c)| (n.to_owned(), c))
        .into();
    assert_eq!(counts, want, "30 GETs across three endpoints");

    // A bounded load: 4 workers × 100 GETs (2 on HTTP/2, 2 on their own HTTP/1.1
    // connections); `b` is SIGKILLed once 40 have been answered.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killed = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut workers = Vec::new();
    for w in 0..4 {
        let client = if w % 2 == 0 {
            gw.client()
        } else {
            reqwest::Client::builder()
                .add_root_certificate(gw.ca.clone())
                .http1_only()
                .build()
                .unwrap()
        };
        let url = gw.url("/pve/nodes/x");
        let answered = answered.clone();
        workers.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for _ in 0..100 {
                let resp = client
                    .get(&url)
                    .header("authorization", Gateway::token_header("joe@pve!full"))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            failed
        }));
    }
    let watcher = {
        let answered = answered.clone();
        let killed = killed.clone();
        tokio::spawn(async move {
            while answered.load(std::sync::atomic::Ordering::Relaxed) < 40 {
                tokio::task::yield_now().await;
            }
            killed.notify_one();
        })
    };
    killed.notified().await;
    b.kill();
    watcher.await.unwrap();
    let mut failed = Vec::new();
    for w in workers {
        failed.extend(w.await.unwrap());
    }
    assert_eq!(
        failed,
        Vec::<String>::new(),
        "failed requests while `b` died"
    );
    await_health(gw.admin, "pve", &b.url(), 0).await;

    // Restarted on its port, `b` is checked healthy and gets requests again.
    let before = b.requests().len();
    b.restart();
    await_health(gw.admin, "pve", &b.url(), 1).await;
    for n in 0..6 {
        assert_eq!(get(&gw, &client, n).await.0, 200);
    }
    assert!(b.requests().len() > before, "`b` is back in the rotation");
    let text = upstream_support::metrics(gw.admin).await;
    assert!(
        text.contains(&format!(
            "aclgate_upstream_endpoint_requests_total{{upstream=\"pve\",endpoint=\"{}\"}}",
            a.url()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_post_that_reached_an_endpoint_is_never_sent_twice() {
    let (a, b, c) = (Node::start("a"), Node::start("b"), Node::start("c"));
    let (gw, _dir) = start(&[&a, &b, &c], false).await;
    let client = gw.client();
    for _ in 0..3 {
        let resp = client
            .post(gw.url("/pve/nodes/n1/drop"))
            .header("authorization", Gateway::token_header("joe@pve!full"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 502);
    }
    let posts: usize = [&a, &b, &c]
        .iter()
        .map(|n| {
            n.requests()
                .iter()
                .filter(|r| r["method"] == "POST")
                .count()
        })
        .sum();
    assert_eq!(posts, 3, "each POST reached exactly one endpoint once");
}

#[tokio::test]
async fn a_post_that_could_not_connect_goes_to_another_endpoint() {
    let (mut a, b) = (Node::start("a"), Node::start("b"));
    a.kill();
    let (gw, _dir) = start(&[&a, &b], false).await;
    let client = gw.client();
    for _ in 0..4 {
        let resp = client
            .post(gw.url("/pve/nodes/n1/start"))
            .header("authorization", Gateway::token_header("joe@pve!full"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let posts = b
        .requests()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 4, "every POST reached the live endpoint once");
}

#[tokio::test]
async fn all_endpoints_down_is_a_fast_503() {
    let (mut a, mut b, mut c) = (Node::start("a"), Node::start("b"), Node::start("c"));
    let (gw, _dir) = start(&[&a, &b, &c], true).await;
    for node in [&mut a, &mut b, &mut c] {
        node.kill();
    }
    for node in [&a, &b, &c] {
        await_health(gw.admin, "pve", &node.url(), 0).await;
    }
    let client = gw.client();
    let started = Instant::now();
    let resp = client
        .get(gw.url("/pve/nodes/n1"))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["data"], serde_json::Value::Null);
    assert!(body["message"].as_str().unwrap().contains("unavailable"));
    // No connection attempt is made: the answer takes a request's own time.
    assert!(elapsed < Duration::from_millis(500), "503 took {elapsed:?}");
}
