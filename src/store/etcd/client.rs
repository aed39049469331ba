//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
//! `/v3/watch`, ...; HTTP/1.1, keys and values base64, int64 as strings). No protobuf, no
//! gRPC code generation: the build needs only a Rust toolchain (docs/etcd.md, "Client").
//!
//! Endpoints are tried in order from the last one that answered: a member that is down costs
//! one failed connect, never a failed request while another member answers.

use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::config::store::EtcdSettings;

/// Why a request to etcd failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EtcdError {
    /// No member answered (connect refused, timeout, no leader).
    #[error("etcd is unreachable: {0}")]
    Unavailable(String),
    /// The revision asked for is older than etcd's compaction point.
    #[error("etcd: the requested revision has been compacted")]
    Compacted,
    /// etcd refused the request.
    #[error("etcd: {0}")]
    Server(String),
    /// The settings are unusable (TLS files, password file).
    #[error("etcd settings: {0}")]
    Settings(String),
}

/// How long a call keeps trying while etcd answers but cannot serve (a leader election takes
/// about a second).
pub const BUSY_WAIT: Duration = Duration::from_secs(5);

/// A failed call: why, and whether it may have taken effect all the same (a member answered
/// "unavailable" or "timed out", or the connection broke after the request was sent); `false`
/// when no member took the request or one refused it outright.
#[derive(Debug, Clone)]
pub struct Failed {
    pub error: EtcdError,
    pub maybe_applied: bool,
}

impl Failed {
    fn unsent(error: EtcdError) -> Failed {
        Failed {
            error,
            maybe_applied: false,
        }
    }
}

/// A connection description: the members, TLS and credentials.
pub struct Client {
    unary: ureq::Agent,
    streaming: ureq::Agent,
    endpoints: Vec<String>,
    current: AtomicUsize,
    credentials: Option<(String, String)>,
    token: Mutex<Option<String>>,
}

/// `header` of every response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Header {
    #[serde(default, deserialize_with = "int")]
    pub revision: i64,
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default)]
    pub member_id: String,
}

/// A key-value pair as etcd sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct Kv {
    #[serde(deserialize_with = "b64")]
    pub key: Vec<u8>,
    #[serde(default, deserialize_with = "b64")]
    pub value: Vec<u8>,
    #[serde(default, deserialize_with = "int")]
    pub mod_revision: i64,
    /// The lease the key is bound to (0: none).
    #[serde(default, deserialize_with = "int")]
    pub lease: i64,
}

// === impl Client ===

impl Client {
    /// Prepare a client for `settings` (nothing is contacted yet).
    pub fn new(settings: &EtcdSettings) -> Result<Client, EtcdError> {
        if settings.endpoints.is_empty() {
            return Err(EtcdError::Settings(
                "state.etcd.endpoints is empty".to_owned(),
            ));
        }
        let endpoints: Vec<String> = settings
            .endpoints
            .iter()
            .map(|e| {
                let e = e.trim_end_matches('/');
                if e.contains("://") {
                    e.to_owned()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let timeout = Duration::from_millis(settings.timeout_ms.max(100));
        let mut unary = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout);
        // A watch with nothing to say still gets an answer every probe interval or so (progress
        // notifications, when etcd sends them); silence for this long means a dead stream.
        let stall = Duration::from_millis((settings.probe_interval_ms * 3).max(3000));
        let mut streaming = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(stall);
        if endpoints.iter().any(|e| e.starts_with("https://")) {
            let tls = Arc::new(tls_config(settings)?);
            unary = unary.tls_config(tls.clone());
            streaming = streaming.tls_config(tls);
        }
        let credentials = match (&settings.user, &settings.password_file) {
            (Some(user), Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    EtcdError::Settings(format!("cannot read `{}`: {e}", file.display()))
                })?;
                let password = text.lines().next().unwrap_or_default().to_owned();
                Some((user.clone(), password))
            }
            (Some(_), None) => {
                return Err(EtcdError::Settings(
                    "state.etcd.user needs state.etcd.password_file".to_owned(),
                ));
            }
            _ => None,
        };
        Ok(Client {
            unary: unary.build(),
            streaming: streaming.build(),
            endpoints,
            current: AtomicUsize::new(0),
            credentials,
            token: Mutex::new(None),
        })
    }

    /// The members' client URLs as configured.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// One request/response call (`path` such as `/v3/kv/range`), failing over between members,
    /// and retried for up to [`BUSY_WAIT`] while a member answers but cannot serve (no leader
    /// during an election, a timeout). Only for calls that may be repeated: reads, and writes
    /// whose compare makes a second attempt harmless (the lock, the commit). When every member
    /// refuses the connection it fails at once: etcd is down, not electing.
    pub fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, EtcdError> {
        self.call_tracked(path, body).map_err(|f| f.error)
    }

    /// [`Client::call`], saying on failure whether any attempt may have taken effect (for a
    /// write whose outcome must then be found out, never assumed).
    pub fn call_tracked<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failed> {
        let deadline = Instant::now() + BUSY_WAIT;
        let mut pause = Duration::from_millis(50);
        let mut maybe_applied = false;
        loop {
            let failed = match self.round(&self.unary, path, body) {
                Ok(reader) => match serde_json::from_reader(reader) {
                    Ok(answer) => return Ok(answer),
                    // The answer broke off: as good as no answer.
                    Err(e) if e.is_io() => Failed {
                        error: EtcdError::Unavailable(format!("answer to {path}: {e}")),
                        maybe_applied: true,
                    },
                    Err(e) => {
                        return Err(Failed {
                            error: EtcdError::Server(format!("unreadable answer to {path}: {e}")),
                            maybe_applied: true,
                        });
                    }
                },
                Err(f) => f,
            };
            maybe_applied |= failed.maybe_applied;
            let busy = failed.maybe_applied && matches!(failed.error, EtcdError::Unavailable(_));
            if !busy || Instant::now() + pause > deadline {
                return Err(Failed {
                    error: failed.error,
                    maybe_applied,
                });
            }
            tracing::debug!(error = %failed.error, path, "etcd busy (an election?); trying again");
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// One attempt of [`Client::call`] (no retry): for the currency probe, which must report
    /// trouble at once.
    pub fn call_once<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, EtcdError> {
        let reader = self.send(&self.unary, path, body)?;
        serde_json::from_reader(reader)
            .map_err(|e| EtcdError::Server(format!("unreadable answer to {path}: {e}")))
    }

    /// The same call against one member only (for `store status`).
    pub fn call_member<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, EtcdError> {
        let reader = self
            .send_to(&self.unary, endpoint, path, body)
            .map_err(|f| f.error)?;
        serde_json::from_reader(reader)
            .map_err(|e| EtcdError::Server(format!("unreadable answer to {path}: {e}")))
    }

    /// A streaming call (`/v3/watch`): the body is read as it arrives; a read that waits
    /// longer than three probe intervals fails (the stream is then considered dead).
    pub fn stream(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Box<dyn BufRead + Send>, EtcdError> {
        let reader = self.send(&self.streaming, path, body)?;
        Ok(Box::new(std::io::BufReader::new(reader)))
    }

    fn send(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Box<dyn std::io::Read + Send + Sync>, EtcdError> {
        self.round(agent, path, body).map_err(|f| f.error)
    }

    /// Try every member once, from the last one that answered.
    fn round(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Box<dyn std::io::Read + Send + Sync>, Failed> {
        let n = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut last = None;
        let mut maybe_applied = false;
        for i in 0..n {
            let at = (first + i) % n;
            match self.send_to(agent, &self.endpoints[at], path, body) {
                Ok(r) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(r);
                }
                Err(
                    f @ Failed {
                        error: EtcdError::Unavailable(_),
                        ..
                    },
                ) => {
                    maybe_applied |= f.maybe_applied;
                    last = Some(f.error);
                }
                Err(f) => {
                    return Err(Failed {
                        maybe_applied: maybe_applied || f.maybe_applied,
                        ..f
                    });
                }
            }
        }
        Err(Failed {
            error: last.unwrap_or_else(|| EtcdError::Unavailable(String::new())),
            maybe_applied,
        })
    }

    fn send_to(
        &self,
        agent: &ureq::Agent,
        endpoint: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Box<dyn std::io::Read + Send + Sync>, Failed> {
        let mut retried_auth = false;
        loop {
            let mut request = agent.post(&format!("{endpoint}{path}"));
            if let Some(token) = self.auth_token(agent, endpoint).map_err(Failed::unsent)? {
                request = request.set("Authorization", &token);
            }
            let request = request.set("Content-Type", "application/json");
            match request.send_string(&body.to_string()) {
                Ok(resp) => return Ok(resp.into_reader()),
                Err(ureq::Error::Status(status, resp)) => {
                    let err = match server_error(status, resp) {
                        EtcdError::Server(m) => EtcdError::Server(format!("{path}: {m}")),
                        other => other,
                    };
                    if matches!(&err, EtcdError::Server(m) if m.contains("invalid auth token"))
                        && !retried_auth
                    {
                        retried_auth = true;
                        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        continue;
                    }
                    // "No leader", "timed out": maybe proposed; any other answer is a refusal.
                    let maybe_applied = matches!(err, EtcdError::Unavailable(_));
                    return Err(Failed {
                        error: err,
                        maybe_applied,
                    });
                }
                Err(ureq::Error::Transport(t)) => {
                    // A refused or timed-out connect never carried the request.
                    let maybe_applied = !matches!(
                        t.kind(),
                        ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns
                    );
                    return Err(Failed {
                        error: EtcdError::Unavailable(format!("{endpoint}: {t}")),
                        maybe_applied,
                    });
                }
            }
        }
    }

    /// The auth token for user + password credentials (fetched once, again when refused).
    fn auth_token(&self, agent: &ureq::Agent, endpoint: &str) -> Result<Option<String>, EtcdError> {
        let Some((user, password)) = &self.credentials else {
            return Ok(None);
        };
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if token.is_none() {
            let body = serde_json::json!({ "name": user, "password": password });
            let resp = agent
                .post(&format!("{endpoint}/v3/auth/authenticate"))
                .set("Content-Type", "application/json")
                .send_string(&body.to_string())
                .map_err(|e| match e {
                    ureq::Error::Status(status, resp) => server_error(status, resp),
                    ureq::Error::Transport(t) => EtcdError::Unavailable(format!("{endpoint}: {t}")),
                })?;
            #[derive(Deserialize)]
            struct Auth {
                token: String,
            }
            let auth: Auth = serde_json::from_reader(resp.into_reader())
                .map_err(|e| EtcdError::Server(format!("authenticate: {e}")))?;
            *token = Some(auth.token);
        }
        Ok(token.clone())
    }
}

/// An error answer (`{"error": ..., "code": N}`) as an [`EtcdError`].
fn server_error(status: u16, resp: ureq::Response) -> EtcdError {
    #[derive(Deserialize, Default)]
    struct Answer {
        #[serde(default)]
        message: String,
        #[serde(default)]
        code: i64,
    }
    // Read what arrives: etcd's gateway ends an error body with a chunked trailer that the
    // reader refuses, after the JSON.
    let mut body = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut std::io::Read::take(resp.into_reader(), 64 * 1024),
        &mut body,
    );
    let text = String::from_utf8_lossy(&body);
    let answer: Answer = serde_json::from_str(&text).unwrap_or_default();
    match answer.code {
        11 if answer.message.contains("compacted") => EtcdError::Compacted,
        // Unavailable, deadline exceeded: another member may do better.
        14 | 4 => EtcdError::Unavailable(answer.message),
        _ if answer.message.is_empty() => {
            let text: String = text.chars().take(120).collect();
            EtcdError::Server(format!("HTTP {status}: {}", text.trim()))
        }
        _ => EtcdError::Server(answer.message),
    }
}

fn tls_config(settings: &EtcdSettings) -> Result<rustls::ClientConfig, EtcdError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| EtcdError::Settings(format!("cannot read `{}`: {e}", p.display())))
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = settings
        .ca
        .as_ref()
        .ok_or_else(|| EtcdError::Settings("https endpoints need state.etcd.ca".to_owned()))?;
    for cert in rustls_pemfile::certs(&mut read(ca)?.as_slice()) {
        let cert = cert.map_err(|e| EtcdError::Settings(format!("{}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| EtcdError::Settings(format!("{}: {e}", ca.display())))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| EtcdError::Settings(e.to_string()))?
    .with_root_certificates(roots);
    match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let chain = rustls_pemfile::certs(&mut read(cert)?.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EtcdError::Settings(format!("{}: {e}", cert.display())))?;
            let key_der = rustls_pemfile::private_key(&mut read(key)?.as_slice())
                .map_err(|e| EtcdError::Settings(format!("{}: {e}", key.display())))?
                .ok_or_else(|| EtcdError::Settings(format!("{}: no private key", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| EtcdError::Settings(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(EtcdError::Settings(
            "state.etcd.cert and state.etcd.key go together".to_owned(),
        )),
    }
}

/// Base64 text.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// An int64 field: etcd's JSON gateway sends them as strings.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(i64),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn b64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}
