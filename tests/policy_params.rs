//! Request parameters as checks see them (spec §5.2): path, body (form or JSON), query.

use aclgate::policy::{ParamError, Params, PathParams};

/// Build params from path params, a query and an optional (content type, body); then compare
/// every `(name, value)` in `want`.
fn check(
    path: &[(&'static str, &'static str)],
    query: &'static str,
    body: Option<(Option<&str>, &'static str)>,
    want: &[(&str, Option<&str>)],
) {
    let mut p = Params::new(PathParams::from_slice(path).expect("few params"));
    p.add_query(query)
        .unwrap_or_else(|e| panic!("query `{query}`: {e}"));
    if let Some((ct, b)) = body {
        p.add_body(ct, b.as_bytes())
            .unwrap_or_else(|e| panic!("body `{b}` ({ct:?}): {e}"));
    }
    for (name, value) in want {
        assert_eq!(
            p.get(name),
            *value,
            "`{name}` with path {path:?}, query `{query}`, body {body:?}"
        );
    }
}

fn check_err(
    path: &[(&'static str, &'static str)],
    query: &'static str,
    body: Option<(Option<&str>, &'static str)>,
    want: ParamError,
) {
    let mut p = Params::new(PathParams::from_slice(path).expect("few params"));
    let got = p.add_query(query).and_then(|()| match body {
        Some((ct, b)) => p.add_body(ct, b.as_bytes()),
        None => Ok(()),
    });
    assert_eq!(
        got,
        Err(want),
        "path {path:?}, query `{query}`, body {body:?}"
    );
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json; charset=utf-8");

#[test]
fn sources_and_precedence() {
    check(
        &[("vmid", "100")],
        "",
        None,
        &[("vmid", Some("100")), ("node", None)],
    );
    check(
        &[],
        "a=1&b=x%2Fy+z;c=%zz",
        None,
        &[("a", Some("1")), ("b", Some("x/y z")), ("c", Some("%zz"))],
    );
    // The query wins over the body, key by key.
    check(
        &[],
        "a=q",
        Some((FORM, "a=b&c=b")),
        &[("a", Some("q")), ("c", Some("b"))],
    );
    check(&[], "a=q", Some((None, "a=b")), &[("a", Some("q"))]);
    // `_dc` is dropped; a key without `=` has no value and hides an earlier one.
    check(
        &[],
        "_dc=123&flag&x=1&x",
        None,
        &[("_dc", None), ("flag", None), ("x", None)],
    );
    // Repeated keys are joined with NUL, as Proxmox's decode_urlencoded does.
    check(&[], "groups=a&groups=b", None, &[("groups", Some("a\0b"))]);
    // Invalid UTF-8 becomes U+FFFD.
    check(&[], "n=%ff", None, &[("n", Some("\u{fffd}"))]);
}

#[test]
fn json_bodies() {
    check(
        &[("node", "n1")],
        "",
        Some((
            JSON,
            r#"{"vmid": 100, "name": "web", "on": true, "off": false, "x": null, "l": [1], "o": {}, "node": "n1"}"#,
        )),
        &[
            ("vmid", Some("100")),
            ("name", Some("web")),
            ("on", Some("1")),
            ("off", Some("0")),
            ("x", None),
            ("l", None),
            ("o", None),
            ("node", Some("n1")),
        ],
    );
    check(
        &[],
        "vmid=7",
        Some((JSON, r#"{"vmid": 100}"#)),
        &[("vmid", Some("7"))],
    );
    check_err(&[], "", Some((JSON, "[1, 2]")), ParamError::JsonNotObject);
    check_err(&[], "", Some((JSON, "{")), ParamError::JsonNotObject);
    check_err(
        &[],
        "",
        Some((Some("multipart/form-data; boundary=x"), "--x")),
        ParamError::UnsupportedContentType("multipart/form-data".into()),
    );
}

#[test]
fn conflicts_with_path_params() {
    check(
        &[("vmid", "100")],
        "vmid=100",
        Some((FORM, "vmid=100")),
        &[("vmid", Some("100"))],
    );
    check_err(
        &[("vmid", "100")],
        "vmid=200",
        None,
        ParamError::Conflict("vmid".into()),
    );
    check_err(
        &[("vmid", "100")],
        "",
        Some((FORM, "vmid=200")),
        ParamError::Conflict("vmid".into()),
    );
    check_err(
        &[("vmid", "100")],
        "",
        Some((JSON, r#"{"vmid": 200}"#)),
        ParamError::Conflict("vmid".into()),
    );
    check_err(
        &[("vmid", "100")],
        "vmid",
        None,
        ParamError::Conflict("vmid".into()),
    );
    check_err(
        &[("vmid", "100")],
        "vmid=100&vmid=100",
        None,
        ParamError::Conflict("vmid".into()),
    );
    // A conflicting body value hidden by an agreeing query value is no conflict (query wins).
    check(
        &[("vmid", "100")],
        "vmid=100",
        Some((FORM, "vmid=200")),
        &[("vmid", Some("100"))],
    );
    // Path parameters win for reading.
    check(
        &[("vmid", "100")],
        "other=1",
        None,
        &[("vmid", Some("100"))],
    );
}
