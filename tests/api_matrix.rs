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
//! The rows are in `tests/fixtures/api_matrix.toml`. Expected answers come from Proxmox's
//! rules (the route's check, then the handler-side rules of pve-access-control's `API2/*.pm`
//! and pve-manager's `API2/Pool.pm`), not from what aclgate answers. List endpoints filter
//! rather than refuse: their rows name the ids each caller gets back. The routes are read from
//! `policies/access.toml`, so a new handler route without a row fails the test. Requests that
//! change state run on a fresh gateway per caller.

mod api_support;
mod gateway_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use aclgate::auth::realm::crypt;
use aclgate::policy::RouteTable;
use reqwest::Method;
use serde::Deserialize;
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

/// The fixture file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    row: Vec<Row>,
}

/// One representative request and what each caller gets (see the fixture's header).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    request: String,
    #[serde(default)]
    form: BTreeMap<String, String>,
    /// The id field(s) of list items.
    key: Option<String>,
    all: Option<Want>,
    root: Option<Want>,
    deleg: Option<Want>,
    token: Option<Want>,
    plain: Option<Want>,
    why: String,
}

/// What one caller gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Want {
    /// This status.
    Status(u16),
    /// 200, and the list items' `key` values, in any order.
    Ids(Vec<String>),
    /// `unwritten` (501: no handler yet) or `passes` (not 401/403).
    Word(String),
}

/// The four callers (authid, own password), in the order of [`Row::wants`].
const CALLERS: [(&str, Option<&str>); 4] = [
    ("root@pam", None),
    ("deleg@pve", Some("deleg-pw-1")),
    ("deleg@pve!sep", Some("deleg-pw-1")),
    ("plain@pve", Some("plain-pw-1")),
];

// === impl Row ===

impl Row {
    fn method(&self) -> Method {
        let (method, _) = self.request.split_once(' ').unwrap_or(("", ""));
        Method::from_bytes(method.as_bytes()).unwrap()
    }

    fn path(&self) -> &str {
        self.request.split_once(' ').map_or("", |(_, p)| p)
    }

    /// root, deleg, token, plain; each given, or `all`.
    fn wants(&self) -> [Want; 4] {
        [&self.root, &self.deleg, &self.token, &self.plain].map(|w| {
            w.clone()
                .or_else(|| self.all.clone())
                .unwrap_or_else(|| panic!("{}: a caller without an answer", self.request))
        })
    }
}

fn rows() -> Vec<Row> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api_matrix.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let matrix: Matrix =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    matrix.row
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
        for (index, want) in row.wants().into_iter().enumerate() {
            let fresh;
            let api = if row.method() == Method::GET {
                &shared
            } else {
                fresh = start().await;
                &fresh
            };
            let (status, body) = send(api, row, index).await;
            if let Err(e) = check(&want, row.key.as_deref(), status, &body) {
                failures.push(format!(
                    "{} {:?} as {}: {e} ({})\n    body: {body}",
                    row.request, row.form, CALLERS[index].0, row.why
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
        let path = format!("/api2/json{}", row.path().replace("{self}", "x@pve"));
        match table.find(row.method().as_str(), &path) {
            Some(m) if m.route.handler.is_some() => {
                covered.insert((m.route.method.as_str(), m.route.template.clone()));
            }
            _ => failures.push(format!("row {}: no handler route", row.request)),
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
    let path = row.path().replace("{self}", user);
    let form: Vec<(&str, &str)> = row
        .form
        .iter()
        .filter_map(|(k, v)| match v.as_str() {
            "{pw}" => password.map(|p| (k.as_str(), p)),
            "{self}" => Some((k.as_str(), user)),
            v => Some((k.as_str(), v)),
        })
        .collect();
    api.call_as(&auth, row.method(), &path, &form).await
}

fn check(want: &Want, key: Option<&str>, status: u16, body: &Value) -> Result<(), String> {
    match want {
        Want::Status(s) if status == *s => Ok(()),
        Want::Status(s) => Err(format!("got {status}, want {s}")),
        Want::Word(w) if w == "unwritten" => match status {
            501 => Ok(()),
            _ => Err(format!(
                "got {status}, want 501 (no handler yet; update the row now that there is one)"
            )),
        },
        Want::Word(w) if w == "passes" => match status {
            401 | 403 => Err(format!("got {status}, want the check to pass")),
            _ => Ok(()),
        },
        Want::Word(w) => Err(format!("unknown answer `{w}` in the fixture")),
        Want::Ids(want) => {
            if status != 200 {
                return Err(format!("got {status}, want 200 with {want:?}"));
            }
            let key = key.ok_or("a list answer needs `key` in the fixture")?;
            let mut got = ids(body, key);
            got.sort();
            let mut want = want.clone();
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
