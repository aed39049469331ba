//! One compiled route of a policy file: method, path template, and who may call it.

use std::fmt;
use std::str::FromStr;

use super::check::Check;
use super::handler::Handler;
use super::params::Params;

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Full path template including the file's `prefix` (`/api2/json/nodes/{node}`).
    pub template: String,
    /// Who may call it.
    pub access: Access,
    /// Whether API tokens may call it (`allowtoken`, default true).
    pub allowtoken: bool,
    /// Whether a WebSocket upgrade is passed on (`websocket = true`, default false). No other
    /// upgrade (`h2c`, ...) is ever passed on: on every other request `Upgrade` is dropped.
    pub websocket: bool,
    /// A built-in handler that answers the route instead of the upstream (e.g. the
    /// `/access/*` endpoints aclgate serves itself), resolved at load; `None` = forward.
    pub handler: Option<Handler>,
    /// Prose from the policy file, if any.
    pub description: Option<String>,
    /// Where the route was defined: `file:line`.
    pub source: String,
    /// Names of the template's `{param}` segments, in order.
    pub path_params: Vec<String>,
    /// Request (query or body) parameters the check reads: the route's `params` list.
    pub params: Vec<String>,
    /// Length of the prefix in `template`; the rest is the path Proxmox calls the relative URI.
    pub(crate) prefix_len: usize,
    /// Whether the check reads a parameter that is not a path parameter.
    pub(crate) reads_request_params: bool,
    /// Where the route is forwarded: its file's upstream and path rewrite.
    pub target: std::sync::Arc<super::target::UpstreamTarget>,
}

/// Who may call a route (spec §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `user = "world"`: no authentication at all.
    World,
    /// `user = "all"`: any authenticated user or token.
    All,
    /// No permissions given: root@pam only.
    RootOnly,
    /// A check of the schema language.
    Check(Check),
}

/// The HTTP methods a route may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD` (not implied by `GET`).
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
}

/// A method name outside [`Method`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMethod;

// === impl Route ===

impl Route {
    /// Whether the gateway must buffer the request body to evaluate this route: the method can
    /// carry a form or JSON body and the check reads a parameter that is not in the path.
    pub fn needs_body(&self) -> bool {
        // A built-in handler reads every parameter, so its body is always buffered.
        (self.reads_request_params || self.handler.is_some())
            && matches!(self.method, Method::Post | Method::Put | Method::Patch)
    }

    /// The template without the file's prefix: what Proxmox calls the relative URI.
    pub fn relative_template(&self) -> &str {
        match &self.template[self.prefix_len..] {
            "" => "/",
            rel => rel,
        }
    }

    /// The relative request path rebuilt from the path parameters (for Proxmox's messages).
    pub(crate) fn relative_uri(&self, params: &Params<'_>) -> String {
        let mut out = String::new();
        for comp in self.relative_template().split('/').skip(1) {
            out.push('/');
            match super::template::whole_param(comp) {
                Some(name) => out.push_str(params.path_param(name).unwrap_or(comp)),
                None => out.push_str(comp),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

// === impl Method ===

impl Method {
    /// Every method, in router order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// The method's name in upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    /// Exact, upper-case names only (HTTP methods are case-sensitive).
    fn from_str(s: &str) -> Result<Self, UnknownMethod> {
        Ok(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return Err(UnknownMethod),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
