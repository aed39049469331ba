//! Request framing that hyper accepts but that a front proxy or the upstream could read
//! differently: checked before authentication, each a 400 (`ProxyError::BadHost`,
//! `ProxyError::BadTransferEncoding`).

use http::{HeaderMap, Version, header};

use crate::error::ProxyError;
use crate::header_scan;

/// Refuse an HTTP/1 request without exactly one `Host` where one is required, and any request
/// whose `Transfer-Encoding` is anything but one `chunked`.
pub(super) fn check(version: Version, headers: &HeaderMap) -> Result<(), ProxyError> {
    check_host(version, headers)?;
    check_transfer_encoding(headers)
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`; no request has two. HTTP/2 names
/// the authority in `:authority` and may omit `Host`.
fn check_host(version: Version, headers: &HeaderMap) -> Result<(), ProxyError> {
    let count = headers.get_all(header::HOST).iter().take(2).count();
    let missing = count == 0 && version == Version::HTTP_11;
    if missing || count > 1 {
        return Err(ProxyError::BadHost);
    }
    Ok(())
}

/// All `Transfer-Encoding` values together must be exactly one `chunked` (any case): a body
/// chunked twice (`chunked, chunked`, RFC 9112 §6.1) or another coding cannot be read as the
/// gateway reads it, so a proxy in front might end the request elsewhere.
fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), ProxyError> {
    let mut codings = Vec::new();
    for value in header_scan::get_all(headers, &header::TRANSFER_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| ProxyError::BadTransferEncoding)?;
        codings.extend(text.split(',').map(str::trim));
    }
    match codings.as_slice() {
        [] => Ok(()),
        [one] if one.eq_ignore_ascii_case("chunked") => Ok(()),
        _ => Err(ProxyError::BadTransferEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in lines {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn host_must_be_one_on_http1_and_at_most_one_anywhere() {
        let one = headers(&[("host", "gw")]);
        let two = headers(&[("host", "gw"), ("host", "evil.example")]);
        let none = HeaderMap::new();
        assert!(check(Version::HTTP_11, &one).is_ok());
        assert!(check(Version::HTTP_11, &none).is_err());
        assert!(check(Version::HTTP_11, &two).is_err());
        assert!(check(Version::HTTP_10, &none).is_ok());
        assert!(check(Version::HTTP_2, &none).is_ok());
        assert!(check(Version::HTTP_2, &two).is_err());
    }

    #[test]
    fn transfer_encoding_must_be_one_chunked() {
        let ok = |lines: &[(&'static str, &'static str)]| {
            let mut h = headers(lines);
            h.append(header::HOST, HeaderValue::from_static("gw"));
            check(Version::HTTP_11, &h).is_ok()
        };
        assert!(ok(&[]));
        assert!(ok(&[("transfer-encoding", "chunked")]));
        assert!(ok(&[("transfer-encoding", "CHUNKED")]));
        assert!(!ok(&[("transfer-encoding", "chunked, chunked")]));
        assert!(!ok(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked")
        ]));
        assert!(!ok(&[("transfer-encoding", "gzip, chunked")]));
        assert!(!ok(&[("transfer-encoding", "chunked,")]));
        assert!(!ok(&[("transfer-encoding", "")]));
    }
}
