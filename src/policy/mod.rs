//! Route policies (DESIGN §3, spec §5): policy files compiled into a [`RouteTable`], the check
//! language as a [`Check`] enum, request [`Params`], and the pure [`eval`] that turns a route, a
//! caller and a snapshot into a [`Decision`] with Proxmox's reason.
//!
//! Pipeline: `file` (TOML → [`Route`]s, errors with `file:line`) → [`RouteTable`] (one `matchit`
//! router per method) → `params` (path, body, query) → `eval`. `import` turns Proxmox's API
//! schema dump into a policy file.

pub mod builtin;
mod check;
mod eval;
mod file;
mod handler;
mod import;
mod params;
mod path_params;
pub mod request_path;
mod route;
mod target;
mod template;

use std::collections::HashMap;
use std::path::PathBuf;

pub use check::{Check, GroupsParam, Value as CheckValue};
pub use eval::{Caller, Decision, EvalContext, Reason, eval};
pub use handler::{AdminHandler, Handler, LoginHandler};
pub use import::{ImportFilter, import_pve, import_pve_filtered};
pub use params::{ParamError, Params};
pub use path_params::{MAX_PATH_PARAMS, PathParams};
pub use request_path::{PathError, normalise};
pub use route::{Access, Method, Route};
pub use target::UpstreamTarget;
pub use template::Template;

/// Why policy files could not be loaded (or the schema dump imported).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read `{file}`: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// The file is not a valid policy; `at` is `file:line`.
    #[error("{at}: {message}")]
    Load { at: String, message: String },
    /// The Proxmox schema dump is not what `import-pve` expects.
    #[error("schema dump: {0}")]
    Import(String),
}

/// Every route of the loaded policy files, ready to match requests. Immutable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// One router per [`Method`], mapping a path to an index into `routes`.
    routers: Vec<matchit::Router<u32>>,
}

/// A request matched to its route.
#[derive(Debug)]
pub struct RouteMatch<'a, 'p> {
    /// The route.
    pub route: &'a Route,
    /// The values of the template's `{param}` segments, as (name, value), in path order.
    pub path_params: PathParams<'a, 'p>,
}

// === impl RouteTable ===

impl RouteTable {
    /// Load and compile policy files, in order; every error names file and line.
    pub fn load(files: &[PathBuf]) -> Result<RouteTable, PolicyError> {
        let mut texts = Vec::with_capacity(files.len());
        for f in files {
            texts.push(builtin::read(f)?);
        }
        let mut routes = Vec::new();
        for (name, text) in &texts {
            routes.extend(file::compile(name, text)?);
        }
        RouteTable::build(routes)
    }

    /// Compile one policy file given as text; `name` is used in error messages.
    pub fn from_str(name: &str, text: &str) -> Result<RouteTable, PolicyError> {
        RouteTable::build(file::compile(name, text)?)
    }

    /// Find the route for a method and a normalised request path (the full path, including any
    /// `prefix`). Unknown methods and paths give `None`.
    pub fn find<'a, 'p>(&'a self, method: &str, path: &'p str) -> Option<RouteMatch<'a, 'p>> {
        let method: Method = method.parse().ok()?;
        let m = self.routers[method.index()].at(path).ok()?;
        let route = &self.routes[*m.value as usize];
        let mut path_params = PathParams::new();
        for (name, value) in m.params.iter() {
            // Load refuses routes with more parameters than fit; fail closed all the same.
            if !path_params.push(name, value) {
                return None;
            }
        }
        Some(RouteMatch { route, path_params })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes (every request is denied).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    fn build(routes: Vec<Route>) -> Result<RouteTable, PolicyError> {
        let mut routers: Vec<matchit::Router<u32>> =
            Method::ALL.iter().map(|_| matchit::Router::new()).collect();
        // Same method and same shape (parameter names aside) = duplicate; name both places.
        let mut shapes: HashMap<(Method, String), &str> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            let shape: String = r
                .template
                .split('/')
                .map(|c| {
                    if template::whole_param(c).is_some() {
                        "{}"
                    } else {
                        c
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            if let Some(first) = shapes.insert((r.method, shape), &r.source) {
                return Err(PolicyError::Load {
                    at: r.source.clone(),
                    message: format!(
                        "duplicate route {} {} (first defined at {first})",
                        r.method, r.template
                    ),
                });
            }
            let index = u32::try_from(i).map_err(|_| PolicyError::Load {
                at: r.source.clone(),
                message: "too many routes".to_owned(),
            })?;
            routers[r.method.index()]
                .insert(r.template.clone(), index)
                .map_err(|e| PolicyError::Load {
                    at: r.source.clone(),
                    message: format!("route {} {}: {e}", r.method, r.template),
                })?;
        }
        Ok(RouteTable { routes, routers })
    }
}
