//! No secret in any log line, metric, `explain` output, CLI output or error body (issue 11
//! item 4), across one scenario that exercises every secret-bearing operation: password login
//! (wrong and right), TOTP enrolment and two-step login, ticket and CSRF use, token creation,
//! regeneration and use (API and CLI), wrong secrets, and `explain`.
//!
//! What it covers, honestly: the text this scenario makes the gateway and the CLI produce, with
//! every log level enabled (TRACE, all targets). The responses that *are* the credential (the
//! login answer carrying the ticket, the once-shown token secret) are left out of the scan, and
//! only those. It cannot prove that no other path logs a secret; it pins the ones above.

mod gateway_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::Value;
use tokio::net::TcpListener;

use aclgate::access_api::ApiServices;
use aclgate::auth::realm::crypt;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::server::{self, Listeners};
use gateway_support::{TOKENS, USER_CFG, Upstream, secret_of, shadow_text, write_atomic};

const PASSWORD: &str = "alice-Pw-7f3k9";
const TOTP_SECRET: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";

/// Everything the scenario produced that must hold no secret.
#[derive(Clone, Default)]
struct Corpus(Arc<Mutex<Vec<u8>>>);

impl Write for Corpus {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Corpus {
    fn add(&self, what: &str, text: &str) {
        let mut buf = self.0.lock().unwrap();
        buf.extend_from_slice(format!("\n== {what}\n{text}\n").as_bytes());
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Gw {
    dir: tempfile::TempDir,
    port: u16,
    client: reqwest::Client,
    reader: aclgate::snapshot::SnapshotReader,
    _upstream: Upstream,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Gw {
    async fn call(
        &self,
        auth: &[(&str, &str)],
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let url = format!("https://127.0.0.1:{}/api2/json{path}", self.port);
        let mut req = self.client.request(method.clone(), url);
        for (k, v) in auth {
            req = req.header(*k, *v);
        }
        req = if method == Method::GET {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

async fn start() -> Gw {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_atomic(
        &root.join("state/user.cfg"),
        &format!("{USER_CFG}user:alice@pve:1:0:::::\nacl:1:/:alice@pve:Administrator:\n"),
    );
    write_atomic(&root.join("state/priv/token.shadow"), &shadow_text(&TOKENS));
    write_atomic(
        &root.join("state/priv/shadow.cfg"),
        &format!("alice:{}:\n", crypt::hash_password(PASSWORD).unwrap()),
    );
    write_atomic(
        &root.join("policies/fwd.toml"),
        "prefix = \"/api2/json\"\n[[route]]\nmethod = \"GET\"\npath = \"/version\"\nuser = \"all\"\n",
    );
    let (cert, key) = (root.join("certs/c.crt"), root.join("certs/c.key"));
    aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
    let mut cfg = GatewayConfig::default();
    cfg.state.dir = root.join("state");
    cfg.policies = vec![
        root.join("policies/fwd.toml"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml"),
    ];
    cfg.tls.cert = cert.clone();
    cfg.tls.key = key;
    cfg.upstream.url = format!("http://{}", upstream.addr);
    cfg.auth.failure_delay_ms = 0;
    let cfg = Arc::new(cfg);
    let (reader, handle) = aclgate::reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
    let services = Arc::new(ApiServices::open(&cfg, handle, None).unwrap());
    let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tls.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let r = reader.clone();
    tokio::spawn(async move {
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: None,
        };
        let shutdown = async {
            let _ = stopped.await;
        };
        server::run_with_services(listeners, r, Some(services), shutdown)
            .await
            .unwrap();
    });
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    Gw {
        dir,
        port,
        client,
        reader,
        _upstream: upstream,
        _stop: stop,
    }
}

fn totp_now() -> String {
    let uri = format!("otpauth://totp/alice?secret={TOTP_SECRET}");
    let entry = aclgate::auth::tfa::totp::TotpEntry::parse(&uri).unwrap();
    entry.code(entry.counter(aclgate::auth::ticket::epoch_now()))
}

fn cli(state: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .env("ACLGATE_LOG", "trace")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn no_secret_in_logs_metrics_explain_cli_output_or_error_bodies() {
    let corpus = Corpus::default();
    let sink = corpus.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let gw = start().await;
    let mut secrets: Vec<(String, String)> = TOKENS
        .iter()
        .map(|t| (format!("fixture secret of {t}"), secret_of(t)))
        .collect();
    secrets.push(("alice's password".into(), PASSWORD.into()));
    secrets.push(("TOTP secret".into(), TOTP_SECRET.into()));

    // Password login: wrong, then right (the answer carries the ticket: not scanned).
    let (status, body) = gw
        .call(
            &[],
            Method::POST,
            "/access/ticket",
            &[("username", "alice@pve"), ("password", "alice-Wrong-1")],
        )
        .await;
    assert_eq!(status, 401);
    corpus.add("wrong password body", &body);
    let (status, body) = gw
        .call(
            &[],
            Method::POST,
            "/access/ticket",
            &[("username", "alice@pve"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = json(&body)["data"].clone();
    let ticket = data["ticket"].as_str().unwrap().to_owned();
    let csrf = data["CSRFPreventionToken"].as_str().unwrap().to_owned();
    let cookie = format!("PVEAuthCookie={ticket}");
    secrets.push(("ticket".into(), ticket.clone()));
    secrets.push((
        "ticket signature".into(),
        ticket.rsplit("::").next().unwrap().to_owned(),
    ));
    secrets.push(("CSRF token".into(), csrf.clone()));

    // Ticket use: a read, a write without and with the CSRF token.
    let (status, body) = gw
        .call(&[("cookie", &cookie)], Method::GET, "/access/users", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    corpus.add("users", &body);
    let path = "/access/users/alice@pve/token/ci";
    let (status, body) = gw
        .call(
            &[("cookie", &cookie)],
            Method::POST,
            path,
            &[("privsep", "0")],
        )
        .await;
    assert_eq!(status, 401, "no CSRF token: {body}");
    corpus.add("missing CSRF body", &body);
    let (status, body) = gw
        .call(
            &[("cookie", &cookie), ("csrfpreventiontoken", "1234:wrong")],
            Method::POST,
            path,
            &[],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    corpus.add("wrong CSRF body", &body);
    let with_csrf = [
        ("cookie", cookie.as_str()),
        ("csrfpreventiontoken", csrf.as_str()),
    ];
    // Token creation and regeneration (answers: the once-shown secret, not scanned).
    let (status, body) = gw
        .call(&with_csrf, Method::POST, path, &[("privsep", "0")])
        .await;
    assert_eq!(status, 200, "{body}");
    let first = json(&body)["data"]["value"].as_str().unwrap().to_owned();
    secrets.push(("API token secret".into(), first.clone()));
    let (status, body) = gw
        .call(&with_csrf, Method::PUT, path, &[("regenerate", "1")])
        .await;
    assert_eq!(status, 200, "{body}");
    let second = json(&body)["data"]["value"].as_str().unwrap().to_owned();
    secrets.push(("regenerated API token secret".into(), second.clone()));
    // Token use: the new secret works, the old and a wrong one get error bodies.
    let good = format!("PVEAPIToken=alice@pve!ci={second}");
    let (status, body) = gw
        .call(&[("authorization", &good)], Method::GET, "/version", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    corpus.add("forwarded answer", &body);
    for bad in [
        format!("PVEAPIToken=alice@pve!ci={first}"),
        format!("PVEAPIToken=alice@pve!ci={second}x"),
    ] {
        let (status, body) = gw
            .call(&[("authorization", &bad)], Method::GET, "/version", &[])
            .await;
        assert_eq!(status, 401);
        corpus.add("wrong token body", &body);
    }

    // TOTP: enrol, then log in in two steps (a wrong code first).
    let uri = format!("otpauth://totp/alice?secret={TOTP_SECRET}");
    let code = totp_now();
    let (status, body) = gw
        .call(
            &with_csrf,
            Method::POST,
            "/access/tfa/alice@pve",
            &[
                ("type", "totp"),
                ("description", "phone"),
                ("totp", &uri),
                ("value", &code),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    corpus.add("tfa add", &body);
    let (status, body) = gw
        .call(
            &[],
            Method::POST,
            "/access/ticket",
            &[("username", "alice@pve"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let half = json(&body)["data"]["ticket"].as_str().unwrap().to_owned();
    secrets.push(("half ticket".into(), half.clone()));
    let wrong = format!(
        "totp:{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let (status, body) = gw
        .call(
            &[],
            Method::POST,
            "/access/ticket",
            &[
                ("username", "alice@pve"),
                ("tfa-challenge", &half),
                ("password", &wrong),
            ],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    corpus.add("wrong TOTP body", &body);
    let (status, body) = gw
        .call(
            &[],
            Method::POST,
            "/access/ticket",
            &[
                ("username", "alice@pve"),
                ("tfa-challenge", &half),
                ("password", &format!("totp:{}", totp_now())),
            ],
        )
        .await;
    assert!(status == 200 || status == 401, "{body}"); // 401 if the code was used already
    if let Some(t) = json(&body)["data"]["ticket"].as_str() {
        secrets.push(("ticket after TOTP".into(), t.to_owned()));
    }
    corpus.add("metrics", &gw.reader.runtime().metrics.encode());

    // The CLI, with every log level on. The secret it shows once is taken out of its stdout.
    let state = gw.state();
    for (args, shows_secret) in [
        (
            vec![
                "user",
                "token",
                "add",
                "joe@pve",
                "cli1",
                "--output-format",
                "json",
            ],
            true,
        ),
        (
            vec![
                "user",
                "token",
                "modify",
                "joe@pve",
                "cli1",
                "--regenerate",
                "1",
                "--output-format",
                "json",
            ],
            true,
        ),
        (vec!["user", "token", "list", "joe@pve"], false),
        (vec!["user", "list"], false),
        (vec!["user", "token", "add", "joe@pve", "bad name"], false),
        (vec!["check-config"], false),
    ] {
        let (stdout, stderr) = cli(&state, &args);
        corpus.add(&format!("cli {args:?} stderr"), &stderr);
        if shows_secret {
            let value = json(&stdout)["value"]
                .as_str()
                .unwrap_or_else(|| panic!("{stdout}"))
                .to_owned();
            secrets.push((format!("CLI secret of {args:?}"), value.clone()));
            corpus.add(
                &format!("cli {args:?} stdout"),
                &stdout.replace(&value, "<shown once>"),
            );
        } else {
            corpus.add(&format!("cli {args:?} stdout"), &stdout);
        }
    }
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml");
    for authid in ["alice@pve!ci", "joe@pve!cli1", "alice@pve"] {
        let (stdout, stderr) = cli(
            &state,
            &[
                "explain",
                "--policy",
                policy.to_str().unwrap(),
                "--authid",
                authid,
                "--method",
                "POST",
                "--path",
                path,
            ],
        );
        assert!(!stdout.is_empty(), "explain said something: {stderr}");
        corpus.add("explain", &format!("{stdout}{stderr}"));
    }

    // Hashes of secrets are secret too.
    for file in ["priv/token.shadow", "priv/shadow.cfg"] {
        for line in std::fs::read_to_string(state.join(file)).unwrap().lines() {
            // `id sha256$salt$hash` (token.shadow), `user:$5$salt$hash:` (shadow.cfg): the
            // last `$` field is the hash.
            let field = line
                .split([' ', ':'])
                .find(|f| f.contains('$') && f.len() > 20);
            if let Some(hash) = field.and_then(|f| f.rsplit('$').next()) {
                secrets.push((format!("hash in {file}"), hash.to_owned()));
            }
        }
    }

    let hashes = secrets
        .iter()
        .filter(|(w, _)| w.starts_with("hash"))
        .count();
    assert!(hashes > TOKENS.len(), "the hashes were found ({hashes})");
    let text = corpus.text();
    assert!(text.contains("alice@pve!ci"), "token use was logged");
    assert!(
        text.contains("aclgate::access") || text.contains("decision"),
        "the access log was captured"
    );
    assert!(
        text.len() > 2000,
        "the scan saw a real amount of output ({} bytes)",
        text.len()
    );
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is long enough to search for");
        if let Some(at) = text.find(secret.as_str()) {
            let start = text[..at].rfind("\n==").unwrap_or(0);
            panic!(
                "{what} found in the output, in section {}",
                &text[start..at.min(start + 200)]
            );
        }
    }
    eprintln!("scanned {} bytes for {} secrets", text.len(), secrets.len());
}
