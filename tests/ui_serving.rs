//! How the gateway serves the web interface, over real TLS: the page and its files at `/` with
//! a strict Content-Security-Policy, `X-Frame-Options: DENY` and `nosniff`; nothing inline and
//! nothing from another origin; the `[ui]` setting moves it under a prefix (the rest of the
//! path space goes through the pipeline as before) or turns it off; API paths are untouched.

mod ui_support;

use ui_support::Gui;

const USER_CFG: &str = "user:root@pam:1:0:::::\n";

async fn get(gui: &Gui, path: &str) -> reqwest::Response {
    let url = format!("https://127.0.0.1:{}{path}", gui.tls.port());
    gui.client().get(url).send().await.unwrap()
}

#[tokio::test]
async fn page_and_files_at_the_root_with_strict_headers() {
    let gui = Gui::start(USER_CFG, &[]).await;
    let resp = get(&gui, "/").await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp} lacks {part}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = resp.text().await.unwrap();

    // Every script and stylesheet is a file of ours; nothing inline, nothing remote.
    let scripts: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|s| s.split('>').next().unwrap())
        .collect();
    assert!(scripts.len() >= 5, "{html}");
    for s in &scripts {
        assert!(s.contains("src=\"ui/"), "inline or foreign script: {s}");
    }
    assert!(!html.contains("style="), "inline style");
    for file in ["app.js", "util.js", "login.js", "app.css"] {
        let resp = get(&gui, &format!("/ui/{file}")).await;
        assert_eq!(resp.status(), 200, "{file}");
        assert!(resp.headers().contains_key("content-security-policy"));
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{file} names another origin"
        );
        assert!(!text.contains("innerHTML"), "{file} writes markup");
    }

    // Paths that are not the interface's own go through the pipeline as before.
    assert_eq!(get(&gui, "/ui/missing.js").await.status(), 401);
    assert_eq!(get(&gui, "/api2/json/access/domains").await.status(), 200);
    assert_eq!(get(&gui, "/healthz").await.status(), 200);
}

#[tokio::test]
async fn prefix_moves_the_interface_and_off_removes_it() {
    let gui = Gui::start_with(USER_CFG, &[], |c| c.ui.prefix = "/aclgate/".to_owned()).await;
    assert_eq!(get(&gui, "/aclgate/").await.status(), 200);
    assert_eq!(get(&gui, "/aclgate/ui/app.js").await.status(), 200);
    let redirect = get(&gui, "/aclgate").await;
    assert_eq!(
        redirect.status(),
        200,
        "reqwest follows the 301 to /aclgate/"
    );
    assert_eq!(redirect.url().path(), "/aclgate/");
    // `/` belongs to the upstream now: without credentials the pipeline answers 401.
    assert_eq!(get(&gui, "/").await.status(), 401);
    assert_eq!(get(&gui, "/ui/app.js").await.status(), 401);

    let off = Gui::start_with(USER_CFG, &[], |c| c.ui.enabled = false).await;
    assert_eq!(get(&off, "/").await.status(), 401);
    assert_eq!(get(&off, "/ui/app.js").await.status(), 401);
    assert_eq!(get(&off, "/api2/json/access/domains").await.status(), 200);
}

#[test]
fn prefix_setting_is_checked() {
    use aclgate::config::gateway::GatewayConfig;
    assert!(GatewayConfig::parse("[ui]\nprefix = \"/aclgate/\"\n").is_ok());
    assert!(GatewayConfig::parse("[ui]\nenabled = false\n").is_ok());
    for bad in ["aclgate/", "/aclgate", "/api2/ui/", "/a//b/", "/a/../b/"] {
        let text = format!("[ui]\nprefix = \"{bad}\"\n");
        assert!(GatewayConfig::parse(&text).is_err(), "{bad} accepted");
    }
    assert!(
        GatewayConfig::parse("[ui]\nport = 1\n").is_err(),
        "unknown key"
    );
}
