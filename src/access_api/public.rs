//! The small world-readable endpoints: `GET /access` (directory index) and
//! `GET /access/domains` (the realm list the login box shows).

use serde_json::{Value, json};

use super::{ApiContext, ApiResult};

/// Sub-directories of `/access`, as Proxmox lists them.
const INDEX: [&str; 11] = [
    "users",
    "groups",
    "roles",
    "acl",
    "domains",
    "openid",
    "tfa",
    "ticket",
    "password",
    "permissions",
    "vncticket",
];

/// `GET /access`: `[{"subdir": ...}, ...]`.
pub fn index(_ctx: &ApiContext<'_>) -> ApiResult {
    Ok(Value::Array(
        INDEX.iter().map(|d| json!({ "subdir": d })).collect(),
    ))
}

/// `GET /access/domains`: every realm with its type, and `comment`, `tfa`, `default` when set.
pub fn domains(ctx: &ApiContext<'_>) -> ApiResult {
    let list = ctx
        .snapshot
        .domains
        .realms()
        .map(|r| {
            let mut entry = json!({ "realm": r.realm.as_str(), "type": r.kind.as_str() });
            if let Some(c) = r.comment() {
                entry["comment"] = Value::from(c);
            }
            if let Some(tfa) = r.option("tfa") {
                // `type=oath,digits=6` or `oath,...`: the list shows the type only.
                let kind = tfa
                    .split(',')
                    .find_map(|part| match part.split_once('=') {
                        Some(("type", v)) => Some(v),
                        Some(_) => None,
                        None => Some(part),
                    })
                    .unwrap_or(tfa);
                entry["tfa"] = Value::from(kind);
            }
            if r.is_default() {
                entry["default"] = Value::from(1);
            }
            entry
        })
        .collect();
    Ok(Value::Array(list))
}
