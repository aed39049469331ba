//! A real OpenID provider for the openid realm tests: npm `oidc-provider` run by `node` from
//! `tests/support_oidc/server.mjs` (installed by `scripts/test.sh` into
//! `tests/support_oidc/node_modules`), and a [`Browser`] that plays the user's part of the
//! authorization-code flow at that provider (log in, consent) and hands back `code` + `state`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The redirect URL registered for the test client (never fetched: the browser stops at it).
pub const REDIRECT: &str = "https://aclgate.test:8006";
/// The provider's client id and secret for aclgate.
pub const CLIENT_ID: &str = "aclgate";
pub const CLIENT_SECRET: &str = "aclgate-secret";

/// A running provider; killed when dropped.
pub struct OidcProvider {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl OidcProvider {
    /// Start on a free port.
    pub fn start() -> OidcProvider {
        Self::start_on(0)
    }

    /// Start on `port` (0: a free one); returns once it accepts connections. A restart on
    /// the same port signs with a new key.
    pub fn start_on(port: u16) -> OidcProvider {
        Self::start_redirecting(port, REDIRECT)
    }

    /// [`OidcProvider::start_on`] with `redirect` as the client's registered redirect URL
    /// (a browser test sends the user back to the gateway's own page).
    pub fn start_redirecting(port: u16, redirect: &str) -> OidcProvider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support_oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "npm oidc-provider missing in {}: run scripts/test.sh (it installs it)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT", redirect)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (apt nodejs)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("provider stdout");
        let Some(port) = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("oidc provider did not start: {line:?} {err}");
        };
        // Drain both pipes (warnings, logs): a closed or full pipe would stop the provider.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        if let Some(mut e) = child.stderr.take() {
            std::thread::spawn(move || std::io::copy(&mut e, &mut std::io::sink()));
        }
        OidcProvider { child, port }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stop it and wait until it is gone (its port is free again).
    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user's browser at the provider: a cookie jar, no automatic redirects.
pub struct Browser {
    client: reqwest::Client,
}

impl Browser {
    /// A fresh browser (no session at the provider).
    pub fn new() -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { client }
    }

    /// Follow `auth_url`, log in as `login` and consent when asked, until the provider
    /// redirects to [`REDIRECT`]; that redirect's query (`code`, `state`, ...).
    pub async fn authorize(&self, auth_url: &str, login: &str) -> Vec<(String, String)> {
        let mut url = reqwest::Url::parse(auth_url).unwrap();
        for _ in 0..12 {
            let resp = self.client.get(url.clone()).send().await.unwrap();
            let resp = if resp.status().is_redirection() {
                resp
            } else {
                let body = resp.text().await.unwrap();
                let form = if body.contains(r#"name="prompt" value="login""#) {
                    vec![("prompt", "login"), ("login", login), ("password", "any")]
                } else if body.contains(r#"name="prompt" value="consent""#) {
                    vec![("prompt", "consent")]
                } else {
                    panic!("unexpected provider page at {url}: {body}");
                };
                self.client
                    .post(url.clone())
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            };
            assert!(resp.status().is_redirection(), "{}", resp.status());
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            if location.starts_with(REDIRECT) {
                let back = reqwest::Url::parse(&location).unwrap();
                return back.query_pairs().into_owned().collect();
            }
            url = url.join(&location).unwrap();
        }
        panic!("the provider never redirected back");
    }
}

/// The value of `name` in a query.
pub fn param<'a>(query: &'a [(String, String)], name: &str) -> &'a str {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{name}` in {query:?}"))
}
