//! The upstream client: for HTTP/1 clients a dedicated upstream connection per client
//! connection, spoken to by our own lean HTTP/1.1 client (`super::lean`); hyper's shared pool for
//! HTTP/2 clients' concurrent streams; a hyper connection of its own for each upgrade. Plain
//! HTTP, or HTTPS trusting a CA file or a pinned SHA-256 certificate fingerprint.
//!
//! On the load benchmark the pool cost about 11k instructions per request, hyper's client on a
//! dedicated connection about 12k (mostly handing requests and responses between its
//! connection task and ours), the lean client about 6k.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tower_service::Service;

use super::forward::Added;
use super::lean::{LeanConn, LeanSlot};
use super::{Body, BodyError};
use crate::config::gateway::UpstreamSettings;

/// The upstream could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("invalid upstream url `{0}`")]
    Url(String),
    #[error("cannot read upstream ca `{file}`: {message}")]
    Ca { file: String, message: String },
    #[error("invalid upstream fingerprint: expected 64 hex digits")]
    Fingerprint,
    #[error("an https upstream needs `upstream.ca` or `upstream.fingerprint`")]
    NoTrust,
    #[error("tls: {0}")]
    Tls(String),
}

/// Sending a request upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection to the upstream.
    #[error("connect: {0}")]
    Connect(String),
    /// The exchange with the upstream failed (its fault or the network's).
    #[error("{0}")]
    Exchange(String),
    /// The client's request body broke off or was malformed while it was being sent: the
    /// client's fault (400), not the upstream's.
    #[error("client request body: {0}")]
    ClientBody(String),
}

/// The error a client's request body yields while it streams upstream (tagged so that a
/// failed exchange can tell the client's fault from the upstream's).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientBodyError(pub hyper::Error);

impl SendError {
    /// Classify an error of hyper's clients: did the client's body cause it?
    fn from_hyper(e: &(dyn std::error::Error + 'static)) -> SendError {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if c.is::<ClientBodyError>() {
                return SendError::ClientBody(c.to_string());
            }
            cause = c.source();
        }
        SendError::Exchange(e.to_string())
    }
}

/// Where allowed requests go.
#[derive(Debug, Clone)]
pub struct Upstream {
    pool: Client<HttpsConnector<HttpConnector>, Body>,
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`: what the connector is asked to connect to.
    base: Uri,
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header sent upstream.
    host: HeaderValue,
    pub(super) timeout: Duration,
}

impl Upstream {
    /// Build the client from `[upstream]`.
    pub fn new(cfg: &UpstreamSettings) -> Result<Upstream, UpstreamError> {
        let bad_url = || UpstreamError::Url(cfg.url.clone());
        let uri: Uri = cfg.url.parse().map_err(|_| bad_url())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(bad_url());
        };
        let base = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| bad_url())?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad_url())?;
        let tls = client_tls(cfg, scheme == Scheme::HTTPS)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let pool = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(cfg.pool_max_idle)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector.clone());
        Ok(Upstream {
            pool,
            connector,
            base,
            scheme,
            authority,
            host,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    /// Send `req` (origin-form URI, headers prepared). A request without a body from an
    /// HTTP/1 client goes on the client connection's own upstream connection (the lean client);
    /// a reused connection the upstream had closed is replaced, and a request with a safe method
    /// sent again on the new one. Requests with a body, and HTTP/2 clients' requests, go
    /// through hyper's pool: hyper reads while it writes, so an upstream that answers early
    /// (413, 401) without reading the body is passed on. Upgrade requests get a hyper
    /// connection of their own, which the upgrade then takes over.
    pub(super) async fn send(
        &self,
        slot: Option<&LeanSlot>,
        mut req: Request<Body>,
        mut added: Added,
    ) -> Result<Response<Body>, SendError> {
        req.headers_mut().remove(header::HOST);
        added.push(header::HOST, self.host.clone());
        let lean = slot
            .filter(|_| req.body().is_end_stream() && !req.headers().contains_key(header::UPGRADE));
        let Some(slot) = lean else {
            added.insert_into(req.headers_mut());
            if req.headers().contains_key(header::UPGRADE) {
                return self.send_upgrade(req).await;
            }
            self.make_absolute(&mut req)?;
            let resp = self
                .pool
                .request(req)
                .await
                .map_err(|e| SendError::from_hyper(&e))?;
            return Ok(resp.map(|b| b.map_err(BodyError::from).boxed_unsync()));
        };
        let (parts, _) = req.into_parts();
        if let Some(conn) = slot.take_open() {
            match conn.exchange(&parts, &added, slot).await {
                Ok(resp) => return Ok(resp),
                Err(e) if e.stale() && parts.method.is_safe() => {}
                Err(e) => return Err(SendError::Exchange(e.to_string())),
            }
        }
        let conn = LeanConn::new(Box::new(TokioIo::new(self.connect_io().await?)));
        conn.exchange(&parts, &added, slot)
            .await
            .map_err(|e| SendError::Exchange(e.to_string()))
    }

    /// An upgrade request on a hyper connection of its own, driven by its own task: after a
    /// `101` the connection hands the socket to the upgrade.
    async fn send_upgrade(&self, req: Request<Body>) -> Result<Response<Body>, SendError> {
        let io = self.connect_io().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| SendError::from_hyper(&e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| SendError::from_hyper(&e))?;
        Ok(resp.map(|b| b.map_err(BodyError::from).boxed_unsync()))
    }

    async fn connect_io(&self) -> Result<MaybeHttpsStream<TokioIo<TcpStream>>, SendError> {
        self.connector
            .clone()
            .call(self.base.clone())
            .await
            .map_err(|e| SendError::Connect(e.to_string()))
    }

    /// The pool routes by the absolute URI.
    fn make_absolute(&self, req: &mut Request<Body>) -> Result<(), SendError> {
        let mut parts = std::mem::take(req.uri_mut()).into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        *req.uri_mut() = Uri::from_parts(parts).map_err(|e| SendError::Exchange(e.to_string()))?;
        Ok(())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_tls(cfg: &UpstreamSettings, https: bool) -> Result<rustls::ClientConfig, UpstreamError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(e.to_string()))?;
    if let Some(fp) = &cfg.fingerprint {
        let hex_text: String = fp.chars().filter(|c| *c != ':').collect();
        let pin: [u8; 32] = hex::decode(hex_text.to_ascii_lowercase())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(UpstreamError::Fingerprint)?;
        let verifier = PinnedVerifier {
            pin,
            algorithms: provider().signature_verification_algorithms,
        };
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca {
        let err = |message: String| UpstreamError::Ca {
            file: ca.display().to_string(),
            message,
        };
        let pem = std::fs::read(ca).map_err(|e| err(e.to_string()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    } else if https {
        return Err(UpstreamError::NoTrust);
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts exactly the certificate with the pinned SHA-256 fingerprint (signatures still checked).
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
