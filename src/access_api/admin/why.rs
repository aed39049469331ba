//! `GET /access/aclgate/why` (aclgate's own, read-only): why an authid holds each privilege on
//! a path — the ACL node that decided, the entries there that apply, and the role behind each
//! privilege — and, given a method and request path, what the policy decides and why (the
//! answer of `aclgate explain`). Readable by whoever may read that authid's permissions
//! (`GET /access/permissions`): one's own and one's tokens' freely, anyone's with Sys.Audit on
//! `/access`.

use serde_json::{Value, json};

use super::{caller, has_any, privset, text};
use crate::access::{AclPath, builtin_role};
use crate::access::{MatchKind, Subject};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::identity::Authid;
use crate::policy::{self, Access, Caller, EvalContext, Params};

/// `GET /access/aclgate/why?authid=A&path=P[&method=M&uri=U]`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let me = caller(ctx)?;
    let target: Authid = match text(ctx, "authid") {
        None => me.clone(),
        Some(raw) => raw
            .parse()
            .map_err(|e| ApiError::param("authid", format!("invalid authid ({e})")))?,
    };
    let own = target == *me
        || matches!((&target, me), (Authid::Token(t), Authid::User(u)) if t.user() == *u);
    if !own && !has_any(ctx, "/access", privset(&["Sys.Audit"]))? {
        return Err(ApiError::Forbidden(
            "Permission check failed (/access, Sys.Audit)".to_owned(),
        ));
    }
    let raw_path = text(ctx, "path").unwrap_or("/");
    let path =
        AclPath::normalize(raw_path).ok_or_else(|| ApiError::param("path", "invalid ACL path"))?;
    let mut answer = privileges(ctx, &target, path.as_str());
    if let Some(uri) = text(ctx, "uri") {
        let method = text(ctx, "method").unwrap_or("GET");
        answer["policy"] = request(ctx, &target, method, uri)?;
    }
    Ok(answer)
}

/// The privileges on `path`, each with the roles that grant it, and the deciding node.
fn privileges(ctx: &ApiContext<'_>, target: &Authid, path: &str) -> Value {
    let engine = &ctx.snapshot.engine;
    let privs = engine.privs(target, path);
    let roles = engine.roles(target, path);
    let role_privs = |name: &str| {
        builtin_role(name).or_else(|| {
            ctx.snapshot
                .user_cfg
                .roles
                .iter()
                .find(|(id, _)| id.as_str() == name)
                .map(|(_, p)| *p)
        })
    };
    let list: Vec<Value> = privs
        .granted
        .iter()
        .map(|p| {
            let from: Vec<&str> = roles
                .keys()
                .filter(|r| role_privs(r).is_some_and(|set| set.contains(p)))
                .map(String::as_str)
                .collect();
            json!({
                "privilege": p.name(),
                "propagate": privs.propagate.contains(p),
                // No role here: the privilege comes from a pool's ACL or is root@pam's.
                "roles": from,
            })
        })
        .collect();
    let decider = engine.decider(target, path);
    let entries = decider
        .as_ref()
        .map(|d| entries_at(ctx, target, &d.path, d.kind))
        .unwrap_or_default();
    json!({
        "authid": target.as_str(),
        "path": path,
        "superuser": is_superuser(ctx, target),
        "decided-at": decider.as_ref().map(|d| json!({
            "path": d.path,
            "kind": match d.kind {
                MatchKind::User => "user",
                MatchKind::Groups => "group",
                MatchKind::Token => "token",
            },
            "exact": d.exact,
        })),
        "entries": entries,
        "roles": roles.iter().map(|(r, prop)| json!({"role": r, "propagate": prop})).collect::<Vec<_>>(),
        "privileges": list,
    })
}

/// Whether `target` holds everything everywhere (root@pam and its privsep=0 tokens).
fn is_superuser(ctx: &ApiContext<'_>, target: &Authid) -> bool {
    matches!(ctx.snapshot.engine.subject(target), Subject::All)
}

/// The ACL entries at `node` that apply to `target` with the kind that decided.
fn entries_at(ctx: &ApiContext<'_>, target: &Authid, node: &str, kind: MatchKind) -> Vec<Value> {
    let cfg = &ctx.snapshot.user_cfg;
    // The gateway's snapshot keeps its ACL entries only in the engine (docs/scale.md).
    let acl = ctx.snapshot.engine.acl_node(node);
    let userid = target.user_str();
    let mut out = Vec::new();
    let mut push = |ugid: String, roles: &std::collections::BTreeMap<_, bool>| {
        for (role, propagate) in roles {
            let role: &crate::identity::RoleId = role;
            out.push(json!({
                "path": node, "ugid": ugid, "roleid": role.as_str(), "propagate": propagate,
            }));
        }
    };
    match (kind, target) {
        (MatchKind::Token, Authid::Token(t)) => {
            for (id, roles) in acl.tokens.iter().filter(|(id, _)| *id == t) {
                push(id.as_str().to_owned(), roles);
            }
        }
        (MatchKind::User, _) => {
            for (id, roles) in acl.users.iter().filter(|(id, _)| id.as_str() == userid) {
                push(id.as_str().to_owned(), roles);
            }
        }
        (MatchKind::Groups, _) => {
            for (gid, roles) in &acl.groups {
                let member = cfg
                    .groups
                    .get(gid)
                    .is_some_and(|g| g.members.iter().any(|m| m.as_str() == userid));
                if member {
                    push(format!("@{}", gid.as_str()), roles);
                }
            }
        }
        (MatchKind::Token, Authid::User(_)) => {}
    }
    out
}

/// What the policy decides for `target` sending `method uri` (`uri` under `/api2/json`, with
/// an optional query string read as parameters).
fn request(ctx: &ApiContext<'_>, target: &Authid, method: &str, uri: &str) -> ApiResult {
    let method = method.to_ascii_uppercase();
    let (raw, query) = uri.split_once('?').unwrap_or((uri, ""));
    let full = if raw.starts_with("/api2/") {
        raw.to_owned()
    } else {
        format!("/api2/json{raw}")
    };
    let path = crate::policy::normalise(&full)
        .map_err(|e| ApiError::param("uri", format!("invalid path ({e})")))?;
    let Some(found) = ctx.snapshot.routes.find(&method, &path) else {
        return Ok(json!({
            "method": method, "uri": path, "route": null, "allow": false,
            "reason": "no route: denied (404 after authentication)",
        }));
    };
    let route = found.route;
    let mut params = Params::new(found.path_params);
    params
        .add_query(query)
        .map_err(|e| ApiError::param("uri", e.to_string()))?;
    let check = match &route.access {
        Access::World => "user = world (no authentication)".to_owned(),
        Access::All => "user = all (any authenticated user or token)".to_owned(),
        Access::RootOnly => "root@pam only".to_owned(),
        Access::Check(c) => c.to_string(),
    };
    let who = Caller {
        authid: target,
        via_token: target.is_token(),
    };
    let eval = EvalContext {
        engine: &ctx.snapshot.engine,
        users: &ctx.snapshot.user_cfg,
    };
    let decision = policy::eval(route, &who, &params, &eval);
    let token_refused = target.is_token() && !route.allowtoken;
    Ok(json!({
        "method": method,
        "uri": path,
        "route": format!("{} {}", route.method.as_str(), route.template),
        "source": route.source,
        "check": check,
        "allowtoken": route.allowtoken,
        "allow": decision.allow && !token_refused,
        "reason": if token_refused {
            "API tokens may not use this route (allowtoken = false)".to_owned()
        } else {
            decision.reason.to_string()
        },
    }))
}
