//! Policy files (`policies/*.toml`, DESIGN §3): the TOML shape and its compiler into [`Route`]s.
//!
//! Every error names `file:line`. Unknown keys are errors (`deny_unknown_fields`).

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::PolicyError;
use super::check::{Check, Value};
use super::handler::Handler;
use super::route::{Access, Method, Route};
use super::target::UpstreamTarget;
use super::template::whole_param;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// Prepended to every route path.
    prefix: Option<Spanned<String>>,
    /// The named upstream of every route here (`default` if absent).
    upstream: Option<Spanned<String>>,
    /// Removed from the front of the forwarded path.
    strip_prefix: Option<Spanned<String>>,
    /// Put in front of the forwarded path (after stripping).
    add_prefix: Option<Spanned<String>>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
}

/// One `[[route]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    method: Spanned<String>,
    path: Spanned<String>,
    check: Option<Spanned<toml::Value>>,
    user: Option<Spanned<String>>,
    allowtoken: Option<bool>,
    websocket: Option<Spanned<bool>>,
    description: Option<String>,
    params: Option<Spanned<Vec<String>>>,
    handler: Option<Spanned<String>>,
}

/// Compile the text of one policy file named `name`.
pub(crate) fn compile(name: &str, text: &str) -> Result<Vec<Route>, PolicyError> {
    let at = |span: Range<usize>| format!("{name}:{}", line_of(text, span.start));
    let raw: RawFile = toml::from_str(text).map_err(|e| PolicyError::Load {
        at: e.span().map_or_else(|| format!("{name}:1"), &at),
        message: e.message().trim_end().to_owned(),
    })?;
    let prefix = match &raw.prefix {
        None => String::new(),
        Some(p) => {
            let v = p.get_ref();
            let ok = v.starts_with('/')
                && !v.ends_with('/')
                && !v.contains("//")
                && !v.contains(['{', '}']);
            if !ok {
                return Err(load(
                    at(p.span()),
                    format!(
                        "prefix `{v}` must start with `/`, not end with `/` and hold no parameters"
                    ),
                ));
            }
            v.clone()
        }
    };
    let routes = raw
        .route
        .iter()
        .map(|r| compile_route(&prefix, r.get_ref(), at(r.span()), &at))
        .collect::<Result<Vec<Route>, PolicyError>>()?;
    set_target(&raw, routes, &at)
}

/// The file's forwarding target (`upstream`, `strip_prefix`, `add_prefix`), shared by its
/// routes; every route must start with the prefix to strip.
fn set_target(
    raw: &RawFile,
    mut routes: Vec<Route>,
    at: &impl Fn(Range<usize>) -> String,
) -> Result<Vec<Route>, PolicyError> {
    let target = UpstreamTarget::parse(
        raw.upstream.as_ref(),
        raw.strip_prefix.as_ref(),
        raw.add_prefix.as_ref(),
        at,
    )?;
    for route in &mut routes {
        if !target.strips(&route.template) {
            return Err(load(
                route.source.clone(),
                format!(
                    "path `{}` does not start with strip_prefix `{}`",
                    route.template, target.strip_prefix
                ),
            ));
        }
        route.target = target.clone();
    }
    Ok(routes)
}

fn compile_route(
    prefix: &str,
    r: &RawRoute,
    source: String,
    at: &impl Fn(Range<usize>) -> String,
) -> Result<Route, PolicyError> {
    let method: Method = r.method.get_ref().parse().map_err(|_| {
        load(
            at(r.method.span()),
            format!(
                "unknown method `{}` (one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
                r.method.get_ref()
            ),
        )
    })?;
    let path = r.path.get_ref();
    let path_params = route_params(path).map_err(|m| load(at(r.path.span()), m))?;
    let template = match (prefix, path.as_str()) {
        (p, "/") if !p.is_empty() => p.to_owned(),
        (p, path) => format!("{p}{path}"),
    };

    let check = match &r.check {
        None => None,
        Some(c) => Some(
            Check::parse(&Value::from_toml(c.get_ref()))
                .map_err(|e| load(at(c.span()), format!("check: {}", e.0)))?,
        ),
    };
    let access = match (&r.user, check) {
        (None, None) => Access::RootOnly,
        (None, Some(c)) => Access::Check(c),
        (Some(u), c) => match (u.get_ref().as_str(), c) {
            ("world", None) => Access::World,
            // Proxmox evaluates `user: all` before `check`, so a check next to it never runs
            // (GET /cluster/options has both). Kept so files round-trip the schema.
            ("all", _) => Access::All,
            ("world", Some(_)) => {
                return Err(load(
                    at(u.span()),
                    "`user = \"world\"` cannot have a `check` (world routes are not authenticated)",
                ));
            }
            (other, _) => {
                return Err(load(
                    at(u.span()),
                    format!("user `{other}`: only \"all\" or \"world\""),
                ));
            }
        },
    };

    let declared = match &r.params {
        None => Vec::new(),
        Some(p) => {
            let mut seen = HashSet::new();
            for name in p.get_ref() {
                let problem = if !super::template::is_param_name(name) {
                    Some("is not a valid parameter name")
                } else if path_params.contains(name) {
                    Some("is a path parameter; list only query or body parameters")
                } else if !seen.insert(name) {
                    Some("is listed twice")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(load(at(p.span()), format!("params: `{name}` {problem}")));
                }
            }
            p.get_ref().clone()
        }
    };

    let mut reads_request_params = false;
    if let Access::Check(c) = &access {
        for name in c.params() {
            if path_params.iter().any(|p| p == name) {
                continue;
            }
            if !declared.iter().any(|p| p == name) {
                let span = r.check.as_ref().map_or(r.path.span(), Spanned::span);
                return Err(load(
                    at(span),
                    format!(
                        "check reads parameter `{name}`, which is neither a path parameter of \
                         `{path}` nor listed in `params`"
                    ),
                ));
            }
            reads_request_params = true;
        }
    }

    let handler = match &r.handler {
        None => None,
        Some(h) => {
            let name = h.get_ref();
            let Some(handler) = Handler::from_name(name) else {
                return Err(load(
                    at(h.span()),
                    format!("no built-in handler `{name}` in this build"),
                ));
            };
            Some(handler)
        }
    };

    let websocket = match &r.websocket {
        Some(w) if *w.get_ref() && method != Method::Get => {
            return Err(load(
                at(w.span()),
                "`websocket = true` needs `method = \"GET\"` (a WebSocket handshake is a GET)",
            ));
        }
        Some(w) => *w.get_ref(),
        None => false,
    };

    Ok(Route {
        method,
        template,
        access,
        allowtoken: r.allowtoken.unwrap_or(true),
        websocket,
        handler,
        description: r.description.clone(),
        source,
        path_params,
        params: declared,
        prefix_len: prefix.len(),
        reads_request_params,
        target: Default::default(),
    })
}

/// Validate a route path and return its parameter names in order.
fn route_params(path: &str) -> Result<Vec<String>, String> {
    if path == "/" {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path `{path}` must start with `/`"));
    };
    let mut names: Vec<String> = Vec::new();
    for comp in rest.split('/') {
        if comp.is_empty() {
            return Err(format!(
                "path `{path}` has an empty segment or a trailing `/`"
            ));
        }
        if let Some(name) = whole_param(comp) {
            if names.iter().any(|n| n == name) {
                return Err(format!("path `{path}` uses `{{{name}}}` twice"));
            }
            names.push(name.to_owned());
            if names.len() > super::path_params::MAX_PATH_PARAMS {
                return Err(format!(
                    "path `{path}` has more than {} parameters",
                    super::path_params::MAX_PATH_PARAMS
                ));
            }
        } else if comp.contains(['{', '}', '*']) || comp == "." || comp == ".." {
            return Err(format!(
                "path `{path}`: segment `{comp}` must be a plain name or a whole `{{param}}`"
            ));
        }
    }
    Ok(names)
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn load(at: String, message: impl Into<String>) -> PolicyError {
    PolicyError::Load {
        at,
        message: message.into(),
    }
}
