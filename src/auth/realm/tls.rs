//! TLS client settings for `ldaps` and `ldap+starttls` realms (rustls, no OpenSSL).
//!
//! `verify 1`: the server certificate must chain to a CA from `capath` — a PEM file, or a
//! directory whose PEM files are all read (default `/etc/ssl/certs`) — and name the server
//! (IP SAN for an address). `verify 0` (the default, as in Proxmox) accepts any certificate.
//! `sslversion` pins the protocol version as Net::LDAP does (default TLS 1.2); rustls has
//! neither TLS 1.0 nor 1.1, so those settings are refused.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};

use super::RealmError;

/// The default CA location, as in Proxmox.
pub(super) const DEFAULT_CAPATH: &str = "/etc/ssl/certs";

/// A verifying client config for the given CA location and `sslversion`.
pub(super) fn client_config(
    capath: &str,
    sslversion: Option<&str>,
) -> Result<Arc<ClientConfig>, RealmError> {
    let roots = load_roots(Path::new(capath))?;
    let versions = protocol_versions(sslversion)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| RealmError::Config(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn protocol_versions(
    sslversion: Option<&str>,
) -> Result<&'static [&'static SupportedProtocolVersion], RealmError> {
    match sslversion.unwrap_or("tlsv1_2") {
        "tlsv1_2" => Ok(TLS12_ONLY),
        "tlsv1_3" => Ok(TLS13_ONLY),
        other => Err(RealmError::Config(format!(
            "sslversion `{other}` is not supported (tlsv1_2 or tlsv1_3)"
        ))),
    }
}

const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn load_roots(capath: &Path) -> Result<RootCertStore, RealmError> {
    let mut roots = RootCertStore::empty();
    let unreadable = |e: std::io::Error| {
        RealmError::Config(format!("cannot read CA `{}`: {e}", capath.display()))
    };
    if capath.is_dir() {
        for entry in fs::read_dir(capath).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.is_file() {
                // A CA directory holds other files too (hash links, bundles): take what parses.
                let _ = add_pem_file(&mut roots, &path);
            }
        }
    } else {
        add_pem_file(&mut roots, capath)?;
    }
    if roots.is_empty() {
        return Err(RealmError::Config(format!(
            "no CA certificate found in `{}`",
            capath.display()
        )));
    }
    Ok(roots)
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), RealmError> {
    let bad = |why: String| RealmError::Config(format!("CA file `{}`: {why}", path.display()));
    let data = fs::read(path).map_err(|e| bad(e.to_string()))?;
    for cert in rustls_pemfile::certs(&mut data.as_slice()) {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}
