//! A small W3C WebDriver client over plain HTTP (reqwest) for Debian's `chromedriver` driving
//! headless `chromium`: sessions, elements, script, screenshots and Chrome's virtual WebAuthn
//! authenticator (a WebDriver extension that client crates wrap unevenly, so all of it is raw
//! calls). The driver process is started on a free port and killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for the page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// A running chromedriver.
pub struct Driver {
    child: Child,
    port: u16,
    url: String,
    /// Sessions not yet quit: a test that fails midway leaves them to `Drop`, which ends them
    /// so that no browser outlives its driver.
    open: std::sync::Mutex<Vec<String>>,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// One browser session.
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Driver {
    /// Start chromedriver on a free port and wait until it answers `/status`.
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed");
        let driver = Driver {
            child,
            port,
            open: std::sync::Mutex::new(Vec::new()),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _profile: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                && let Ok(text) = r.text().await
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// A new headless Chromium session with a fresh profile (flags from the real-components
    /// guide: root in CI needs --no-sandbox; nothing may reach the network).
    pub async fn session(&self, width: u32, height: u32) -> Session<'_> {
        let profile = self._profile.path().join(format!("p{}", rand_suffix()));
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--ignore-certificate-errors".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let v = self.call("POST", "/session", Some(caps)).await;
        let id = v["sessionId"].as_str().expect("session id").to_owned();
        self.open.lock().unwrap().push(id.clone());
        Session { driver: self, id }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or(json!({})).to_string()),
        };
        let resp = req.send().await.expect("webdriver request");
        let text = resp.text().await.expect("webdriver answer");
        let v: Value = serde_json::from_str(&text).expect("webdriver json");
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "webdriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        let resp = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        match v["value"]["error"].as_str() {
            Some(e) => Err(format!("{method} {path}: {e}")),
            None => Ok(v["value"].clone()),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Blocking on purpose (no runtime in Drop): end every session the test left open.
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(|e| e.into_inner()));
        for id in open {
            delete_session_blocking(self.port, &id);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/<id>` over a plain socket, waiting for the answer (the browser has quit).
fn delete_session_blocking(port: u16, id: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(WAIT));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Read until the whole answer is in (chromedriver may keep the connection open).
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_none_or(|n| body.len() >= n) {
                break;
            }
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Session<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// Load `url`.
    pub async fn goto(&self, url: &str) {
        self.driver
            .call("POST", &self.path("/url"), Some(json!({ "url": url })))
            .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.driver
            .call(
                "POST",
                &self.path("/execute/sync"),
                Some(json!({"script": script, "args": args})),
            )
            .await
    }

    /// The first element matching `css` right now, if any.
    pub async fn find_now(&self, css: &str) -> Option<Element> {
        let v = self
            .driver
            .try_call(
                "POST",
                &self.path("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await
            .ok()?;
        v[ELEMENT].as_str().map(|s| Element(s.to_owned()))
    }

    /// Wait until an element matching `css` is displayed, and return it.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css).await
                && self.displayed(&e).await
            {
                return e;
            }
            if Instant::now() >= deadline {
                let errors = self.exec("return window.AG && AG.errors", json!([])).await;
                panic!("no visible element `{css}`; script errors: {errors}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the JavaScript expression `cond` is truthy (`what` names it on failure).
    pub async fn until(&self, what: &str, cond: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let script = format!("return ({cond});");
        loop {
            let v = self.exec(&script, json!([])).await;
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() >= deadline {
                let errors = self.exec("return window.AG && AG.errors", json!([])).await;
                panic!("timed out waiting for {what}; script errors: {errors}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn displayed(&self, e: &Element) -> bool {
        self.exec(
            "const e = arguments[0]; return !!(e.offsetParent || e.getClientRects().length);",
            json!([{ ELEMENT: e.0 }]),
        )
        .await
            == true
    }

    /// Click `css` (waits for it).
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.driver
            .call("POST", &self.path(&format!("/element/{}/click", e.0)), None)
            .await;
    }

    /// Clear `css` and type `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.driver
            .call("POST", &self.path(&format!("/element/{}/clear", e.0)), None)
            .await;
        self.type_into(&e, text).await;
    }

    /// Type `text` (WebDriver key codes allowed, e.g. `\u{E007}` = Enter) into `e`.
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.driver
            .call(
                "POST",
                &self.path(&format!("/element/{}/value", e.0)),
                Some(json!({ "text": text })),
            )
            .await;
    }

    /// The visible text of `css` (waits for it).
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        let v = self
            .driver
            .call("GET", &self.path(&format!("/element/{}/text", e.0)), None)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Save a PNG screenshot of the page as `dir/name.png` and return its path.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let v = self
            .driver
            .call("GET", &self.path("/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Resize the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.driver
            .call(
                "POST",
                &self.path("/window/rect"),
                Some(json!({"width": width, "height": height})),
            )
            .await;
    }

    /// Add Chrome's virtual CTAP2 authenticator (user present and verified automatically).
    pub async fn add_virtual_authenticator(&self) -> String {
        let v = self
            .driver
            .call(
                "POST",
                &self.path("/webauthn/authenticator"),
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": false,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                })),
            )
            .await;
        v.as_str().expect("authenticator id").to_owned()
    }

    /// Add Chrome's virtual U2F (CTAP1) authenticator: a security key that knows only the U2F
    /// protocol, as the keys Proxmox registered through the old U2F API.
    pub async fn add_virtual_u2f_authenticator(&self) -> String {
        let v = self
            .driver
            .call(
                "POST",
                &self.path("/webauthn/authenticator"),
                Some(json!({
                    "protocol": "ctap1/u2f",
                    "transport": "usb",
                    "hasResidentKey": false,
                    "hasUserVerification": false,
                    "isUserConsenting": true,
                })),
            )
            .await;
        v.as_str().expect("authenticator id").to_owned()
    }

    /// Give the virtual authenticator a credential (WebDriver's Add Credential: `credentialId`,
    /// `rpId`, `privateKey` as base64url PKCS#8, `signCount`, `isResidentCredential`).
    pub async fn add_credential(&self, authenticator: &str, credential: Value) {
        self.driver
            .call(
                "POST",
                &self.path(&format!(
                    "/webauthn/authenticator/{authenticator}/credential"
                )),
                Some(credential),
            )
            .await;
    }

    /// The credentials the virtual authenticator holds.
    pub async fn credentials(&self, authenticator: &str) -> Value {
        self.driver
            .call(
                "GET",
                &self.path(&format!(
                    "/webauthn/authenticator/{authenticator}/credentials"
                )),
                None,
            )
            .await
    }

    /// End the session (closes the browser).
    pub async fn quit(self) {
        self.driver.open.lock().unwrap().retain(|s| *s != self.id);
        self.driver
            .call("DELETE", &format!("/session/{}", self.id), None)
            .await;
    }
}
