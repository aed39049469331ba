//! Decisions of the shipped Proxmox VE policy against a user.cfg fixture: allow and deny for
//! every check kind, root@pam, root's tokens, allowtoken, world, all and root-only routes.

use std::path::PathBuf;

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::identity::Authid;
use aclgate::policy::{Caller, EvalContext, Params, RouteTable, eval};

struct Fixture {
    table: RouteTable,
    users: UserConfig,
    engine: Engine,
}

fn fixture() -> Fixture {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let table = RouteTable::load(&[
        root.join("policies/pve.toml"),
        root.join("policies/access.toml"),
    ])
    .expect("pve.toml and access.toml load");
    let text = std::fs::read_to_string(root.join("tests/fixtures/policy/eval.cfg")).expect("cfg");
    let (users, warnings) = UserConfig::parse(&text);
    assert!(warnings.is_empty(), "fixture warnings: {warnings:?}");
    let engine = Engine::build(&users);
    Fixture {
        table,
        users,
        engine,
    }
}

/// One request: `authid` calls `method path?query` with a form `body`; `want` is `Ok(())` for
/// allow or `Err(message)` for deny with Proxmox's message.
fn check(
    f: &Fixture,
    authid: &str,
    method: &str,
    target: &str,
    body: &str,
    want: Result<(), &str>,
) {
    let id: Authid = authid.parse().unwrap_or_else(|e| panic!("{authid}: {e}"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let full = format!("/api2/json{path}");
    let m = f
        .table
        .find(method, &full)
        .unwrap_or_else(|| panic!("no route for {method} {full}"));
    let mut params = Params::new(m.path_params);
    params.add_query(query).expect("query parses");
    if m.route.needs_body() {
        params
            .add_body(Some("application/x-www-form-urlencoded"), body.as_bytes())
            .expect("body parses");
    }
    let caller = Caller {
        authid: &id,
        via_token: id.is_token(),
    };
    let ctx = EvalContext {
        engine: &f.engine,
        users: &f.users,
    };
    let d = eval(m.route, &caller, &params, &ctx);
    let got = if d.allow {
        Ok(())
    } else {
        Err(d.reason.to_string())
    };
    assert_eq!(
        got.as_ref().map(|_| ()).map_err(String::as_str),
        want,
        "{authid} {method} {target} body `{body}` (route {})",
        m.route.source
    );
}

const ROOT_ONLY: &str = "Permission check failed (user != root@pam)";
const FAILED: &str = "Permission check failed";

#[test]
fn world_all_root_only_and_root() {
    let f = fixture();
    check(&f, "alice@pve", "GET", "/access/ticket", "", Ok(()));
    check(&f, "alice@pve", "GET", "/version", "", Ok(()));
    check(&f, "alice@pve!priv", "GET", "/version", "", Ok(()));
    // user: all wins over the check next to it, as in Proxmox.
    check(&f, "alice@pve", "GET", "/cluster/options", "", Ok(()));
    check(
        &f,
        "alice@pve",
        "POST",
        "/cluster/config",
        "",
        Err(ROOT_ONLY),
    );
    check(&f, "root@pam", "POST", "/cluster/config", "", Ok(()));
    check(
        &f,
        "root@pam",
        "GET",
        "/nodes/n1/qemu/999/status/current",
        "",
        Ok(()),
    );
    // root's token is not root: root-only routes refuse it, privileges still come from root.
    check(
        &f,
        "root@pam!auto",
        "POST",
        "/cluster/config",
        "",
        Err(ROOT_ONLY),
    );
    check(
        &f,
        "root@pam!auto",
        "GET",
        "/nodes/n1/qemu/999/status/current",
        "",
        Ok(()),
    );
    check(
        &f,
        "root@pam!auto",
        "GET",
        "/access/users/bob@pve",
        "",
        Ok(()),
    );
}

#[test]
fn allowtoken_false() {
    let f = fixture();
    let msg = "Permission check failed (URI '/access/tfa/root@pam' not available with API token, need proper ticket.\n)";
    check(
        &f,
        "root@pam!auto",
        "POST",
        "/access/tfa/root@pam",
        "",
        Err(msg),
    );
    check(&f, "root@pam", "POST", "/access/tfa/root@pam", "", Ok(()));
    check(&f, "alice@pve", "POST", "/access/tfa/alice@pve", "", Ok(()));
    let msg = "Permission check failed (URI '/access/tfa/alice@pve' not available with API token, need proper ticket.\n)";
    check(
        &f,
        "alice@pve!full",
        "POST",
        "/access/tfa/alice@pve",
        "",
        Err(msg),
    );
}

#[test]
fn perm_all_any_and_tokens() {
    let f = fixture();
    let status = "/nodes/n1/qemu/100/status";
    check(
        &f,
        "alice@pve",
        "GET",
        &format!("{status}/current"),
        "",
        Ok(()),
    );
    check(
        &f,
        "alice@pve",
        "GET",
        "/nodes/n1/qemu/101/status/current",
        "",
        Err("Permission check failed (/vms/101, VM.Audit)"),
    );
    // privsep token: own PVEAuditor ∩ owner's PVEVMUser.
    check(
        &f,
        "alice@pve!priv",
        "GET",
        &format!("{status}/current"),
        "",
        Ok(()),
    );
    check(
        &f,
        "alice@pve!priv",
        "POST",
        &format!("{status}/start"),
        "",
        Err("Permission check failed (/vms/100, VM.PowerMgmt)"),
    );
    check(
        &f,
        "alice@pve!full",
        "POST",
        &format!("{status}/start"),
        "",
        Ok(()),
    );
    check(
        &f,
        "alice@pve!nope",
        "GET",
        &format!("{status}/current"),
        "",
        Err("Permission check failed (/vms/100, VM.Audit)"),
    );
    // any: one of Sys.Audit, Group.Allocate on /access/groups.
    check(&f, "auditor@pve", "GET", "/access/groups/staff", "", Ok(()));
    check(
        &f,
        "alice@pve",
        "GET",
        "/access/groups/staff",
        "",
        Err("Permission check failed (/access/groups, Sys.Audit|Group.Allocate)"),
    );
}

#[test]
fn and_or_require_param() {
    let f = fixture();
    let clone = "/nodes/n1/qemu/100/clone";
    check(&f, "cloner@pve", "POST", clone, "newid=400", Ok(()));
    check(
        &f,
        "cloner@pve",
        "POST",
        clone,
        "newid=500&pool=devpool",
        Ok(()),
    );
    check(&f, "cloner@pve", "POST", clone, "newid=500", Err(FAILED));
    check(&f, "cloner@pve", "POST", clone, "pool=devpool", Ok(()));
    check(
        &f,
        "cloner@pve",
        "POST",
        &format!("{clone}?newid=400"),
        "",
        Ok(()),
    );
    check(
        &f,
        "cloner@pve",
        "POST",
        "/nodes/n1/qemu/101/clone",
        "newid=400",
        Err("Permission check failed (/vms/101, VM.Clone)"),
    );
    check(
        &f,
        "pooladm@pve",
        "DELETE",
        "/pools?poolid=devpool",
        "",
        Ok(()),
    );
    check(
        &f,
        "pooladm@pve",
        "DELETE",
        "/pools",
        "",
        Err("Permission check failed (parameter 'poolid' missing or not a valid path component)"),
    );
    check(
        &f,
        "pooladm@pve",
        "DELETE",
        "/pools?poolid=dev/pool",
        "",
        Err("Permission check failed (parameter 'poolid' missing or not a valid path component)"),
    );
}

#[test]
fn userid_param_and_userid_group_create() {
    let f = fixture();
    check(
        &f,
        "uadmin@pve",
        "POST",
        "/access/users",
        "userid=new@pve",
        Err("Permission check failed (/access/realm/pve, Realm.AllocateUser)"),
    );
    check(
        &f,
        "radmin@pve",
        "POST",
        "/access/users",
        "userid=new@pve",
        Err("Permission check failed (/access/groups, User.Modify)"),
    );
    check(
        &f,
        "helpdesk@pve",
        "POST",
        "/access/users",
        "userid=new@pve&groups=staff",
        Ok(()),
    );
    check(
        &f,
        "helpdesk@pve",
        "POST",
        "/access/users",
        "userid=new@pve&groups=staff,ldapers",
        Err("Permission check failed (/access/groups/ldapers, User.Modify)"),
    );
    check(
        &f,
        "helpdesk@pve",
        "POST",
        "/access/users",
        "userid=new@ldap&groups=staff",
        Err("Permission check failed (/access/realm/ldap, Realm.AllocateUser)"),
    );
    // userid-param self, inside or(self, and(Realm.AllocateUser, userid-group)).
    check(
        &f,
        "bob@pve",
        "PUT",
        "/access/password",
        "userid=bob@pve",
        Ok(()),
    );
    check(
        &f,
        "bob@pve",
        "PUT",
        "/access/password",
        "userid=carol@pve",
        Err(FAILED),
    );
    check(
        &f,
        "helpdesk@pve",
        "PUT",
        "/access/password",
        "userid=carol@pve",
        Ok(()),
    );
    check(
        &f,
        "alice@pve",
        "PUT",
        "/access/password",
        "userid=nobody",
        Err(FAILED),
    );
    check(&f, "alice@pve", "PUT", "/access/password", "", Err(FAILED));
}

#[test]
fn userid_group_global_delegated_update() {
    let f = fixture();
    check(
        &f,
        "uadmin@pve",
        "GET",
        "/access/users/dave@ldap",
        "",
        Ok(()),
    );
    check(
        &f,
        "helpdesk@pve",
        "GET",
        "/access/users/bob@pve",
        "",
        Ok(()),
    );
    check(
        &f,
        "helpdesk@pve",
        "GET",
        "/access/users/dave@ldap",
        "",
        Err(FAILED),
    );
    check(
        &f,
        "helpdesk@pve",
        "GET",
        "/access/users/ghost@pve",
        "",
        Err("no such user ('ghost@pve')"),
    );
    check(
        &f,
        "helpdesk@pve",
        "PUT",
        "/access/users/bob@pve",
        "groups=staff",
        Ok(()),
    );
    check(
        &f,
        "helpdesk@pve",
        "PUT",
        "/access/users/bob@pve",
        "comment=x",
        Err("Permission check failed (/access/groups, User.Modify)"),
    );
    check(
        &f,
        "uadmin@pve",
        "PUT",
        "/access/users/bob@pve",
        "comment=x",
        Ok(()),
    );
    check(
        &f,
        "helpdesk@pve",
        "PUT",
        "/access/users/dave@ldap",
        "groups=staff",
        Err(FAILED),
    );
    check(
        &f,
        "radmin@pve",
        "DELETE",
        "/access/users/bob@pve",
        "",
        Err(FAILED),
    );
    check(
        &f,
        "helpdesk@pve",
        "DELETE",
        "/access/users/bob@pve",
        "",
        Ok(()),
    );
}

#[test]
fn perm_modify() {
    let f = fixture();
    check(
        &f,
        "vmowner@pve",
        "PUT",
        "/access/acl",
        "path=/vms/300",
        Ok(()),
    );
    check(
        &f,
        "vmowner@pve",
        "PUT",
        "/access/acl",
        "path=//vms//300/",
        Ok(()),
    );
    check(
        &f,
        "vmowner@pve",
        "PUT",
        "/access/acl",
        "path=/vms/301",
        Err("Permission check failed (/vms/301, Permissions.Modify|VM.Allocate)"),
    );
    check(
        &f,
        "vmowner@pve",
        "PUT",
        "/access/acl",
        "path=/vms",
        Err("Permission check failed (/vms, Permissions.Modify)"),
    );
    check(
        &f,
        "storeadm@pve",
        "PUT",
        "/access/acl",
        "path=/storage/local",
        Ok(()),
    );
    check(
        &f,
        "storeadm@pve",
        "PUT",
        "/access/acl",
        "path=/storage/other",
        Err("Permission check failed (/storage/other, Permissions.Modify|Datastore.Allocate)"),
    );
    check(
        &f,
        "pooladm@pve",
        "PUT",
        "/access/acl",
        "path=/pool/devpool",
        Ok(()),
    );
    check(
        &f,
        "permadm@pve",
        "PUT",
        "/access/acl",
        "path=/nodes/n1",
        Ok(()),
    );
    check(
        &f,
        "vmowner@pve",
        "PUT",
        "/access/acl",
        "",
        Err("Permission check failed (parameter 'path' missing or not a valid path component)"),
    );
}
