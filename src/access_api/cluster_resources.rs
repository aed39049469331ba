//! The upstream's `GET /cluster/resources`, asked on behalf of the caller: what pool members
//! are (a `qemu` or `lxc` guest, on which node; a storage on which nodes). aclgate keeps pool
//! membership in user.cfg but knows nothing of guests and nodes; Proxmox answers `/pools`
//! members from its cluster state, and clients built from Proxmox's API schema need that shape.
//!
//! The request is what the gateway would forward for the caller's own `GET /cluster/resources`:
//! the identity header carries the caller's id, no client credential is sent. Plain HTTP, or
//! HTTPS trusting `upstream.ca`; an upstream trusted only by its pinned fingerprint is not
//! asked (members then keep aclgate's own shape).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::gateway::GatewayConfig;
use crate::identity::Authid;

/// How to ask the upstream; `None` inside when it cannot be asked.
#[derive(Debug, Clone)]
pub struct ClusterResources {
    target: Option<Target>,
}

#[derive(Debug, Clone)]
struct Target {
    url: String,
    identity_header: String,
    agent: ureq::Agent,
}

impl ClusterResources {
    /// From the gateway's `[upstream]` and `auth.identity_header`.
    pub fn from_config(config: &GatewayConfig) -> ClusterResources {
        let url = config.upstream.url.trim_end_matches('/');
        let timeout = Duration::from_millis(config.upstream.timeout_ms.clamp(100, 10_000));
        let mut builder = ureq::AgentBuilder::new().timeout(timeout).redirects(0);
        if url.starts_with("https://") {
            match config.upstream.ca.as_deref().map(tls_trusting) {
                Some(Ok(tls)) => builder = builder.tls_config(tls),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pool members: cannot trust the upstream CA");
                    return ClusterResources { target: None };
                }
                None => return ClusterResources { target: None },
            }
        } else if !url.starts_with("http://") {
            return ClusterResources { target: None };
        }
        ClusterResources {
            target: Some(Target {
                url: format!("{url}/api2/json/cluster/resources"),
                identity_header: config.auth.identity_header.clone(),
                agent: builder.build(),
            }),
        }
    }

    /// Nothing to ask (tests, and upstreams trusted by fingerprint only).
    pub fn none() -> ClusterResources {
        ClusterResources { target: None }
    }

    /// The resources the upstream shows `caller`, or `None` when it cannot be asked or does
    /// not answer with a list (logged).
    pub async fn fetch(&self, caller: &Authid) -> Option<Vec<Value>> {
        let target = self.target.clone()?;
        let caller = caller.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            target
                .agent
                .get(&target.url)
                .set(&target.identity_header, &caller)
                .call()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()))
        })
        .await;
        match answer {
            Ok(Ok(Value::Object(mut body))) => match body.remove("data") {
                Some(Value::Array(list)) => Some(list),
                _ => {
                    tracing::warn!("pool members: /cluster/resources answered without a list");
                    None
                }
            },
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pool members: /cluster/resources failed");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "pool members: lookup task failed");
                None
            }
        }
    }
}

fn tls_trusting(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = std::fs::read(ca).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
