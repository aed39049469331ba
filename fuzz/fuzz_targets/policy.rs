//! Policy files (TOML routes with check expressions): compile any text without panicking; every
//! compiled check prints in its array form and that form compiles to the same check; routing and
//! evaluating a request (parameters from the input) never panics.
#![no_main]

use std::sync::LazyLock;

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::identity::Authid;
use aclgate::policy::CheckValue as Value;
use aclgate::policy::{Access, Caller, Check, EvalContext, Params, RouteTable, eval};
use aclgate_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

/// A small user.cfg: one admin, one user with a token, a group and a pool.
const USERS: &str = "\
user:root@pam:1:0::::::
user:alice@pve:1:0::::::
user:bob@pve:1:0::::::
token:bob@pve!ci:0:1::
group:ops:alice@pve::
pool:p1::100,101::
role:Operator:VM.Audit,VM.PowerMgmt,Sys.Audit:
acl:1:/vms:@ops:PVEVMAdmin:
acl:1:/pool/p1:bob@pve:Operator:
acl:1:/:bob@pve!ci:PVEAuditor:
";

static FIXTURE: LazyLock<(UserConfig, Engine)> = LazyLock::new(|| {
    let (users, _) = UserConfig::parse(USERS);
    let engine = Engine::build(&users);
    (users, engine)
});

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 5);
    let Ok(table) = RouteTable::from_str("fuzz.toml", &text(parts[0])) else {
        return;
    };
    for route in table.routes() {
        if let Access::Check(check) = &route.access {
            let printed = check.to_string();
            let json: serde_json::Value =
                serde_json::from_str(&printed).expect("a printed check is JSON");
            let again = Check::parse(&Value::from_json(&json)).expect("a printed check compiles");
            assert_eq!(&again, check, "check → text → check: {printed}");
        }
    }
    let (method, path, query, body) = (text(parts[1]), text(parts[2]), text(parts[3]), parts[4]);
    let Some(m) = table.find(method.trim(), &path) else {
        return;
    };
    let mut params = Params::new(m.path_params);
    if params.add_query(&query).is_err() {
        return;
    }
    if m.route.needs_body() && params.add_body(None, body).is_err() {
        return;
    }
    let (users, engine) = &*FIXTURE;
    let ctx = EvalContext { engine, users };
    for who in ["root@pam", "alice@pve", "bob@pve", "bob@pve!ci"] {
        let Ok(authid) = who.parse::<Authid>() else {
            continue;
        };
        let caller = Caller {
            authid: &authid,
            via_token: authid.is_token(),
        };
        let decision = eval(m.route, &caller, &params, &ctx);
        let _ = decision.reason.to_string();
    }
});
