//! The access API's permission matrix (issue #5): every handler route of
//! `policies/access.toml` gets at least one representative request, sent over TLS as each of
//! four callers, and the answer is checked against what Proxmox VE answers:
//!
//! - `root@pam` (ticket): passes every check (spec §5.1);
//! - `deleg@pve` (ticket): a delegated admin, `User.Modify` on `/access/groups/ops` only;
//! - `deleg@pve!sep` (API token, privsep=1, the same ACL as its owner): like its owner, but a
//!   token is never "self" (`userid-param self`, the user list's "current user") and is
//!   refused on `allowtoken = 0` routes (password, TFA changes, login);
//! - `plain@pve` (ticket): no ACL at all.
//!
//! Expected answers come from Proxmox's rules (the route's check, then the handler-side rules
//! of pve-access-control's `API2/*.pm` and pve-manager's `API2/Pool.pm`), not from what
//! aclgate answers. List endpoints filter rather than refuse: their rows name the ids each
//! caller gets back. The routes are read from `policies/access.toml`, so a new handler route
//! without a row fails the test. Requests that change state run on a fresh gateway per caller.

mod api_support;
mod gateway_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use aclgate::auth::realm::crypt;
use aclgate::policy::RouteTable;
use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth, token};

/// Everything the rows refer to. `GroupAdmin` = User.Modify only; `Spare` is a role to edit.
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:deleg@pve:1:0:::::
user:plain@pve:1:0:::::
user:member@pve:1:0:::::
user:other@pve:1:0:::::
token:deleg@pve!sep:0:1::
token:member@pve!ci:0:1::
group:dev:other@pve::
group:ops:member@pve::
role:GroupAdmin:User.Modify:
role:Spare:VM.Audit:
pool:p1::100::
pool:p2::::
acl:1:/access/groups/ops:deleg@pve:GroupAdmin:
acl:1:/access/groups/ops:deleg@pve!sep:GroupAdmin:
acl:1:/vms/100:member@pve:PVEVMUser:
";

const TOKENS: [&str; 2] = ["deleg@pve!sep", "member@pve!ci"];

/// `pve` realm passwords.
const PASSWORDS: [(&str, &str); 4] = [
    ("deleg", "deleg-pw-1"),
    ("plain", "plain-pw-1"),
    ("member", "member-pw-1"),
    ("other", "other-pw-1"),
];

const DOMAINS_CFG: &str = "\
pam: pam
\tcomment Linux PAM standard authentication

pve: pve
\tcomment Proxmox VE authentication server

ldap: corp
\tbase_dn dc=example,dc=com
\tserver1 127.0.0.1
\tuser_attr uid
";

/// One TOTP entry each for deleg, member and plain (other@pve has none).
const TFA_CFG: &str = r#"{"users":{
"deleg@pve":{"totp":[{"id":"t-deleg","description":"phone","created":1,"entry":"otpauth://totp/d?secret=JBSWY3DPEHPK3PXP"}]},
"member@pve":{"totp":[{"id":"t-member","description":"phone","created":1,"entry":"otpauth://totp/m?secret=JBSWY3DPEHPK3PXP"}]},
"plain@pve":{"totp":[{"id":"t-plain","description":"phone","created":1,"entry":"otpauth://totp/p?secret=JBSWY3DPEHPK3PXP"}]}}}"#;

/// What one caller gets.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// 200 with a list whose items' `key` fields (several keys joined by `+`, their values by a
    /// space) are exactly these, in any order.
    Ids(&'static str, &'static [&'static str]),
    /// This status.
    Is(u16),
    /// The check lets the caller through, and no handler answers yet: 501 (Proxmox: 200).
    Unwritten,
    /// The check lets the caller through; the handler is being written elsewhere (branch
    /// `sync`): anything but 401/403.
    Passes,
}

use Want::{Ids, Is, Passes, Unwritten};

const OK: Want = Is(200);
const DENIED: Want = Is(403);

/// One representative request. `{pw}` in a form value is the caller's own password (the
/// parameter is left out for root@pam, who needs none); `{self}` is the caller's user.
struct Row {
    method: Method,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    /// root@pam, deleg@pve, deleg@pve!sep, plain@pve.
    want: [Want; 4],
    /// Why (Proxmox's rule), printed on failure.
    why: &'static str,
}

/// The four callers, in the order of [`Row::want`].
const CALLERS: [(&str, Option<&str>); 4] = [
    ("root@pam", None),
    ("deleg@pve", Some("deleg-pw-1")),
    ("deleg@pve!sep", Some("deleg-pw-1")),
    ("plain@pve", Some("plain-pw-1")),
];

fn rows() -> Vec<Row> {
    use Method as M;
    let row = |method: M, path, form, want, why| Row {
        method,
        path,
        form,
        want,
        why,
    };
    vec![
        row(M::GET, "/access", &[], [OK; 4], "user: all"),
        // --- users ---
        row(
            M::GET,
            "/access/users",
            &[],
            [
                Ids(
                    "userid",
                    &[
                        "deleg@pve",
                        "member@pve",
                        "other@pve",
                        "plain@pve",
                        "root@pam",
                    ],
                ),
                Ids("userid", &["deleg@pve", "member@pve"]),
                Ids("userid", &["member@pve"]),
                Ids("userid", &["plain@pve"]),
            ],
            "users with User.Modify|Sys.Audit on one of their groups, plus the caller itself \
             (`$user eq $authuser`: a token is not its owner)",
        ),
        row(
            M::POST,
            "/access/users",
            &[("userid", "new@pve"), ("groups", "ops")],
            [OK, DENIED, DENIED, DENIED],
            "Realm.AllocateUser on /access/realm/pve is needed as well",
        ),
        row(
            M::POST,
            "/access/users",
            &[("userid", "pw@pve"), ("password", "initial-pw-1")],
            [OK, DENIED, DENIED, DENIED],
            "an initial password is stored by the realm (pve: shadow.cfg)",
        ),
        row(
            M::DELETE,
            "/access/users/member@pve",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "and(Realm.AllocateUser, userid-group)",
        ),
        row(
            M::GET,
            "/access/users/member@pve",
            &[],
            [OK, OK, OK, DENIED],
            "userid-group [User.Modify, Sys.Audit]: member is in ops",
        ),
        row(
            M::GET,
            "/access/users/other@pve",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "other is in dev, outside the delegation",
        ),
        row(
            M::PUT,
            "/access/users/member@pve",
            &[("comment", "c"), ("groups", "ops")],
            [OK, OK, OK, DENIED],
            "userid-group groups_param=update: every listed group delegated",
        ),
        row(
            M::PUT,
            "/access/users/member@pve",
            &[("comment", "c")],
            [OK, DENIED, DENIED, DENIED],
            "groups_param=update: without User.Modify on /access/groups, `groups` is required",
        ),
        row(
            M::GET,
            "/access/users/member@pve/tfa",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify, Sys.Audit])",
        ),
        row(
            M::GET,
            "/access/users/plain@pve/tfa",
            &[],
            [OK, DENIED, DENIED, OK],
            "self",
        ),
        row(
            M::PUT,
            "/access/users/member@pve/unlock-tfa",
            &[],
            [OK, OK, OK, DENIED],
            "userid-group [User.Modify]",
        ),
        // --- tokens ---
        row(
            M::GET,
            "/access/users/member@pve/token",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify])",
        ),
        row(
            M::GET,
            "/access/users/deleg@pve/token",
            &[],
            [OK, OK, DENIED, DENIED],
            "self; a token is not its owner, and deleg is in no delegated group",
        ),
        row(
            M::GET,
            "/access/users/member@pve/token/ci",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify])",
        ),
        row(
            M::POST,
            "/access/users/member@pve/token/new",
            &[("privsep", "1")],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify])",
        ),
        row(
            M::PUT,
            "/access/users/member@pve/token/ci",
            &[("comment", "c")],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify])",
        ),
        row(
            M::DELETE,
            "/access/users/member@pve/token/ci",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify])",
        ),
        // --- groups ---
        row(
            M::GET,
            "/access/groups",
            &[],
            [
                Ids("groupid", &["dev", "ops"]),
                Ids("groupid", &["ops"]),
                Ids("groupid", &["ops"]),
                Ids("groupid", &[]),
            ],
            "groups with User.Modify|Sys.Audit|Group.Allocate on /access/groups/<group>",
        ),
        row(
            M::POST,
            "/access/groups",
            &[("groupid", "qa")],
            [OK, DENIED, DENIED, DENIED],
            "Group.Allocate on /access/groups",
        ),
        row(
            M::GET,
            "/access/groups/ops",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Sys.Audit|Group.Allocate on /access/groups (User.Modify on the group is not enough)",
        ),
        row(
            M::PUT,
            "/access/groups/ops",
            &[("comment", "c")],
            [OK, DENIED, DENIED, DENIED],
            "Group.Allocate on /access/groups",
        ),
        row(
            M::DELETE,
            "/access/groups/dev",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Group.Allocate on /access/groups",
        ),
        // --- roles ---
        row(M::GET, "/access/roles", &[], [OK; 4], "user: all"),
        row(
            M::GET,
            "/access/roles/GroupAdmin",
            &[],
            [OK; 4],
            "user: all",
        ),
        row(
            M::POST,
            "/access/roles",
            &[("roleid", "R1"), ("privs", "VM.Audit")],
            [OK, DENIED, DENIED, DENIED],
            "Sys.Modify on /access",
        ),
        row(
            M::PUT,
            "/access/roles/Spare",
            &[("privs", "Sys.Audit")],
            [OK, DENIED, DENIED, DENIED],
            "Sys.Modify on /access",
        ),
        row(
            M::DELETE,
            "/access/roles/Spare",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Sys.Modify on /access",
        ),
        // --- acl ---
        row(
            M::GET,
            "/access/acl",
            &[],
            [
                Ids(
                    "path+ugid+roleid",
                    &[
                        "/access/groups/ops deleg@pve GroupAdmin",
                        "/access/groups/ops deleg@pve!sep GroupAdmin",
                        "/vms/100 member@pve PVEVMUser",
                    ],
                ),
                Ids("path", &[]),
                Ids("path", &[]),
                Ids("path", &[]),
            ],
            "entries on paths with Sys.Audit on /access or perm-modify on the path",
        ),
        row(
            M::PUT,
            "/access/acl",
            &[
                ("path", "/vms/100"),
                ("roles", "PVEVMUser"),
                ("users", "plain@pve"),
            ],
            [OK, DENIED, DENIED, DENIED],
            "perm-modify on /vms/100",
        ),
        // --- realms ---
        row(
            M::GET,
            "/access/domains",
            &[],
            [Ids("realm", &["corp", "pam", "pve"]); 4],
            "user: world",
        ),
        row(
            M::POST,
            "/access/domains",
            &[
                ("realm", "corp2"),
                ("type", "ldap"),
                ("server1", "127.0.0.1"),
                ("base_dn", "dc=example,dc=com"),
                ("user_attr", "uid"),
            ],
            [OK, DENIED, DENIED, DENIED],
            "Realm.Allocate on /access/realm",
        ),
        row(
            M::GET,
            "/access/domains/corp",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Realm.Allocate|Sys.Audit on /access/realm",
        ),
        row(
            M::PUT,
            "/access/domains/corp",
            &[("comment", "c")],
            [OK, DENIED, DENIED, DENIED],
            "Realm.Allocate on /access/realm",
        ),
        row(
            M::DELETE,
            "/access/domains/corp",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Realm.Allocate on /access/realm",
        ),
        row(
            M::POST,
            "/access/domains/corp/sync",
            &[("dry-run", "1")],
            [Passes, DENIED, DENIED, DENIED],
            "Realm.AllocateUser on /access/realm/corp and User.Modify on /access/groups",
        ),
        // --- openid (not implemented: 501) ---
        row(M::GET, "/access/openid", &[], [Unwritten; 4], "user: all"),
        row(
            M::POST,
            "/access/openid/auth-url",
            &[
                ("realm", "corp"),
                ("redirect-url", "https://pve.example.test"),
            ],
            [Unwritten; 4],
            "user: world",
        ),
        row(
            M::POST,
            "/access/openid/login",
            &[
                ("code", "c"),
                ("state", "s"),
                ("redirect-url", "https://pve.example.test"),
            ],
            [Unwritten; 4],
            "user: world",
        ),
        // --- tfa ---
        row(
            M::GET,
            "/access/tfa",
            &[],
            [
                Ids("userid", &["deleg@pve", "member@pve", "plain@pve"]),
                Ids("userid", &["deleg@pve", "member@pve"]),
                Ids("userid", &["member@pve"]),
                Ids("userid", &["plain@pve"]),
            ],
            "all with User.Modify|Sys.Audit on /access/groups, else the caller's own \
             (`$userid eq $authuser`: not a token's) and members of delegated groups",
        ),
        row(
            M::GET,
            "/access/tfa/member@pve",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify, Sys.Audit])",
        ),
        row(
            M::GET,
            "/access/tfa/deleg@pve",
            &[],
            [OK, OK, DENIED, DENIED],
            "self; a token is not its owner",
        ),
        row(
            M::GET,
            "/access/tfa/member@pve/t-member",
            &[],
            [OK, OK, OK, DENIED],
            "or(self, userid-group [User.Modify, Sys.Audit])",
        ),
        row(
            M::POST,
            "/access/tfa/member@pve",
            &[("type", "recovery"), ("password", "{pw}")],
            [OK, OK, DENIED, DENIED],
            "allowtoken=0; non-root callers confirm with their own password",
        ),
        row(
            M::POST,
            "/access/tfa/{self}",
            &[("type", "recovery")],
            [OK, Is(400), DENIED, Is(400)],
            "`password is required to modify TFA data` unless root@pam",
        ),
        row(
            M::POST,
            "/access/tfa/{self}",
            &[("type", "recovery"), ("password", "wrong-pw-9")],
            [OK, DENIED, DENIED, DENIED],
            "a wrong confirmation password (Proxmox: realm error; aclgate: 403)",
        ),
        row(
            M::POST,
            "/access/tfa/root@pam",
            &[("type", "recovery"), ("password", "{pw}")],
            [OK, DENIED, DENIED, DENIED],
            "only root@pam changes root@pam's second factors",
        ),
        row(
            M::PUT,
            "/access/tfa/member@pve/t-member",
            &[("enable", "0"), ("password", "{pw}")],
            [OK, OK, DENIED, DENIED],
            "allowtoken=0; own password",
        ),
        row(
            M::DELETE,
            "/access/tfa/member@pve/t-member",
            &[("password", "{pw}")],
            [OK, OK, DENIED, DENIED],
            "allowtoken=0; own password",
        ),
        // --- login ---
        row(M::GET, "/access/ticket", &[], [OK; 4], "user: world"),
        row(
            M::POST,
            "/access/ticket",
            &[("username", "other@pve"), ("password", "other-pw-1")],
            [OK, OK, DENIED, OK],
            "user: world, allowtoken=0 (a ticket cookie is ignored, a token refused)",
        ),
        row(
            M::POST,
            "/access/vncticket",
            &[
                ("authid", "plain@pve"),
                ("vncticket", "PVEVNC:x"),
                ("path", "/vms/100"),
                ("privs", "VM.Console"),
            ],
            [Unwritten; 4],
            "user: world",
        ),
        // --- password ---
        row(
            M::PUT,
            "/access/password",
            &[
                ("userid", "member@pve"),
                ("password", "member-new-pw"),
                ("confirmation-password", "{pw}"),
            ],
            [OK, DENIED, DENIED, DENIED],
            "another user's: Realm.AllocateUser and userid-group; allowtoken=0",
        ),
        row(
            M::PUT,
            "/access/password",
            &[
                ("userid", "{self}"),
                ("password", "new-own-pw-1"),
                ("confirmation-password", "{pw}"),
            ],
            // root@pam's own is a PAM password: Proxmox sets it (200), aclgate never changes
            // system passwords (400, docs/access_api.md).
            [Is(400), OK, DENIED, OK],
            "each user changes their own password; a token never",
        ),
        // --- permissions ---
        row(M::GET, "/access/permissions", &[], [OK; 4], "own: free"),
        row(
            M::GET,
            "/access/permissions",
            &[("userid", "member@pve")],
            [OK, DENIED, DENIED, DENIED],
            "another user's: Sys.Audit on /access",
        ),
        row(
            M::GET,
            "/access/permissions",
            &[("userid", "deleg@pve!sep")],
            [OK, OK, OK, DENIED],
            "own token: free",
        ),
        row(
            M::GET,
            "/access/permissions",
            &[("userid", "deleg@pve")],
            [OK, OK, DENIED, DENIED],
            "a token asking for its owner needs Sys.Audit on /access",
        ),
        // --- pools ---
        row(
            M::GET,
            "/pools",
            &[],
            [
                Ids("poolid", &["p1", "p2"]),
                Ids("poolid", &[]),
                Ids("poolid", &[]),
                Ids("poolid", &[]),
            ],
            "pools with Pool.Audit",
        ),
        row(
            M::POST,
            "/pools",
            &[("poolid", "p3")],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Allocate on /pool/p3",
        ),
        row(
            M::PUT,
            "/pools",
            &[("poolid", "p1"), ("comment", "c")],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Allocate on /pool/p1",
        ),
        row(
            M::DELETE,
            "/pools",
            &[("poolid", "p2")],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Allocate on /pool/p2",
        ),
        row(
            M::GET,
            "/pools/p1",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Audit on /pool/p1",
        ),
        row(
            M::PUT,
            "/pools/p1",
            &[("comment", "c")],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Allocate on /pool/p1",
        ),
        row(
            M::DELETE,
            "/pools/p2",
            &[],
            [OK, DENIED, DENIED, DENIED],
            "Pool.Allocate on /pool/p2",
        ),
    ]
}

#[tokio::test]
async fn every_handler_route_as_every_caller() {
    let rows = rows();
    let failures = uncovered_routes(&rows);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let mut failures = Vec::new();
    // GET changes nothing: one gateway answers every GET row.
    let shared = start().await;
    for row in &rows {
        for (index, want) in row.want.iter().enumerate() {
            let fresh;
            let api = if row.method == Method::GET {
                &shared
            } else {
                fresh = start().await;
                &fresh
            };
            let (status, body) = send(api, row, index).await;
            if let Err(e) = check(*want, status, &body) {
                failures.push(format!(
                    "{} {} as {}: {e} ({})\n    body: {body}",
                    row.method, row.path, CALLERS[index].0, row.why
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ from Proxmox:\n{}",
        failures.len(),
        rows.len() * CALLERS.len(),
        failures.join("\n")
    );
}

/// Every handler route of access.toml has a row; every row is a handler route.
fn uncovered_routes(rows: &[Row]) -> Vec<String> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml");
    let table = RouteTable::load(&[file]).unwrap();
    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    for row in rows {
        let path = format!("/api2/json{}", row.path.replace("{self}", "x@pve"));
        match table.find(row.method.as_str(), &path) {
            Some(m) if m.route.handler.is_some() => {
                covered.insert((m.route.method.as_str(), m.route.template.clone()));
            }
            _ => failures.push(format!("row {} {}: no handler route", row.method, row.path)),
        }
    }
    for route in table.routes().iter().filter(|r| r.handler.is_some()) {
        let key = (route.method.as_str(), route.template.clone());
        if !covered.contains(&key) {
            failures.push(format!(
                "route {} {} ({}) has no row",
                key.0, key.1, route.source
            ));
        }
    }
    failures
}

async fn start() -> Api {
    static SHADOW: OnceLock<String> = OnceLock::new();
    let shadow = SHADOW.get_or_init(|| {
        PASSWORDS
            .iter()
            .map(|(name, pw)| format!("{name}:{}:\n", crypt::hash_password(pw).unwrap()))
            .collect()
    });
    Api::start(
        USER_CFG,
        &TOKENS,
        &[
            ("priv/shadow.cfg", shadow),
            ("domains.cfg", DOMAINS_CFG),
            ("priv/tfa.cfg", TFA_CFG),
        ],
    )
    .await
}

/// The row's request as caller `index`.
async fn send(api: &Api, row: &Row, index: usize) -> (u16, Value) {
    let (authid, password) = CALLERS[index];
    let user = authid.split('!').next().unwrap_or(authid);
    let auth = if authid.contains('!') {
        Auth::Header(token(authid))
    } else {
        api.ticket(authid)
    };
    let path = row.path.replace("{self}", user);
    let form: Vec<(&str, String)> = row
        .form
        .iter()
        .filter_map(|(k, v)| match *v {
            "{pw}" => password.map(|p| (*k, p.to_owned())),
            "{self}" => Some((*k, user.to_owned())),
            v => Some((*k, v.to_owned())),
        })
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    api.call_as(&auth, row.method.clone(), &path, &form).await
}

fn check(want: Want, status: u16, body: &Value) -> Result<(), String> {
    match want {
        Is(s) if status == s => Ok(()),
        Is(s) => Err(format!("got {status}, want {s}")),
        Unwritten if status == 501 => Ok(()),
        Unwritten => Err(format!(
            "got {status}, want 501 (no handler yet; update the row now that there is one)"
        )),
        Passes if status != 401 && status != 403 => Ok(()),
        Passes => Err(format!("got {status}, want the check to pass")),
        Ids(key, want) => {
            if status != 200 {
                return Err(format!("got {status}, want 200 with {want:?}"));
            }
            let mut got = ids(body, key);
            got.sort();
            let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            want.sort();
            if got == want {
                Ok(())
            } else {
                Err(format!("listed {got:?}, want {want:?}"))
            }
        }
    }
}

/// The list items' `key` values (`a+b` joins several fields with a space).
fn ids(body: &Value, key: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    key.split('+')
                        .map(|k| item[k].as_str().unwrap_or("?"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![format!("not a list: {body}")])
}
