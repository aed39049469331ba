//! The pooled upstream client: plain HTTP, or HTTPS trusting a CA file or a pinned SHA-256
//! certificate fingerprint.

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::Body;
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

/// Where allowed requests go, with a connection pool.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub(super) client: Client<HttpsConnector<HttpConnector>, Body>,
    pub(super) scheme: Scheme,
    pub(super) authority: Authority,
    pub(super) timeout: Duration,
}

impl Upstream {
    /// Build the client from `[upstream]`.
    pub fn new(cfg: &UpstreamSettings) -> Result<Upstream, UpstreamError> {
        let uri: http::Uri = cfg
            .url
            .parse()
            .map_err(|_| UpstreamError::Url(cfg.url.clone()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(UpstreamError::Url(cfg.url.clone()));
        };
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
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(cfg.pool_max_idle)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Upstream {
            client,
            scheme,
            authority,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
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
