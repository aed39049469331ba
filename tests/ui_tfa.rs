//! Second factors in a real browser: a user enrols TOTP in the Two Factor panel (the secret
//! drawn as a QR code by aclgate, the verification code from pyotp) and logs in again with the
//! second step; another registers a WebAuthn credential with Chrome's virtual authenticator and
//! logs in with it; "log out everywhere" makes the ticket it held worthless. A U2F key
//! registered over the API (as a U2F client or a tfa.cfg copied from Proxmox leaves it) logs in
//! through the U2F tab, which signs with WebAuthn's `appid` extension, and is then listed in the
//! Two Factor panel and removed there.

mod u2f_support;
mod ui_support;

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use u2f_support::SoftU2f;

use ui_support::webdriver::{Driver, Session};
use ui_support::{
    Gui, login, login_first_step, menu_item, open_panel, select_row, shots, submit, toolbar,
    type_field, wait_row, wait_workspace,
};

/// One browser at a time: the CI machine has two cores.
static BROWSER: Mutex<()> = Mutex::const_new(());

const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:Alice::::
user:bob@pve:1:0:Bob::::
user:carol@pve:1:0:Carol::::
";

/// The TOTP code for `secret`, `offset` seconds from now, from pyotp (the project's .venv).
fn pyotp(secret: &str, offset: i64) -> String {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python3");
    let script = format!(
        "import pyotp, time; print(pyotp.TOTP('{secret}').at(int(time.time()) + {offset}))"
    );
    let out = Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("the .venv with pyotp (scripts/test.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn logout(s: &Session<'_>) {
    s.click(".user-btn").await;
    s.exec(
        "Array.from(document.querySelectorAll('.menu-item')).find(m => m.textContent === 'Logout').click()",
        json!([]),
    )
    .await;
    s.find("dialog input[name=username]").await;
}

#[tokio::test]
async fn totp_enrolment_then_login_with_the_second_step() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(USER_CFG, &[("alice", "alice-pw-1")]).await;
    let driver = Driver::start().await;
    let s = driver.session(1280, 900).await;
    s.goto(&gui.url("/")).await;
    login(&s, "alice", "pve", "alice-pw-1").await;

    open_panel(&s, "tfa").await;
    toolbar(&s, "tfa-add").await;
    menu_item(&s, "TOTP").await;
    // The window made a 160-bit base32 secret and aclgate drew its QR code.
    let secret = s
        .until(
            "a secret",
            "document.querySelector('dialog[open] [name=secret]')?.value",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 32, "{secret}");
    assert!(
        secret
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
    );
    s.until(
        "the QR code",
        "document.querySelector('dialog[open] #totp-qr svg path') !== null",
    )
    .await;
    // Randomize draws a new secret (and a new QR code).
    s.click("dialog[open] .field-input .btn").await;
    let fresh = s
        .exec(
            "return document.querySelector('dialog[open] [name=secret]').value",
            json!([]),
        )
        .await;
    assert_ne!(fresh, json!(secret));
    let secret = fresh.as_str().unwrap().to_owned();
    type_field(&s, "description", "phone").await;
    type_field(&s, "value", &pyotp(&secret, 0)).await;
    type_field(&s, "password", "alice-pw-1").await;
    s.screenshot(&shots(), "05-tfa-totp").await;
    submit(&s).await;
    wait_row(&s, "phone").await;
    s.screenshot(&shots(), "05-tfa").await;

    // Log in again: the password, then the TOTP tab of the second-factor window.
    logout(&s).await;
    login_first_step(&s, "alice", "pve", "alice-pw-1").await;
    s.find("#tfa-totp").await;
    let title = s.text("#tfa-window .win-title").await;
    assert_eq!(title, "Second login factor required");
    // A wrong code: the window stays, with Proxmox's login-failed text.
    s.fill("#tfa-totp", "000000").await;
    s.click("#tfa-window .win-buttons .primary").await;
    s.until(
        "the failure",
        "document.querySelector('#tfa-window .tfa-status')?.textContent.includes('Login failed')",
    )
    .await;
    // The next step's code (the current one was used for the enrolment).
    s.fill("#tfa-totp", &pyotp(&secret, 30)).await;
    s.click("#tfa-window .win-buttons .primary").await;
    wait_workspace(&s, "alice@pve").await;
    s.quit().await;
}

#[tokio::test]
async fn webauthn_registration_and_login_with_a_virtual_authenticator() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(USER_CFG, &[("bob", "bob-pw-123")]).await;
    let driver = Driver::start().await;
    let s = driver.session(1280, 800).await;
    s.goto(&gui.url("/")).await;
    let authenticator = s.add_virtual_authenticator().await;
    login(&s, "bob", "pve", "bob-pw-123").await;

    open_panel(&s, "tfa").await;
    toolbar(&s, "tfa-add").await;
    menu_item(&s, "WebAuthn").await;
    type_field(&s, "description", "virtual key").await;
    type_field(&s, "password", "bob-pw-123").await;
    submit(&s).await;
    wait_row(&s, "virtual key").await;
    let creds = s.credentials(&authenticator).await;
    assert_eq!(creds.as_array().map(Vec::len), Some(1), "{creds}");

    logout(&s).await;
    login_first_step(&s, "bob", "pve", "bob-pw-123").await;
    s.find("#tfa-pane-webauthn").await;
    let button = s.text("#tfa-window .win-buttons .primary").await;
    assert_eq!(button, "Start WebAuthn challenge");
    s.click("#tfa-window .win-buttons .primary").await;
    wait_workspace(&s, "bob@pve").await;
    let signs = s.credentials(&authenticator).await;
    assert!(signs[0]["signCount"].as_u64() >= Some(1), "{signs}");

    // Log out everywhere: the ticket this browser held is refused afterwards, wherever used.
    let ticket = s
        .exec("return AG.session.ticket", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let client = gui.client();
    let with_ticket = || {
        client
            .get(gui.api_url("/access/users"))
            .header("Cookie", format!("PVEAuthCookie={ticket}"))
            .send()
    };
    assert_eq!(with_ticket().await.unwrap().status(), 200);
    s.click(".user-btn").await;
    s.exec(
        "Array.from(document.querySelectorAll('.menu-item')).find(m => m.textContent === 'Log out everywhere').click()",
        json!([]),
    )
    .await;
    s.click("dialog[open] .win-buttons .danger").await;
    s.find("dialog input[name=username]").await;
    assert_eq!(with_ticket().await.unwrap().status(), 401);
    s.quit().await;
}

/// `POST /access/tfa/{userid}` as `user` (ticket + CSRF token), the answer's `data`.
async fn tfa_post(
    gui: &Gui,
    auth: &(String, String),
    userid: &str,
    form: &[(&str, &str)],
) -> Value {
    let resp = gui
        .client()
        .post(gui.api_url(&format!("/access/tfa/{userid}")))
        .header("Cookie", format!("PVEAuthCookie={}", auth.0))
        .header("CSRFPreventionToken", &auth.1)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    body["data"].clone()
}

#[tokio::test]
async fn u2f_key_logs_in_through_the_appid_extension_and_is_removed_in_the_panel() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(USER_CFG, &[("carol", "carol-pw-12")]).await;
    // The AppID is the page's origin, over https: browsers refuse http AppIDs (the page is
    // served by the TLS listener, the certificate accepted by the test browser). The key is
    // registered the way a U2F client does it.
    let appid = format!("https://localhost:{}", gui.tls.port());
    let dc_path = gui.state().join("datacenter.cfg");
    let dc = std::fs::read_to_string(&dc_path).unwrap();
    std::fs::write(&dc_path, format!("{dc}u2f: appid={appid}\n")).unwrap();
    let login: Value = gui
        .client()
        .post(gui.api_url("/access/ticket"))
        .form(&[("username", "carol@pve"), ("password", "carol-pw-12")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let auth = (
        login["data"]["ticket"].as_str().unwrap().to_owned(),
        login["data"]["CSRFPreventionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let token = SoftU2f::new();
    let base = [
        ("type", "u2f"),
        ("description", "old u2f key"),
        ("password", "carol-pw-12"),
    ];
    let first = tfa_post(&gui, &auth, "carol@pve", &base).await;
    let challenge = first["challenge"].as_str().unwrap().to_owned();
    let value = token.register(&challenge, &appid);
    let mut form = base.to_vec();
    form.extend([("challenge", challenge.as_str()), ("value", value.as_str())]);
    let id = tfa_post(&gui, &auth, "carol@pve", &form).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The browser's authenticator holds that key, under the AppID (what `appid` looks up).
    let driver = Driver::start().await;
    let s = driver.session(1280, 800).await;
    s.goto(&format!("{appid}/")).await;
    let authenticator = s.add_virtual_u2f_authenticator().await;
    let pkcs8 = token.key.to_pkcs8_der().unwrap();
    s.add_credential(
        &authenticator,
        json!({
            "credentialId": URL_SAFE_NO_PAD.encode(&token.handle),
            "rpId": appid,
            "privateKey": URL_SAFE_NO_PAD.encode(pkcs8.as_bytes()),
            "signCount": 7,
            "isResidentCredential": false,
        }),
    )
    .await;

    login_first_step(&s, "carol", "pve", "carol-pw-12").await;
    s.find("#tfa-pane-u2f").await;
    // Only U2F is offered: its tab is the active one; the Yubico tab stays disabled.
    let tab = s
        .exec(
            "return [document.querySelector('#tfa-tab-u2f').hidden, \
             document.querySelector('#tfa-tab-u2f').getAttribute('aria-selected'), \
             document.querySelector('#tfa-tab-yubico').disabled]",
            json!([]),
        )
        .await;
    assert_eq!(tab, json!([false, "true", true]));
    assert_eq!(
        s.text("#tfa-window .win-buttons .primary").await,
        "Start U2F challenge"
    );
    s.screenshot(&shots(), "06-tfa-u2f-login").await;
    s.click("#tfa-window .win-buttons .primary").await;
    let outcome = s
        .until(
            "the U2F answer",
            "(() => { const t = document.querySelector('#tfa-window .tfa-status')?.textContent; \
             return !document.getElementById('app').hidden || \
             (t && t !== 'Waiting for second factor.' ? t : null); })()",
        )
        .await;
    assert_eq!(outcome, true, "U2F login: {outcome}");
    wait_workspace(&s, "carol@pve").await;
    let signs = s.credentials(&authenticator).await;
    assert_eq!(signs[0]["signCount"].as_u64(), Some(8), "{signs}");
    // The server kept the counter it saw (a clone lagging behind is refused from now on).
    let tfa_cfg = std::fs::read_to_string(gui.state().join("priv/tfa.cfg")).unwrap();
    let stored: Value = serde_json::from_str(&tfa_cfg).unwrap();
    assert_eq!(
        stored["users"]["carol@pve"]["u2f"][0]["entry"]["counter"], 8,
        "{tfa_cfg}"
    );

    // Listed in the Two Factor panel as Proxmox lists it; no U2F in the Add menu (as Proxmox).
    open_panel(&s, "tfa").await;
    let row = wait_row(&s, "old u2f key").await;
    assert_eq!(row, format!("carol@pve/{id}"));
    let cells = s
        .exec(
            "return Array.from(document.querySelector(`#main tbody tr[data-id='${arguments[0]}']`).cells).map(c => c.textContent)",
            json!([row]),
        )
        .await;
    assert_eq!(cells[2], "u2f", "{cells}");
    toolbar(&s, "tfa-add").await;
    let items = s
        .exec(
            "return Array.from(document.querySelectorAll('.menu:not([hidden]) .menu-item')).map(m => m.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(
        items,
        json!(["TOTP", "WebAuthn", "Recovery Keys", "Yubico OTP"])
    );
    s.exec(
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))",
        json!([]),
    )
    .await;
    select_row(&s, &row).await;
    s.screenshot(&shots(), "06-tfa-u2f").await;
    toolbar(&s, "tfa-remove").await;
    type_field(&s, "password", "carol-pw-12").await;
    submit(&s).await;
    s.until(
        "the u2f row gone",
        "!document.querySelector('#main tbody')?.textContent.includes('old u2f key')",
    )
    .await;
    let tfa_cfg = std::fs::read_to_string(gui.state().join("priv/tfa.cfg")).unwrap();
    assert!(!tfa_cfg.contains("old u2f key"), "{tfa_cfg}");
    s.quit().await;
}
