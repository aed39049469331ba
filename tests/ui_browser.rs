//! The web interface in a real browser (Debian's chromium over chromedriver): an administrator
//! logs in and, through the panels only, adds a user, a group, a role with two privileges and
//! an ACL entry, creates an API token whose secret is shown once and then works with an HTTP
//! client through the gateway, and asks "why" a privilege is held; a delegated administrator
//! sees only their group's users. Every panel is photographed into target/ui-screenshots.

mod ui_support;

use serde_json::json;
use tokio::sync::Mutex;

use ui_support::webdriver::Driver;
use ui_support::{
    ENTER, Gui, enabled, login, menu_item, open_panel, select_row, set_field, shots, submit,
    toolbar, type_field, wait_row,
};

/// WebDriver's key code for the down arrow.
const ARROW_DOWN: &str = "\u{E015}";

/// One browser at a time: the CI machine has two cores.
static BROWSER: Mutex<()> = Mutex::const_new(());

const ADMIN_PW: &str = "admin-pw-1";
const DELEG_PW: &str = "deleg-pw-1";
const PLAIN_PW: &str = "plain-pw-1";
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:admin@pve:1:0:Ada:Admin:ada@example.com:the administrator::
user:deleg@pve:1:0:Dee:Legate::ops delegate::
user:member@pve:1:0:Mem:Ber::in ops::
user:other@pve:1:0:Oth:Er::in dev::
user:plain@pve:1:0:Plain:User::no ACL at all::
group:ops:member@pve:Operations:
group:dev:other@pve:Development:

acl:1:/:admin@pve:Administrator:
acl:1:/access/groups/ops:deleg@pve:PVEUserAdmin:
";

#[tokio::test]
async fn admin_manages_permissions_through_the_panels() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(
        USER_CFG,
        &[
            ("admin", ADMIN_PW),
            ("deleg", DELEG_PW),
            ("plain", PLAIN_PW),
        ],
    )
    .await;
    let driver = Driver::start().await;
    let s = driver.session(1280, 800).await;
    let dir = shots();

    s.goto(&gui.url("/")).await;
    s.find("dialog input[name=username]").await;
    s.screenshot(&dir, "01-login").await;
    login(&s, "admin", "pve", ADMIN_PW).await;

    // Users: add carol@pve with a password, in no group yet.
    open_panel(&s, "users").await;
    wait_row(&s, "admin").await;
    toolbar(&s, "user-add").await;
    type_field(&s, "name", "carol").await;
    set_field(&s, "realm", json!("pve")).await;
    type_field(&s, "password", "carol-pw-1").await;
    type_field(&s, "confirm", "carol-pw-1").await;
    type_field(&s, "firstname", "Carol").await;
    type_field(&s, "comment", "added in the browser").await;
    submit(&s).await;
    wait_row(&s, "added in the browser").await;
    s.screenshot(&dir, "03-users").await;

    // Groups: create "web" and put carol in it from the user dialog.
    open_panel(&s, "groups").await;
    wait_row(&s, "Operations").await;
    toolbar(&s, "group-create").await;
    type_field(&s, "groupid", "web").await;
    type_field(&s, "comment", "Web team").await;
    submit(&s).await;
    wait_row(&s, "Web team").await;
    s.screenshot(&dir, "06-groups").await;
    open_panel(&s, "users").await;
    select_row(&s, "carol@pve").await;
    toolbar(&s, "user-edit").await;
    s.until(
        "group web offered",
        "!!document.querySelector('dialog[open] select[name=groups] option[value=web]')",
    )
    .await;
    set_field(&s, "groups", json!(["web"])).await;
    submit(&s).await;
    wait_row(&s, "web").await;

    // Roles: a custom role with two privileges from the multi-select.
    open_panel(&s, "roles").await;
    wait_row(&s, "PVEAuditor").await;
    assert!(!enabled(&s, "role-edit").await, "nothing selected");
    select_row(&s, "PVEAuditor").await;
    assert!(
        !enabled(&s, "role-edit").await,
        "built-in roles are read-only"
    );
    toolbar(&s, "role-create").await;
    type_field(&s, "roleid", "WebOps").await;
    set_field(&s, "privs", json!(["VM.Audit", "VM.PowerMgmt"])).await;
    submit(&s).await;
    wait_row(&s, "WebOps").await;
    s.screenshot(&dir, "08-roles").await;

    // Permissions: WebOps for @web on /vms, through Add → Group Permission.
    open_panel(&s, "acl").await;
    wait_row(&s, "Administrator").await;
    toolbar(&s, "acl-add").await;
    menu_item(&s, "Group Permission").await;
    s.until(
        "group web offered",
        "!!document.querySelector('dialog[open] select[name=ugid] option[value=web]')",
    )
    .await;
    type_field(&s, "path", "/vms").await;
    set_field(&s, "ugid", json!("web")).await;
    set_field(&s, "roles", json!("WebOps")).await;
    submit(&s).await;
    wait_row(&s, "WebOps").await;
    s.screenshot(&dir, "02-permissions").await;

    // The API agrees: carol holds exactly the role's privileges on /vms/100.
    let client = gui.client();
    let admin_token = create_token(&s, &client, &gui, &dir).await;
    let text = client
        .get(gui.api_url("/access/permissions"))
        .query(&[("userid", "carol@pve"), ("path", "/vms/100")])
        .header("Authorization", &admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let perms: serde_json::Value = serde_json::from_str(&text).unwrap();
    let privs = perms["data"]["/vms/100"].as_object().unwrap();
    let mut names: Vec<&str> = privs.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["VM.Audit", "VM.PowerMgmt"], "{perms}");

    // Why: carol on /vms/100, decided by the @web entry at /vms, each privilege from WebOps.
    open_panel(&s, "why").await;
    s.fill("#why-authid", "carol@pve").await;
    s.fill("#why-path", "/vms/100").await;
    s.fill("#why-uri", "/nodes/n1/qemu/100/status/current")
        .await;
    s.click(".why-form button[type=submit]").await;
    let verdict = s.text("#why-verdict").await;
    assert!(verdict.starts_with("Allowed"), "{verdict}");
    let out = s.text(".why-out").await;
    assert!(out.contains("@web") && out.contains("WebOps"), "{out}");
    assert!(out.contains("VM.PowerMgmt"), "{out}");
    s.screenshot(&dir, "10-why").await;

    // Realms and pools render for the administrator too.
    open_panel(&s, "realms").await;
    wait_row(&s, "Proxmox VE authentication server").await;
    s.screenshot(&dir, "09-realms").await;
    open_panel(&s, "pools").await;
    toolbar(&s, "pool-create").await;
    type_field(&s, "poolid", "web-pool").await;
    submit(&s).await;
    wait_row(&s, "web-pool").await;
    s.screenshot(&dir, "07-pools").await;

    // A narrow window still shows the tree and the grid, one above the other.
    s.resize(480, 800).await;
    open_panel(&s, "users").await;
    wait_row(&s, "carol").await;
    s.screenshot(&dir, "11-narrow").await;
    s.quit().await;
}

/// API Tokens: create admin@pve!ci without privilege separation, read the secret once from the
/// secret window, and use it with an HTTP client through the gateway. Returns the header.
async fn create_token(
    s: &ui_support::webdriver::Session<'_>,
    client: &reqwest::Client,
    gui: &Gui,
    dir: &std::path::Path,
) -> String {
    open_panel(s, "tokens").await;
    toolbar(s, "token-add").await;
    type_field(s, "tokenid", "ci").await;
    set_field(s, "privsep", json!(false)).await;
    type_field(s, "comment", "browser-made").await;
    submit(s).await;
    let secret = s
        .until(
            "the token secret",
            "document.querySelector('dialog[open] #token-secret')?.value",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let tokenid = s
        .exec(
            "return document.querySelector('dialog[open] #token-id').value",
            json!([]),
        )
        .await;
    assert_eq!(tokenid, "admin@pve!ci");
    let warning = s.text("dialog[open] .warning-box").await;
    assert!(
        warning.contains("it will only be displayed now"),
        "{warning}"
    );
    s.screenshot(dir, "04-token-secret").await;
    s.click("dialog[open] .win-buttons .primary").await;
    wait_row(s, "browser-made").await;
    s.screenshot(dir, "04-tokens").await;
    // The grid never shows the secret again.
    let page = s.text("#main").await;
    assert!(!page.contains(&secret), "the secret is shown only once");

    let header = format!("PVEAPIToken=admin@pve!ci={secret}");
    let resp = client
        .get(gui.api_url("/access/users"))
        .header("Authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("carol@pve"), "{body}");
    let wrong = client
        .get(gui.api_url("/access/users"))
        .header(
            "Authorization",
            "PVEAPIToken=admin@pve!ci=00000000-0000-4000-8000-000000000000",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    header
}

#[tokio::test]
async fn delegated_admin_sees_and_changes_only_their_group() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(
        USER_CFG,
        &[
            ("admin", ADMIN_PW),
            ("deleg", DELEG_PW),
            ("plain", PLAIN_PW),
        ],
    )
    .await;
    let driver = Driver::start().await;
    let s = driver.session(1280, 800).await;
    s.goto(&gui.url("/")).await;
    login(&s, "deleg", "pve", DELEG_PW).await;

    // No Sys.Audit on /: no Permissions, Groups, Pools, Roles or Realms node.
    let nodes = s
        .exec(
            "return Array.from(document.querySelectorAll('#nav [data-panel]')).map(a => a.dataset.panel)",
            json!([]),
        )
        .await;
    assert_eq!(nodes, json!(["users", "tokens", "tfa", "why"]));

    open_panel(&s, "users").await;
    wait_row(&s, "member").await;
    let rows = s
        .exec(
            "return Array.from(document.querySelectorAll('#main tbody tr')).map(t => t.dataset.id).sort()",
            json!([]),
        )
        .await;
    assert_eq!(
        rows,
        json!(["deleg@pve", "member@pve"]),
        "other@pve is in dev"
    );
    s.screenshot(&shots(), "12-delegated-users").await;

    // Editing the ops member works; the API refuses what the panel cannot show.
    select_row(&s, "member@pve").await;
    assert!(enabled(&s, "user-edit").await);
    toolbar(&s, "user-edit").await;
    type_field(&s, "comment", "changed by deleg").await;
    submit(&s).await;
    wait_row(&s, "changed by deleg").await;
    let refused = s
        .exec(
            "return AG.api('PUT', '/access/users/other%40pve', {comment: 'x'}).then(() => 'ok', e => e.status)",
            json!([]),
        )
        .await;
    assert_eq!(refused, 403, "other@pve's group is not deleg's");

    // Why? refuses someone else's permissions without Sys.Audit on /access.
    open_panel(&s, "why").await;
    s.fill("#why-authid", "other@pve").await;
    s.click(".why-form button[type=submit]").await;
    let status = s.text("#main .panel-status").await;
    assert!(status.contains("403"), "{status}");
    s.quit().await;
}

#[tokio::test]
async fn plain_user_gets_disabled_buttons_and_a_renewed_ticket() {
    let _one = BROWSER.lock().await;
    let gui = Gui::start(USER_CFG, &[("plain", PLAIN_PW)]).await;
    let driver = Driver::start().await;
    let s = driver.session(1024, 700).await;
    s.goto(&gui.url("/")).await;
    login(&s, "plain", "pve", PLAIN_PW).await;
    // With the keyboard: Enter on the tree's link opens the panel, the arrow key selects a row.
    let link = s.find("#nav a[data-panel=users]").await;
    s.type_into(&link, ENTER).await;
    wait_row(&s, "no ACL at all").await;
    let grid = s.find("#main .grid-wrap").await;
    s.type_into(&grid, ARROW_DOWN).await;
    s.until(
        "the row selected by the arrow key",
        "document.querySelector('#main tbody tr[aria-selected=true]')?.dataset.id === 'plain@pve'",
    )
    .await;
    let rows = s
        .exec(
            "return Array.from(document.querySelectorAll('#main tbody tr')).map(t => t.dataset.id)",
            json!([]),
        )
        .await;
    assert_eq!(rows, json!(["plain@pve"]));
    // cap.access has no User.Modify: Add, Edit and Remove are off; Password and Permissions on.
    assert!(!enabled(&s, "user-add").await);
    select_row(&s, "plain@pve").await;
    assert!(!enabled(&s, "user-edit").await);
    assert!(!enabled(&s, "user-remove").await);
    assert!(enabled(&s, "user-password").await);
    assert!(enabled(&s, "user-permissions").await);
    open_panel(&s, "tokens").await;
    assert!(
        enabled(&s, "token-add").await,
        "own tokens need no privilege"
    );

    // Renewal: the ticket is exchanged for a new one that works (and the page keeps it).
    let renewed = s
        .exec(
            "return AG.renew().then(() => \
             AG.api('GET', '/access/users')).then(() => AG.session.ticket.length > 0 && 'ok', e => String(e))",
            json!([]),
        )
        .await;
    assert_eq!(renewed, "ok");
    s.quit().await;
}
