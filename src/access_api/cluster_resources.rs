//! The upstream's `GET /cluster/resources`, asked on behalf of the caller: what pool members
//! are (a `qemu` or `lxc` guest, on which node; a storage on which nodes). aclgate keeps pool
//! membership in user.cfg but knows nothing of guests and nodes; Proxmox answers `/pools`
//! members from its cluster state, and clients built from Proxmox's API schema need that shape.
//!
//! The request goes the way the caller's own `GET /api2/json/cluster/resources` would be
//! forwarded ([`upstream::forward`]): to the upstream (and prefix rewrite) of the route that
//! matches it, `default` without one; over that upstream's transport (its balancing, CA or
//! pinned fingerprint); with the identity header naming the caller and the upstream's service
//! credential if it has one, never a client credential.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::identity::Authid;
use crate::policy::UpstreamTarget;
use crate::snapshot::Snapshot;
use crate::upstream::{self, ForwardContext};

/// The path asked, before the route's prefix rewrite.
const PATH: &str = "/api2/json/cluster/resources";
/// The whole exchange, body included, takes at most this long.
const DEADLINE: Duration = Duration::from_secs(10);
/// A larger answer is not read (a big cluster's list is a few hundred KiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Whether to ask the upstream at all.
#[derive(Debug, Clone)]
pub struct ClusterResources {
    enabled: bool,
}

impl ClusterResources {
    /// Ask the upstream (the gateway's handlers).
    pub fn from_config(_config: &crate::config::gateway::GatewayConfig) -> ClusterResources {
        ClusterResources { enabled: true }
    }

    /// Never ask (members keep aclgate's own shape).
    pub fn none() -> ClusterResources {
        ClusterResources { enabled: false }
    }

    /// The resources the upstream shows `caller` (who sent the request from `peer`), or `None`
    /// when it cannot be asked or does not answer with a list (logged).
    pub async fn fetch(
        &self,
        snapshot: &Snapshot,
        caller: &Authid,
        peer: SocketAddr,
    ) -> Option<Vec<Value>> {
        if !self.enabled {
            return None;
        }
        let answer = tokio::time::timeout(DEADLINE, ask(snapshot, caller, peer)).await;
        let text = match answer {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pool members: /cluster/resources failed");
                return None;
            }
            Err(_) => {
                tracing::warn!("pool members: /cluster/resources timed out");
                return None;
            }
        };
        match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(mut body)) => match body.remove("data") {
                Some(Value::Array(list)) => Some(list),
                _ => {
                    tracing::warn!("pool members: /cluster/resources answered without a list");
                    None
                }
            },
            // Not the body's text: it is the upstream's, not ours to log.
            _ => {
                tracing::warn!("pool members: /cluster/resources answered no JSON object");
                None
            }
        }
    }
}

/// One `GET` through the upstream transport; the body of a 2xx answer.
async fn ask(snapshot: &Snapshot, caller: &Authid, peer: SocketAddr) -> Result<Bytes, String> {
    let default = UpstreamTarget::default();
    let target = match snapshot.routes.find("GET", PATH) {
        Some(m) if m.route.handler.is_none() => &*m.route.target,
        _ => &default,
    };
    let peer_ip = HeaderValue::from_str(&peer.ip().to_string()).map_err(|e| e.to_string())?;
    let ctx = ForwardContext {
        authid: Some(caller.as_str()),
        peer_ip: &peer_ip,
        peer_trusted: false,
        // The caller's request came over the gateway's API, normally TLS (directly or through
        // a TLS-terminating balancer).
        tls: true,
        identity_header: &snapshot.identity_header,
        strip_credentials: true,
        strip_headers: &[],
        slot: None,
        sticky: false,
        target,
        credential: snapshot.service_credentials.get(&target.upstream),
    };
    let mut req = Request::new(crate::body::full(Bytes::new()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = http::Uri::from_static(PATH);
    req.headers_mut().insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    let mut chosen = None;
    let resp = upstream::forward(&snapshot.upstreams, req, None, &ctx, &mut chosen)
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        let described = chosen.and_then(|c| snapshot.upstreams.describe(c));
        let endpoint = described.map_or("-", |(_, endpoint)| endpoint);
        return Err(format!("{endpoint} answered {}", resp.status()));
    }
    // Read frame by frame (`http_body_util::Limited`'s error conversion trips the compiler's
    // `Send` check of the request path's future).
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if text.len() + data.len() > MAX_BODY {
                return Err(format!("answer larger than {MAX_BODY} bytes"));
            }
            text.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(text))
}
