//! QR codes for TOTP enrolment, drawn on the gateway: the `otpauth://` URI (which holds the
//! secret) goes from the page to aclgate and nowhere else, and no script library is needed.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The longest URI accepted (an issuer, a userid and a 160-bit secret fit easily).
pub const MAX_URI: usize = 1024;

/// Why no QR code was drawn.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("not an otpauth URI")]
    NotOtpauth,
    #[error("too long (at most {MAX_URI} characters)")]
    TooLong,
    #[error("cannot encode the URI as a QR code")]
    Encode,
}

/// An SVG image of `uri` as a QR code with error correction M, as Proxmox's TOTP window draws.
pub fn svg(uri: &str) -> Result<String, QrError> {
    if uri.len() > MAX_URI {
        return Err(QrError::TooLong);
    }
    if !uri.starts_with("otpauth://") {
        return Err(QrError::NotOtpauth);
    }
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|_| QrError::Encode)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_otpauth_uris_only() {
        let img = svg("otpauth://totp/x:joe%40pve?secret=JBSWY3DPEHPK3PXP&issuer=x").unwrap();
        assert!(img.starts_with("<?xml") || img.starts_with("<svg"), "{img}");
        assert!(img.contains("<path"), "{img}");
        assert!(matches!(svg("https://evil/"), Err(QrError::NotOtpauth)));
        let long = format!("otpauth://totp/x?secret={}", "A".repeat(MAX_URI));
        assert!(matches!(svg(&long), Err(QrError::TooLong)));
    }
}
