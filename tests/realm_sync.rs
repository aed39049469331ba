//! `POST /api2/json/access/domains/{realm}/sync` over TLS against a real slapd over LDAPS:
//! who may sync (root@pam, a delegated admin, not a plain user), refusals, dry runs that write
//! nothing, users and groups created with the mapped attributes, logins of synced users with
//! their directory passwords, idempotent re-syncs, `enable-new 0`, and vanished users kept or
//! removed (with their ACL entries and tokens) as `remove-vanished` says. Each sync answers a
//! task UPID, polled at `/nodes/{node}/tasks/{upid}/status` and read at `/log` as Proxmox
//! clients do.

mod login_support;
#[allow(dead_code, reason = "the LDAP fixture serves several test files")]
mod support_ldap;

use serde_json::{Value, json};

use aclgate::auth::ticket::epoch_now;
use aclgate::config::UserConfig;
use login_support::{Fixture, Running, cookie, gw, secret_of, write_atomic};
use support_ldap::{ADMIN_DN, ADMIN_PW, BASE_DN, GROUP_BASE_DN, SYNC_LDIF, Slapd};

/// Users, a token and ACL entries of realm `dir`, and the delegated sync admin tina@pve.
const EXTRA_USER_CFG: &str = "\
user:stale@dir:1:0:::::
token:stale@dir!tk:0:1::
role:SyncAdmin:Realm.AllocateUser,User.Modify:
acl:1:/access/realm/dir:tina@pve:SyncAdmin:
acl:1:/access/groups:tina@pve:SyncAdmin:
acl:1:/vms:carol@dir:PVEAuditor:
acl:1:/vms:stale@dir:PVEAuditor:
acl:1:/vms:stale@dir!tk:PVEAuditor:
";

fn realm(slapd: &Slapd) -> String {
    format!(
        "ldap: dir\n\tserver1 127.0.0.1\n\tport {}\n\tmode ldaps\n\tverify 1\n\tcapath {}\n\
         \tbase_dn {BASE_DN}\n\tuser_attr uid\n\tbind_dn {ADMIN_DN}\n\tgroup_dn {GROUP_BASE_DN}\n\
         \tsync_attributes email=mail,firstname=givenName,lastname=sn\n\n",
        slapd.ldaps_port,
        slapd.ca_file.display()
    )
}

/// One refused sync: (caller, realm, form, status, a word the answer must contain).
type Refusal<'a> = (&'a Session, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);

/// A ticket and its CSRF token.
struct Session {
    ticket: String,
    csrf: String,
}

/// Start a sync; if it was accepted, wait for its task to stop and answer
/// `{"upid", "exitstatus", "log": [lines]}`, else the refusal's body.
async fn sync(run: &Running, who: &Session, realm: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = run
        .client()
        .post(run.url(&format!("/api2/json/access/domains/{realm}/sync")))
        .header("Cookie", cookie(&who.ticket))
        .header("CSRFPreventionToken", &who.csrf)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
    let Some(upid) = body["data"].as_str().filter(|_| status == 200) else {
        return (status, body);
    };
    let node = upid.split(':').nth(1).unwrap();
    let get = |what: &str| {
        run.client()
            .get(run.url(&format!("/api2/json/nodes/{node}/tasks/{upid}/{what}")))
            .header("Cookie", cookie(&who.ticket))
            .send()
    };
    let task = loop {
        let resp = get("status").await.unwrap();
        assert_eq!(resp.status(), 200, "status of {upid}");
        let task: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        if task["data"]["status"] == "stopped" {
            break task["data"].clone();
        }
        // The task runs in the gateway: poll as proxmoxer's blocking_status does.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let log = get("log?limit=0").await.unwrap().text().await.unwrap();
    let log: Value = serde_json::from_str(&log).unwrap();
    let lines: Vec<Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["t"].clone())
        .collect();
    let data =
        json!({"upid": upid, "exitstatus": task["exitstatus"], "type": task["type"], "log": lines});
    (status, json!({ "data": data }))
}

/// Whether the task log has `line`.
fn logged(data: &Value, line: &str) -> bool {
    data["log"].as_array().unwrap().iter().any(|l| l == line)
}

/// The names in log lines `<verb> <kind> '<name>'`, in log order.
fn logged_names(data: &Value, prefix: &str) -> Vec<String> {
    data["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str()?.strip_prefix(prefix))
        .map(|rest| rest.trim_matches('\'').to_owned())
        .collect()
}

/// `GET /access/permissions` with an API token: its status.
async fn token_status(run: &Running, id: &str) -> u16 {
    run.client()
        .get(run.url("/api2/json/access/permissions"))
        .header(
            "Authorization",
            format!("PVEAPIToken={id}={}", secret_of(id)),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// user.cfg without realm `dir`: its users (and their tokens), its `*-dir` groups, and the
/// ACL entries of both; members of realm `dir` are dropped from other groups.
fn outside_dir(text: &str) -> UserConfig {
    let (mut cfg, _) = UserConfig::parse(text);
    let ours = |u: &str| u.split('!').next().unwrap_or(u).ends_with("@dir");
    cfg.users.retain(|u, _| !ours(u.as_str()));
    cfg.groups.retain(|g, _| !g.as_str().ends_with("-dir"));
    for g in cfg.groups.values_mut() {
        g.members.retain(|u| !ours(u.as_str()));
    }
    for node in cfg.acl.values_mut() {
        node.users.retain(|u, _| !ours(u.as_str()));
        node.tokens.retain(|t, _| !ours(t.as_str()));
        node.groups.retain(|g, _| !g.as_str().ends_with("-dir"));
    }
    cfg.acl.retain(|_, node| !node.is_empty());
    cfg
}

/// The members of the ACL lines of `path`.
fn acl_members<'a>(cfg: &'a str, path: &str) -> Vec<&'a str> {
    cfg.lines()
        .filter_map(|l| l.strip_prefix("acl:"))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.get(1) == Some(&path))
        .flat_map(|f| f.get(2).copied().unwrap_or("").split(','))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_over_the_api() {
    let slapd = Slapd::start();
    slapd.add(SYNC_LDIF);
    let fx = Fixture::new(&realm(&slapd)).await;
    let state = fx.state();
    let user_cfg = || std::fs::read_to_string(state.join("user.cfg")).unwrap();
    let token_shadow = || std::fs::read_to_string(state.join("priv/token.shadow")).unwrap();
    write_atomic(
        &state.join("user.cfg"),
        &format!("{}{EXTRA_USER_CFG}", user_cfg()),
    );
    let mut tokens = gw::TOKENS.to_vec();
    tokens.push("stale@dir!tk");
    write_atomic(&state.join("priv/token.shadow"), &gw::shadow_text(&tokens));
    write_atomic(&state.join("priv/realm/dir.pw"), &format!("{ADMIN_PW}\n"));
    let run = fx.start().await;

    let issued = run
        .services
        .tickets
        .issue(&"root@pam".parse().unwrap(), epoch_now())
        .unwrap();
    let root = Session {
        ticket: issued.ticket,
        csrf: issued.csrf_token,
    };
    let login = |user: &'static str, pw: &'static str| {
        let run = &run;
        async move {
            let (ticket, csrf) = run.ticket(user, pw).await;
            Session { ticket, csrf }
        }
    };
    let tina = login("tina@pve", "tina-secret-2").await;
    let joe = login("joe@pve", "joe-secret-1").await;
    let original = user_cfg();

    // Refusals change nothing.
    let both = [("scope", "both")];
    #[rustfmt::skip]
    let refusals: &[Refusal] = &[
        (&joe, "dir", &both, 403, "permission check failed"),
        (&root, "pve", &both, 400, "Only LDAP/AD realms can be synced."),
        (&root, "nosuch", &both, 400, "realm"),
        (&root, "dir", &[], 400, "scope"),
        (&root, "dir", &[("scope", "all")], 400, "scope"),
        (&root, "dir", &[("scope", "both"), ("remove-vanished", "acl;bogus")], 400, "remove-vanished"),
        (&root, "dir", &[("scope", "both"), ("enable-new", "maybe")], 400, "enable-new"),
        (&root, "dir", &[("scope", "both"), ("full", "maybe")], 400, "full"),
    ];
    for (who, realm, form, status, says) in refusals {
        let (got, body) = sync(&run, who, realm, form).await;
        assert_eq!(got, *status, "sync {realm} {form:?}: {body}");
        assert!(
            body.to_string()
                .to_lowercase()
                .contains(&says.to_lowercase()),
            "sync {realm} {form:?}: {body} should mention {says:?}"
        );
        assert_eq!(user_cfg(), original, "sync {realm} {form:?} wrote user.cfg");
    }

    // A dry run reports and writes nothing.
    let shadow_before = token_shadow();
    let (status, body) = sync(&run, &root, "dir", &[("scope", "both"), ("dry-run", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["type"], "auth-realm-sync-test", "{data}");
    assert_eq!(data["exitstatus"], "OK", "{data}");
    assert_eq!(
        logged_names(data, "adding user "),
        ["alice@dir", "bob@dir", "carol@dir"]
    );
    assert_eq!(
        logged_names(data, "adding group "),
        ["admins-dir", "devs-dir"]
    );
    assert!(
        logged(
            data,
            "NOTE: Dry test run, changes were NOT written to the configuration."
        ),
        "{data}"
    );
    assert_eq!(user_cfg(), original, "a dry run wrote user.cfg");
    assert_eq!(
        token_shadow(),
        shadow_before,
        "a dry run wrote token.shadow"
    );

    // The delegated admin syncs users and groups (LDAPS, service bind, mapped attributes).
    let (status, body) = sync(&run, &tina, "dir", &both).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["type"], "auth-realm-sync", "{data}");
    assert_eq!(data["exitstatus"], "OK", "{data}");
    assert_eq!(
        logged_names(data, "adding user "),
        ["alice@dir", "bob@dir", "carol@dir"]
    );
    assert_eq!(
        logged_names(data, "adding group "),
        ["admins-dir", "devs-dir"]
    );
    assert!(
        logged(data, "syncing users (remove-vanished opts: none)"),
        "{data}"
    );
    assert!(
        logged(data, "successfully updated users and groups configuration"),
        "{data}"
    );
    let cfg = user_cfg();
    for line in [
        "user:alice@dir:1:0::alice::::\n",
        "user:carol@dir:1:0:Carol:Jones:carol@example.com:::\n",
        "user:stale@dir:1:0::::::\ntoken:stale@dir!tk:0:1::\n",
        "group:admins-dir:alice@dir,carol@dir::\n",
        "group:devs-dir:bob@dir::\n",
    ] {
        assert!(cfg.contains(line), "user.cfg lacks {line:?}:\n{cfg}");
    }
    assert!(
        !cfg.contains("posix-dir"),
        "posixGroup is not a default group class:\n{cfg}"
    );
    assert_eq!(
        outside_dir(&cfg),
        outside_dir(&original),
        "sync changed other realms:\n{cfg}"
    );

    // The synced users log in with their directory passwords, on the very next request.
    let (status, body) = run
        .login(&[("username", "carol@dir"), ("password", "carol-pw-333")])
        .await;
    assert_eq!(status, 200, "carol@dir login: {body}");
    let (status, _) = run
        .login(&[("username", "carol@dir"), ("password", "alice-pw-1")])
        .await;
    assert_eq!(status, 401, "carol@dir with alice's password");

    // A second sync changes nothing: user.cfg stays byte-identical.
    let cfg = user_cfg();
    let (status, body) = sync(&run, &root, "dir", &both).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        logged_names(&body["data"], "updating user "),
        ["alice@dir", "bob@dir", "carol@dir"]
    );
    assert_eq!(user_cfg(), cfg, "re-sync changed user.cfg");

    // enable-new=0: a new directory user is created disabled and cannot log in.
    slapd.add(&format!(
        "dn: uid=dave,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: dave\ncn: dave\nsn: Dee\nuserPassword: dave-pw-4444\n"
    ));
    let (status, body) = sync(
        &run,
        &root,
        "dir",
        &[("scope", "users"), ("enable-new", "0")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(logged_names(&body["data"], "adding user "), ["dave@dir"]);
    assert!(
        user_cfg().contains("user:dave@dir:0:0::Dee::::\n"),
        "{}",
        user_cfg()
    );
    let (status, _) = run
        .login(&[("username", "dave@dir"), ("password", "dave-pw-4444")])
        .await;
    assert_eq!(status, 401, "a disabled synced user logs in");

    // carol leaves the directory. Without remove-vanished (default none) she and her ACL
    // entries stay: the deprecated full/purge are accepted and ignored, as in Proxmox.
    slapd.delete(&format!("uid=carol,{BASE_DN}"));
    let (status, body) = sync(
        &run,
        &root,
        "dir",
        &[("scope", "both"), ("full", "1"), ("purge", "1")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert!(
        logged(data, "syncing users (remove-vanished opts: none)"),
        "{data}"
    );
    assert!(logged_names(data, "remove user ").is_empty(), "{data}");
    assert!(logged_names(data, "purge users ").is_empty(), "{data}");
    let cfg = user_cfg();
    assert!(cfg.contains("user:carol@dir:1:0:"), "{cfg}");
    assert!(acl_members(&cfg, "/vms").contains(&"carol@dir"), "{cfg}");
    assert!(
        cfg.contains("group:admins-dir:alice@dir::\n"),
        "memberships follow the directory:\n{cfg}"
    );
    assert_eq!(token_status(&run, "stale@dir!tk").await, 200);

    // remove-vanished=acl;entry;properties removes carol and stale with their ACL entries and
    // stale's token (and its secret); nothing outside the realm changes.
    let (status, body) = sync(
        &run,
        &root,
        "dir",
        &[
            ("scope", "both"),
            ("remove-vanished", "acl;entry;properties"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(
        logged_names(data, "remove user "),
        ["carol@dir", "stale@dir"]
    );
    assert_eq!(
        logged_names(data, "purge users "),
        ["carol@dir' ACL entries", "stale@dir' ACL entries"]
    );
    let cfg = user_cfg();
    assert!(
        !cfg.contains("carol@dir") && !cfg.contains("stale@dir"),
        "{cfg}"
    );
    assert!(acl_members(&cfg, "/vms").contains(&"joe@pve"), "{cfg}");
    assert!(
        !token_shadow().contains("stale@dir"),
        "the removed token's secret stays"
    );
    assert_eq!(token_status(&run, "stale@dir!tk").await, 401);
    assert_eq!(
        outside_dir(&cfg),
        outside_dir(&original),
        "sync changed other realms:\n{cfg}"
    );
    let (status, _) = run
        .login(&[("username", "alice@dir"), ("password", "alice-pw-1")])
        .await;
    assert_eq!(status, 200, "alice@dir after the removals");
    run.shutdown().await;
}
