//! aclgate: the Proxmox VE access-control model in front of any HTTP API.
//!
//! Request flow (DESIGN.md §2): `server` accepts and terminates TLS; `proxy::handle` loads the
//! snapshot once, normalises the path, finds the route, authenticates ([`gate::authenticate`] →
//! a principal), decides ([`gate::decide`] → a permit or a denial, with [`access::Engine`]),
//! logs one decision event and dispatches the permit to a built-in handler or the upstream
//! ([`upstream`]).
//! Every failure becomes its HTTP answer in [`error`]. Everything the request path reads lives
//! in one immutable snapshot; what it changes (metrics, rate-limit buckets) in the [`runtime`].
//!
//! Layers, bottom up: [`identity`] (ids parsed at the edge), [`access`] (privileges, roles, the
//! engine), [`config`] (state files), [`cli`] (the `aclgate` commands).

pub mod access;
pub mod access_api;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod error;
pub mod gate;
pub mod header_scan;
pub mod identity;
pub mod manage;
pub mod observe;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tasks;
pub mod ui;
pub mod upstream;
pub mod vocabulary;
