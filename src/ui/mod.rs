//! The web interface (DESIGN §2, "The web interface"): Proxmox's permission panels and login,
//! as static files compiled into the binary and served on the gateway's own listener under the
//! configured prefix (`/` by default).
//!
//! This module only hands out files: the page talks to nothing but `/api2/json/access/*` with
//! the ticket cookie and CSRF token, so it can do nothing the API would refuse. Paths that are
//! not one of the files fall through to the request pipeline untouched.

mod assets;
pub mod qrcode;
mod settings;

pub use settings::UiSettings;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// Answer `method path` if it names a file of the web interface; `None` lets the request go on
/// through the pipeline (API routes, upstream paths, anything else).
pub fn serve(settings: &UiSettings, method: &Method, path: &str) -> Option<Response<Bytes>> {
    if !settings.enabled || !(method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let prefix = settings.prefix.as_str();
    // `/aclgate` → `/aclgate/`, so that the page's relative asset paths resolve.
    if prefix.len() > 1 && path.len() + 1 == prefix.len() && prefix.starts_with(path) {
        return Some(redirect(prefix));
    }
    let rest = path.strip_prefix(prefix)?;
    let asset = if rest.is_empty() {
        assets::find("index.html")?
    } else {
        assets::find(rest.strip_prefix(assets::DIR)?)?
    };
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from_static(asset.body)
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    secure(headers);
    Some(resp)
}

/// A 301 to the prefix with its trailing slash.
fn redirect(prefix: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(location) = HeaderValue::from_str(prefix) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    secure(resp.headers_mut());
    resp
}

/// The headers every answer of the interface carries.
fn secure(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary; revalidation is cheap and never shows a stale page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// No inline script or style, nothing from another origin, no framing; `data:` images only for
/// the QR code's SVG.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
base-uri 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    fn check(prefix: &str, method: Method, path: &str, want: Option<u16>) {
        let settings = UiSettings {
            enabled: true,
            prefix: prefix.to_owned(),
        };
        let got = serve(&settings, &method, path).map(|r| r.status().as_u16());
        assert_eq!(got, want, "prefix {prefix}, {method} {path}");
    }

    #[test]
    fn serves_only_its_own_files() {
        check("/", Method::GET, "/", Some(200));
        check("/", Method::HEAD, "/", Some(200));
        check("/", Method::GET, "/ui/app.js", Some(200));
        check("/", Method::GET, "/ui/nope.js", None);
        check("/", Method::POST, "/", None);
        check("/", Method::GET, "/api2/json/version", None);
        check("/", Method::GET, "/index.html", None);
        check("/aclgate/", Method::GET, "/", None);
        check("/aclgate/", Method::GET, "/aclgate", Some(301));
        check("/aclgate/", Method::GET, "/aclgate/", Some(200));
        check("/aclgate/", Method::GET, "/aclgate/ui/app.css", Some(200));
        check("/aclgate/", Method::GET, "/ui/app.css", None);
    }

    #[test]
    fn off_serves_nothing() {
        let settings = UiSettings {
            enabled: false,
            prefix: "/".to_owned(),
        };
        assert!(serve(&settings, &Method::GET, "/").is_none());
    }

    #[test]
    fn headers_forbid_framing_and_inline_script() {
        let resp = serve(&UiSettings::default(), &Method::GET, "/").unwrap();
        let h = resp.headers();
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"));
    }
}
