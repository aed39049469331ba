//! TLS: a per-handshake resolver that reads the
//! current snapshot (so a reload replaces the certificate without a restart), and the
//! self-signed pair generated on first start.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use crate::config::tls_files::load_certified_key;
use crate::snapshot::SnapshotReader;

/// Generate a self-signed certificate for `localhost`/`127.0.0.1` unless `cert` or `key`
/// exists. The key file is created 0600.
pub fn ensure_self_signed(cert: &Path, key: &Path) -> std::io::Result<bool> {
    if cert.exists() || key.exists() {
        return Ok(false);
    }
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    for p in [cert, key] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
    }
    write_file(key, generated.key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert, generated.cert.pem().as_bytes(), 0o644)?;
    Ok(true)
}

/// The server config: TLS 1.2 and 1.3 (ring), ALPN h2 + http/1.1, certificate from the snapshot.
pub fn server_config(snapshots: SnapshotReader) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let mut cfg = match builder {
        Ok(b) => b
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SnapshotCert(snapshots))),
        // INVARIANT: ring supports both versions; this arm is unreachable in practice.
        Err(e) => unreachable!("ring provider lacks TLS 1.2/1.3: {e}"),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// Picks the current snapshot's certificate for every handshake.
#[derive(Clone)]
struct SnapshotCert(SnapshotReader);

impl std::fmt::Debug for SnapshotCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCert")
    }
}

impl ResolvesServerCert for SnapshotCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load().tls.clone())
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
