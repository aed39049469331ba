//! Interim policy reader and evaluator (interfaces.md §B); replaced by `crate::policy`.
//!
//! Knows `perm` (with optional `"any", 1`), `and`, `or`, `user = "all" | "world"`, root-only
//! routes (no check, no user) and `allowtoken`. Linear route search.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::access::{AclPath, Engine, PrivSet};
use crate::config::UserConfig;
use crate::identity::Authid;

/// Loading or parsing a policy file failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {message}")]
    Load { file: String, message: String },
}

/// Parameter extraction failed (400).
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("duplicate parameter `{0}` (already defined in URI) with conflicting values")]
    Conflict(String),
    #[error("malformed request body: {0}")]
    Body(String),
}

/// Compiled routes.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    pub method: String,
    pub template: String,
    pub access: Access,
    pub allowtoken: bool,
    pub source: String,
}

/// Who may call a route.
#[derive(Debug, Clone)]
pub enum Access {
    World,
    All,
    RootOnly,
    Check(Check),
}

/// A permission expression.
#[derive(Debug, Clone)]
pub enum Check {
    Perm {
        path: String,
        privs: PrivSet,
        any: bool,
    },
    And(Vec<Check>),
    Or(Vec<Check>),
}

/// A found route and the path parameters.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub path_params: Vec<(&'a str, String)>,
}

/// Request parameters visible to checks.
#[derive(Debug, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
    path: BTreeMap<String, String>,
}

/// Everything eval reads.
pub struct EvalContext<'a> {
    pub engine: &'a Engine,
    pub users: &'a UserConfig,
}

/// The caller.
pub struct Caller<'a> {
    pub authid: &'a Authid,
    pub via_token: bool,
}

/// Allow or deny, with the reason.
#[derive(Debug)]
pub struct Decision {
    pub allow: bool,
    pub reason: Reason,
}

/// Why.
#[derive(Debug)]
pub enum Reason {
    World,
    Root,
    All,
    CheckPassed,
    TokenNotAllowed(String),
    RootOnly,
    Failed { path: String, privs: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    route: Vec<RouteDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDef {
    method: String,
    path: String,
    check: Option<toml::Value>,
    user: Option<String>,
    allowtoken: Option<bool>,
}

impl RouteTable {
    /// Load and compile policy files.
    pub fn load(files: &[PathBuf]) -> Result<RouteTable, PolicyError> {
        let mut table = RouteTable::default();
        for f in files {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|e| PolicyError::Load {
                file: name.clone(),
                message: e.to_string(),
            })?;
            table
                .routes
                .extend(RouteTable::from_str(&name, &text)?.routes);
        }
        Ok(table)
    }

    /// Compile one file's text.
    pub fn from_str(name: &str, text: &str) -> Result<RouteTable, PolicyError> {
        let err = |message: String| PolicyError::Load {
            file: name.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut routes = Vec::new();
        for (i, def) in file.route.into_iter().enumerate() {
            let access = match (def.user.as_deref(), &def.check) {
                (Some("world"), None) => Access::World,
                (Some("all"), None) => Access::All,
                (None, None) => Access::RootOnly,
                (None, Some(c)) => Access::Check(compile(c).map_err(err)?),
                _ => return Err(err(format!("route {}: bad access", i + 1))),
            };
            routes.push(Route {
                method: def.method.to_ascii_uppercase(),
                template: format!("{}{}", file.prefix, def.path),
                access,
                allowtoken: def.allowtoken.unwrap_or(true),
                source: format!("{name}:route[{}]", i + 1),
            });
        }
        Ok(RouteTable { routes })
    }

    /// Find the route for method + normalised path.
    pub fn find<'a>(&'a self, method: &str, path: &str) -> Option<RouteMatch<'a>> {
        self.routes.iter().find_map(|r| {
            if r.method != method {
                return None;
            }
            let mut params = Vec::new();
            let mut t = r.template.split('/');
            let mut p = path.split('/');
            loop {
                match (t.next(), p.next()) {
                    (None, None) => {
                        return Some(RouteMatch {
                            route: r,
                            path_params: params,
                        });
                    }
                    (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                        if ps.is_empty() {
                            return None;
                        }
                        params.push((&ts[1..ts.len() - 1], ps.to_owned()));
                    }
                    (Some(ts), Some(ps)) if ts == ps => {}
                    _ => return None,
                }
            }
        })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl Route {
    /// Whether the check reads a parameter that is not a path parameter.
    pub fn needs_body(&self) -> bool {
        fn vars(c: &Check, out: &mut Vec<String>) {
            match c {
                Check::Perm { path, .. } => {
                    for part in path.split('{').skip(1) {
                        if let Some((v, _)) = part.split_once('}') {
                            out.push(v.to_owned());
                        }
                    }
                }
                Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| vars(c, out)),
            }
        }
        let Access::Check(c) = &self.access else {
            return false;
        };
        let mut v = Vec::new();
        vars(c, &mut v);
        v.iter()
            .any(|v| !self.template.contains(&format!("{{{v}}}")))
    }
}

impl Params {
    /// Start from the path parameters.
    pub fn new(path_params: Vec<(&str, String)>) -> Params {
        let path: BTreeMap<String, String> = path_params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        Params {
            map: path.clone(),
            path,
        }
    }

    /// Add the query string (wins over the body).
    pub fn add_query(&mut self, query: &str) -> Result<(), ParamError> {
        for (k, v) in form_pairs(query) {
            self.insert(k, v)?;
        }
        Ok(())
    }

    /// Add a form or JSON body.
    pub fn add_body(&mut self, content_type: Option<&str>, body: &[u8]) -> Result<(), ParamError> {
        if content_type.is_some_and(|c| c.starts_with("application/json")) {
            let v: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| ParamError::Body(e.to_string()))?;
            if let serde_json::Value::Object(m) = v {
                for (k, v) in m {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => u8::from(b).to_string(),
                        _ => continue,
                    };
                    self.insert(k, s)?;
                }
            }
            return Ok(());
        }
        let text = std::str::from_utf8(body).map_err(|e| ParamError::Body(e.to_string()))?;
        for (k, v) in form_pairs(text) {
            self.insert(k, v)?;
        }
        Ok(())
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    fn insert(&mut self, k: String, v: String) -> Result<(), ParamError> {
        if self.path.get(&k).is_some_and(|p| *p != v) {
            return Err(ParamError::Conflict(k));
        }
        self.map.insert(k, v);
        Ok(())
    }
}

/// Evaluate a route's access rule (spec §5.1 order).
pub fn eval(route: &Route, caller: &Caller, params: &Params, ctx: &EvalContext) -> Decision {
    let deny = |reason| Decision {
        allow: false,
        reason,
    };
    if caller.via_token && !route.allowtoken {
        return deny(Reason::TokenNotAllowed(route.template.clone()));
    }
    match &route.access {
        Access::World => {
            return Decision {
                allow: true,
                reason: Reason::World,
            };
        }
        _ if caller.authid.is_root() => {
            return Decision {
                allow: true,
                reason: Reason::Root,
            };
        }
        Access::RootOnly => return deny(Reason::RootOnly),
        Access::All => {
            return Decision {
                allow: true,
                reason: Reason::All,
            };
        }
        Access::Check(_) => {}
    }
    let Access::Check(check) = &route.access else {
        return deny(Reason::RootOnly);
    };
    match eval_check(check, caller, params, ctx) {
        Ok(()) => Decision {
            allow: true,
            reason: Reason::CheckPassed,
        },
        Err(r) => deny(r),
    }
}

fn eval_check(
    c: &Check,
    caller: &Caller,
    params: &Params,
    ctx: &EvalContext,
) -> Result<(), Reason> {
    match c {
        Check::Perm { path, privs, any } => {
            let fail = |p: &str| Reason::Failed {
                path: p.to_owned(),
                privs: privs.to_string(),
            };
            let mut out = String::new();
            let mut rest = path.as_str();
            while let Some(i) = rest.find('{') {
                out.push_str(&rest[..i]);
                let Some(j) = rest[i..].find('}') else {
                    return Err(fail(path));
                };
                let v = params.get(&rest[i + 1..i + j]).unwrap_or("");
                if v.is_empty() || v.contains('/') {
                    return Err(fail(path));
                }
                out.push_str(v);
                rest = &rest[i + j + 1..];
            }
            out.push_str(rest);
            let Some(p) = AclPath::normalize(&out) else {
                return Err(fail(&out));
            };
            let have = ctx.engine.privs(caller.authid, p.as_str()).granted;
            let ok = if *any {
                have.intersects(*privs)
            } else {
                have.contains_all(*privs)
            };
            if ok {
                Ok(())
            } else {
                let missing = have.first_missing(*privs).map(|m| m.to_string());
                Err(Reason::Failed {
                    path: p.as_str().to_owned(),
                    privs: if *any {
                        privs.to_string()
                    } else {
                        missing.unwrap_or_default()
                    },
                })
            }
        }
        Check::And(cs) => cs
            .iter()
            .try_for_each(|c| eval_check(c, caller, params, ctx)),
        Check::Or(cs) => {
            let mut last = Reason::RootOnly;
            for c in cs {
                match eval_check(c, caller, params, ctx) {
                    Ok(()) => return Ok(()),
                    Err(r) => last = r,
                }
            }
            Err(last)
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::World => f.write_str("world"),
            Reason::Root => f.write_str("root@pam"),
            Reason::All => f.write_str("any authenticated user"),
            Reason::CheckPassed => f.write_str("check passed"),
            Reason::TokenNotAllowed(p) => write!(
                f,
                "Permission check failed (URI '{p}' not available with API token, need proper ticket."
            ),
            Reason::RootOnly => f.write_str("Permission check failed (user != root@pam)"),
            Reason::Failed { path, privs } => {
                write!(f, "Permission check failed ({path}, {privs})")
            }
        }
    }
}

fn compile(v: &toml::Value) -> Result<Check, String> {
    let arr = v.as_array().ok_or("check must be an array")?;
    let kind = arr
        .first()
        .and_then(|k| k.as_str())
        .ok_or("check kind missing")?;
    match kind {
        "perm" => {
            let path = arr
                .get(1)
                .and_then(|p| p.as_str())
                .ok_or("perm path missing")?;
            let names: Vec<&str> = arr
                .get(2)
                .and_then(|p| p.as_array())
                .ok_or("perm privileges missing")?
                .iter()
                .filter_map(|n| n.as_str())
                .collect();
            let privs = PrivSet::from_names(names).map_err(|e| e.to_string())?;
            let any = arr.get(3).and_then(|a| a.as_str()) == Some("any");
            Ok(Check::Perm {
                path: path.to_owned(),
                privs,
                any,
            })
        }
        "and" | "or" => {
            let cs = arr[1..]
                .iter()
                .map(compile)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if kind == "and" {
                Check::And(cs)
            } else {
                Check::Or(cs)
            })
        }
        other => Err(format!("unknown check kind `{other}` (interim reader)")),
    }
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .filter(|(k, _)| k != "_dc")
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}
