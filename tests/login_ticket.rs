//! Logins through the gateway with real components: real TLS to the in-process gateway, a
//! real recording upstream, passwords from the `pve` realm (shadow.cfg), PAM (the user made by
//! scripts/test.sh) and LDAP (a throwaway slapd).

mod login_support;
#[allow(dead_code)]
#[path = "support_ldap/mod.rs"]
mod support_ldap;

use std::time::{Duration, Instant};

use login_support::{Fixture, PAM_PASSWORD, Running, cookie};

const GET_VM: &str = "/api2/json/nodes/n1/qemu/100/status/current";
const START_VM: &str = "/api2/json/nodes/n1/qemu/100/status/start";

async fn get(gw: &Running, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = gw.client().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn post(gw: &Running, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = gw.client().post(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn pve_login_then_ticket_requests_with_csrf() {
    let fx = Fixture::new("").await;
    let gw = fx.start().await;
    let (status, body) = gw
        .login(&[
            ("username", "joe"),
            ("realm", "pve"),
            ("password", "joe-secret-1"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["username"], "joe@pve", "{body}");
    let ticket = data["ticket"].as_str().unwrap();
    let csrf = data["CSRFPreventionToken"].as_str().unwrap();
    assert!(ticket.starts_with("PVE:joe@pve:"), "{ticket}");
    assert_eq!(data["cap"]["vms"]["VM.PowerMgmt"], 1, "{body}");
    assert!(data.get("NeedTFA").is_none(), "{body}");

    // The cookie, the `Authorization` form, and a cookie after other cookies all work.
    let c = cookie(ticket);
    let auth = format!("PVEAuthCookie={ticket}");
    let later = format!("lang=en; {c}");
    for headers in [
        vec![("cookie", c.as_str())],
        vec![("authorization", auth.as_str())],
        vec![("cookie", later.as_str())],
    ] {
        let before = fx.upstream.count();
        let resp = get(&gw, GET_VM, &headers).await;
        assert_eq!(resp.status(), 200, "GET with {headers:?}");
        assert_eq!(
            fx.upstream.count(),
            before + 1,
            "reached upstream: {headers:?}"
        );
        let seen = fx.upstream.seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.headers["x-aclgate-authid"], "joe@pve");
    }
    // Proxmox's finder: no whitespace before the key → not found.
    let glued = format!("lang=en;{c}");
    let resp = get(&gw, GET_VM, &[("cookie", glued.as_str())]).await;
    assert_eq!(resp.status(), 401, "cookie glued to `;`");

    // POST: CSRF required for tickets.
    let before = fx.upstream.count();
    let resp = post(&gw, START_VM, &[("cookie", c.as_str())]).await;
    assert_eq!(resp.status(), 401, "POST without CSRF");
    assert_eq!(
        resp.text().await.unwrap(),
        "",
        "CSRF refusals have an empty body"
    );
    let wrong = post(
        &gw,
        START_VM,
        &[
            ("cookie", c.as_str()),
            ("CSRFPreventionToken", "00000000:AAAA"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 401, "POST with a wrong CSRF token");
    assert_eq!(
        fx.upstream.count(),
        before,
        "refused POSTs never reach the upstream"
    );
    let ok = post(
        &gw,
        START_VM,
        &[("cookie", c.as_str()), ("CSRFPreventionToken", csrf)],
    )
    .await;
    assert_eq!(ok.status(), 200, "POST with CSRF");
    assert_eq!(fx.upstream.count(), before + 1);

    // Tokens never need CSRF; a ticket wins over a token header.
    let token = login_support::gw::Gateway::token_header("joe@pve!full");
    let resp = post(&gw, START_VM, &[("authorization", token.as_str())]).await;
    assert_eq!(resp.status(), 200, "token POST without CSRF");
    let off_token = login_support::gw::Gateway::token_header("off@pve!tk");
    let resp = get(
        &gw,
        GET_VM,
        &[
            ("cookie", c.as_str()),
            ("authorization", off_token.as_str()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200, "ticket wins over a (bad) token");
    let seen = fx.upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.headers["x-aclgate-authid"], "joe@pve");

    // allowtoken = false: the ticket caller is a user, the token is refused.
    let resp = get(&gw, "/api2/json/ticket-only", &[("cookie", c.as_str())]).await;
    assert_eq!(resp.status(), 200, "ticket on an allowtoken=false route");
    let resp = get(
        &gw,
        "/api2/json/ticket-only",
        &[("authorization", token.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 403, "token on an allowtoken=false route");
    gw.shutdown().await;
}

#[tokio::test]
async fn failures_are_identical_401s_held_until_the_delay() {
    let fx = Fixture::new("").await;
    let gw = fx.start_with(|c| c.auth.failure_delay_ms = 300).await;
    let mut bodies = Vec::new();
    for (user, pw) in [
        ("joe@pve", "wrong"),
        ("nobody@pve", "joe-secret-1"),
        ("off@pve", "off-secret-3"),
        ("old@pve", "old-secret-4"),
        ("joe@pve", ""),
        ("joe@nosuchrealm", "x"),
        ("not a userid", "x"),
    ] {
        let start = Instant::now();
        let resp = gw
            .client()
            .post(gw.url("/api2/json/access/ticket"))
            .form(&[("username", user), ("password", pw)])
            .send()
            .await
            .unwrap();
        let elapsed = start.elapsed();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 401, "{user}/{pw}: {body}");
        assert!(
            elapsed >= Duration::from_millis(300),
            "{user}: answered after {elapsed:?}"
        );
        bodies.push(body);
    }
    let first = bodies[0].clone();
    assert_eq!(
        first,
        r#"{"data":null,"message":"authentication failure\n"}"#
    );
    for b in &bodies {
        assert_eq!(b, &first, "every failure looks the same");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn public_endpoints_and_tokens_on_the_login_call() {
    let fx = Fixture::new("").await;
    let gw = fx.start().await;
    let resp = get(&gw, "/api2/json/access/ticket", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"data":null}"#);
    let resp = get(&gw, "/api2/json/access/domains", &[]).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let realms: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["realm"].as_str().unwrap())
        .collect();
    assert!(realms.contains(&"pve") && realms.contains(&"pam"), "{body}");
    // `/access` needs authentication.
    let resp = get(&gw, "/api2/json/access", &[]).await;
    assert_eq!(resp.status(), 401);
    let (ticket, _) = gw.ticket("joe@pve", "joe-secret-1").await;
    let resp = get(
        &gw,
        "/api2/json/access",
        &[("cookie", cookie(&ticket).as_str())],
    )
    .await;
    assert_eq!(resp.status(), 200);
    // A token on the login call: 403, even with a valid password.
    let token = login_support::gw::Gateway::token_header("joe@pve!full");
    let resp = gw
        .client()
        .post(gw.url("/api2/json/access/ticket"))
        .header("authorization", token)
        .form(&[("username", "joe@pve"), ("password", "joe-secret-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Missing parameters: 400 with the errors map.
    let (status, body) = gw.login(&[("username", "joe@pve")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["password"].is_string(), "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn pam_and_ldap_users_log_in() {
    let slapd = support_ldap::Slapd::start();
    let domains = format!(
        "ldap: ldap\n\tserver1 127.0.0.1\n\tport {}\n\tbase_dn {}\n\tuser_attr uid\n\n",
        slapd.ldap_port,
        support_ldap::BASE_DN
    );
    let fx = Fixture::new(&domains).await;
    let gw = fx.start().await;
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16)] = &[
        ("aclgate-pamtest@pam", PAM_PASSWORD, 200),
        ("aclgate-pamtest@pam", "Pam-test-pw-8", 401),
        ("alice@ldap", "alice-pw-1", 200),
        ("alice@ldap", "bob-pw-22", 401),
        ("bob@ldap", "bob-pw-22", 401), // in the directory, not in user.cfg
    ];
    for (user, pw, want) in cases {
        let (status, body) = gw.login(&[("username", user), ("password", pw)]).await;
        assert_eq!(status, *want, "login {user}: {body}");
        if *want == 200 {
            let ticket = body["data"]["ticket"].as_str().unwrap();
            let resp = get(&gw, GET_VM, &[("cookie", cookie(ticket).as_str())]).await;
            assert_eq!(resp.status(), 200, "{user}'s ticket on a GET");
            let resp = post(
                &gw,
                START_VM,
                &[
                    ("cookie", cookie(ticket).as_str()),
                    (
                        "CSRFPreventionToken",
                        body["data"]["CSRFPreventionToken"].as_str().unwrap(),
                    ),
                ],
            )
            .await;
            assert_eq!(resp.status(), 403, "{user} is only an auditor");
        }
    }
    gw.shutdown().await;
}
