//! The gateway's certificate and key files: a PEM chain and a private key read into the
//! form rustls serves (the snapshot holds it; a reload re-reads the files).

use std::path::Path;

use rustls::sign::CertifiedKey;

/// A certificate or key file could not be read or used.
#[derive(Debug, thiserror::Error)]
#[error("`{file}`: {message}")]
pub struct TlsFileError {
    /// The file.
    pub file: String,
    /// What is wrong with it.
    pub message: String,
}

/// Read a PEM certificate chain and private key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsFileError> {
    let err = |file: &Path, message: String| TlsFileError {
        file: file.display().to_string(),
        message,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| err(cert, e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(err(cert, "no certificate found".to_owned()));
    }
    let key_pem = std::fs::read(key).map_err(|e| err(key, e.to_string()))?;
    let der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| err(key, e.to_string()))?
        .ok_or_else(|| err(key, "no private key found".to_owned()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| err(key, e.to_string()))?;
    Ok(CertifiedKey::new(certs, signer))
}
