//! Second factors in a real browser: a user enrols TOTP in the Two Factor panel (the secret
//! drawn as a QR code by aclgate, the verification code from pyotp) and logs in again with the
//! second step; another registers a WebAuthn credential with Chrome's virtual authenticator and
//! logs in with it; "log out everywhere" makes the ticket it held worthless.

mod ui_support;

use std::process::Command;

use serde_json::json;
use tokio::sync::Mutex;

use ui_support::webdriver::{Driver, Session};
use ui_support::{
    Gui, login, login_first_step, menu_item, open_panel, shots, submit, toolbar, type_field,
    wait_row, wait_workspace,
};

/// One browser at a time: the CI machine has two cores.
static BROWSER: Mutex<()> = Mutex::const_new(());

const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:Alice::::
user:bob@pve:1:0:Bob::::
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
