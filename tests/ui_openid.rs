//! An OpenID realm in the login window, in a real browser against a real provider (npm
//! oidc-provider): choosing the realm hides user name and password and the button reads
//! "Login (OpenID redirect)" (as Proxmox's LoginWindow); the button goes to the provider, and
//! coming back with `?state=&code=` finishes the login into the workspace.

mod support_oidc;
mod ui_support;

use support_oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider};
use tokio::sync::Mutex;
use ui_support::webdriver::Driver;
use ui_support::{Gui, shots, wait_workspace};

/// One browser at a time: the CI machine has two cores.
static BROWSER: Mutex<()> = Mutex::const_new(());

#[tokio::test]
async fn openid_realm_redirects_to_the_provider_and_back_into_the_workspace() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(
        "user:root@pam:1:0:::::\nuser:admin@pve:1:0:::::\nacl:1:/:admin@pve:Administrator:\n",
        &[("admin", "admin-pw-1")],
    )
    .await;
    // The page's origin is the redirect URL registered with the provider.
    let page = gui.url("/").replace("localhost", "127.0.0.1");
    let origin = page.trim_end_matches('/').to_owned();
    let provider = OidcProvider::start_redirecting(0, &origin);

    // An administrator adds the realm over the API.
    let client = gui.client();
    let login: serde_json::Value = serde_json::from_str(
        &client
            .post(gui.api_url("/access/ticket"))
            .form(&[("username", "admin@pve"), ("password", "admin-pw-1")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let issuer = provider.issuer();
    let resp = client
        .post(gui.api_url("/access/domains"))
        .header(
            "Cookie",
            format!(
                "PVEAuthCookie={}",
                login["data"]["ticket"].as_str().unwrap()
            ),
        )
        .header(
            "CSRFPreventionToken",
            login["data"]["CSRFPreventionToken"].as_str().unwrap(),
        )
        .form(&[
            ("realm", "idp"),
            ("type", "openid"),
            ("issuer-url", issuer.as_str()),
            ("client-id", CLIENT_ID),
            ("client-key", CLIENT_SECRET),
            ("comment", "Company login"),
            ("autocreate", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let driver = Driver::start().await;
    let s = driver.session(1280, 800).await;
    s.goto(&page).await;
    s.find("dialog select[name=realm]").await;
    s.exec(
        "const r = document.querySelector('dialog select[name=realm]'); r.value = 'idp'; \
         r.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    )
    .await;
    s.until(
        "user name and password hidden",
        "document.querySelector('dialog input[name=username]').closest('.field').hidden && \
         document.querySelector('dialog input[name=password]').closest('.field').hidden",
    )
    .await;
    assert_eq!(
        s.text("dialog .win-buttons .btn.primary").await,
        "Login (OpenID redirect)"
    );
    s.screenshot(&shots(), "login-openid").await;
    s.click("dialog .win-buttons .btn.primary").await;

    // At the provider: log in as alice (any password), then consent.
    s.find("input[name=login]").await;
    s.fill("input[name=login]", "alice").await;
    s.fill("input[name=password]", "any").await;
    s.exec(
        "document.querySelector('form').submit()",
        serde_json::json!([]),
    )
    .await;
    let gateway_port = origin.rsplit(':').next().unwrap().to_owned();
    s.until(
        "the consent page or the way back",
        &format!(
            "location.port === '{gateway_port}' || (document.readyState === 'complete' && \
             !document.querySelector('input[name=login]') && !!document.querySelector('form'))"
        ),
    )
    .await;
    s.exec(
        "if (location.port !== arguments[0]) document.querySelector('form').submit()",
        serde_json::json!([gateway_port]),
    )
    .await;
    s.until(
        "the gateway page again",
        &format!("location.port === '{gateway_port}' && !!document.getElementById('app')"),
    )
    .await;

    // Back at the gateway: the workspace as alice@idp, and the query gone from the address.
    wait_workspace(&s, "alice@idp").await;
    let address = s.exec("return location.href", serde_json::json!([])).await;
    assert!(!address.as_str().unwrap().contains("code="), "{address}");
    s.screenshot(&shots(), "login-openid-done").await;
    s.quit().await;
}
