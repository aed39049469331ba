//! Policy files that must not load, each error naming `file:line`; and ones that must.

use aclgate::policy::{Access, RouteTable};

/// Loading `text` as `t.toml` fails with a message that starts with `t.toml:<line>:` and
/// contains `want`.
fn check_err(text: &str, line: usize, want: &str) {
    let e = RouteTable::from_str("t.toml", text)
        .map(|t| t.len())
        .expect_err(&format!("should not load:\n{text}"));
    let msg = e.to_string();
    let at = format!("t.toml:{line}: ");
    assert!(
        msg.starts_with(&at),
        "want `{at}...`, got `{msg}` for\n{text}"
    );
    assert!(msg.contains(want), "want `{want}` in `{msg}` for\n{text}");
}

const R: &str = "[[route]]\nmethod = \"GET\"\n";

#[test]
fn load_errors_name_file_and_line() {
    check_err("prefix = \"api\"\n", 1, "prefix `api`");
    check_err("bogus = 1\n", 1, "unknown field `bogus`");
    check_err(
        &format!("\n{R}path = \"/a\"\nuser = \"all\"\ncolour = 1\n"),
        6,
        "unknown field `colour`",
    );
    check_err(
        &format!("{R}path = \"/a\"\ncheck = [\"perm\", \"/\", [\"VM.Nope\"]]\n"),
        4,
        "unknown privilege `VM.Nope`",
    );
    check_err(
        &format!("{R}path = \"/a\"\ncheck = [\"perm\", \"/vms/{{vmid}}\", [\"VM.Audit\"]]\n"),
        4,
        "parameter `vmid`",
    );
    check_err(
        &format!("{R}path = \"/a\"\ncheck = [\"xor\"]\n"),
        4,
        "unknown check kind `xor`",
    );
    check_err(
        &format!("{R}path = \"/a\"\ncheck = \"perm\"\n"),
        4,
        "must be an array",
    );
    check_err(
        &format!("{R}path = \"/a\"\nuser = \"some\"\n"),
        4,
        "only \"all\" or \"world\"",
    );
    check_err(
        &format!(
            "{R}path = \"/a\"\nuser = \"world\"\ncheck = [\"perm\", \"/\", [\"Sys.Audit\"]]\n"
        ),
        4,
        "world",
    );
    check_err(
        "[[route]]\nmethod = \"get\"\npath = \"/a\"\n",
        2,
        "unknown method `get`",
    );
    check_err(&format!("{R}path = \"a\"\n"), 3, "must start with `/`");
    check_err(&format!("{R}path = \"/a/\"\n"), 3, "trailing");
    check_err(&format!("{R}path = \"/a/x{{id}}\"\n"), 3, "whole `{param}`");
    check_err(&format!("{R}path = \"/a/{{id}}/{{id}}\"\n"), 3, "twice");
    check_err(
        &format!("{R}path = \"/a/{{id}}\"\nparams = [\"id\"]\n"),
        4,
        "is a path parameter",
    );
    check_err(
        &format!("{R}path = \"/a\"\n\n{R}path = \"/a\"\n"),
        5,
        "duplicate route GET /a (first defined at t.toml:1)",
    );
    check_err(
        &format!("{R}path = \"/a/{{x}}\"\n\n{R}path = \"/a/{{y}}\"\n"),
        5,
        "duplicate route",
    );
    check_err(&format!("{R}path = 5\n"), 3, "invalid type");
    check_err("[[route]]\nmethod = \"GET\"\n", 1, "missing field `path`");
}

#[test]
fn well_formed_files_load() {
    let text = r#"
prefix = "/api"

[[route]]
method = "GET"
path = "/"
user = "all"

[[route]]
method = "POST"
path = "/items"
check = ["perm", "/vms/{id}", ["VM.Allocate"]]
params = ["id"]

[[route]]
method = "GET"
path = "/items/{id}"
check = ["perm", "/vms/{id}", ["VM.Audit"]]

[[route]]
method = "GET"
path = "/items/special"
user = "world"

[[route]]
method = "DELETE"
path = "/items/{id}"
allowtoken = false
"#;
    let t = RouteTable::from_str("ok.toml", text).expect("loads");
    assert_eq!(t.len(), 5);
    let m = t.find("GET", "/api").expect("prefix root");
    assert_eq!(m.route.access, Access::All);
    let m = t.find("GET", "/api/items/42").expect("param route");
    assert_eq!(*m.path_params, [("id", "42")]);
    assert!(!m.route.needs_body());
    // Static segments win over parameters.
    let m = t.find("GET", "/api/items/special").expect("static route");
    assert_eq!(m.route.access, Access::World);
    let m = t.find("POST", "/api/items").expect("post");
    assert!(m.route.needs_body(), "check reads body param `id`");
    assert_eq!(m.route.source, "ok.toml:9");
    let m = t.find("DELETE", "/api/items/1").expect("delete");
    assert_eq!(
        (m.route.access.clone(), m.route.allowtoken),
        (Access::RootOnly, false)
    );
    for (method, path) in [
        ("PUT", "/api/items/1"),
        ("GET", "/api/items/1/x"),
        ("GET", "/items/1"),
        ("get", "/api"),
        ("GET", "/api/"),
    ] {
        assert!(
            t.find(method, path).is_none(),
            "{method} {path} should not match"
        );
    }
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(
        &a,
        "[[route]]\nmethod = \"GET\"\npath = \"/x\"\nuser = \"all\"\n",
    )
    .expect("write");
    std::fs::write(
        &b,
        "# b\n[[route]]\nmethod = \"GET\"\npath = \"/x\"\nuser = \"all\"\n",
    )
    .expect("write");
    let e = RouteTable::load(&[a.clone(), b.clone()]).expect_err("duplicate across files");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{}:2: duplicate route", b.display())),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:1", a.display())), "{msg}");
    let missing = dir.path().join("missing.toml");
    let e = RouteTable::load(std::slice::from_ref(&missing)).expect_err("missing file");
    assert!(e.to_string().contains("missing.toml"), "{e}");
    assert_eq!(RouteTable::load(&[a]).expect("a alone loads").len(), 1);
}

#[test]
fn route_table_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<RouteTable>();
}
