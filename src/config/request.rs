//! `[request]` in `aclgate.toml`: what the gateway removes from or refuses in a request before
//! checking and forwarding it — headers an upstream might obey to change the method or the path
//! after the check (`strip_headers`), and `;` path parameters (`path_params`).

use http::HeaderName;
use serde::Deserialize;

/// `[request]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestSettings {
    /// Headers removed from every forwarded request (and their `_` spellings, which CGI-style
    /// upstreams read as the same name). Default: the method-override and URL-rewrite headers,
    /// with which an upstream that honours them turns an allowed `GET` into a `DELETE`, or an
    /// allowed path into another.
    #[serde(deserialize_with = "header_names")]
    pub strip_headers: Vec<HeaderName>,
    /// What to do with `;` in a request path (`/a;jsessionid=1/b`, `/..;/admin`): servers that
    /// read path parameters (Java's) see another path than the one checked.
    pub path_params: PathParams,
}

/// `request.path_params`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathParams {
    /// Any `;` in the path, literal or percent-encoded, is a 400.
    #[default]
    Refuse,
    /// Each segment's literal `;...` is cut off before the path is decoded and checked (the
    /// upstream gets the path without them); a percent-encoded `;` is still a 400.
    Strip,
}

/// The default `strip_headers`.
pub const OVERRIDE_HEADERS: [&str; 5] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
];

fn header_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<HeaderName>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|n| {
            HeaderName::from_bytes(n.as_bytes()).map_err(|_| {
                serde::de::Error::custom(format!("strip_headers: `{n}` is not a header name"))
            })
        })
        .collect()
}

impl Default for RequestSettings {
    fn default() -> Self {
        RequestSettings {
            strip_headers: OVERRIDE_HEADERS
                .iter()
                .map(|n| HeaderName::from_static(n))
                .collect(),
            path_params: PathParams::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrap {
        #[serde(default)]
        request: RequestSettings,
    }

    #[test]
    fn table() {
        fn check(text: &str, want: Option<(usize, PathParams)>) {
            let got = toml::from_str::<Wrap>(text)
                .ok()
                .map(|w| (w.request.strip_headers.len(), w.request.path_params));
            assert_eq!(got, want, "{text:?}");
        }
        check("", Some((5, PathParams::Refuse)));
        check(
            "[request]\npath_params = \"strip\"",
            Some((5, PathParams::Strip)),
        );
        check(
            "[request]\nstrip_headers = []",
            Some((0, PathParams::Refuse)),
        );
        check(
            "[request]\nstrip_headers = [\"X-Foo\"]",
            Some((1, PathParams::Refuse)),
        );
        check("[request]\nstrip_headers = [\"bad name\"]", None);
        check("[request]\npath_params = \"keep\"", None);
        check("[request]\nother = 1", None);
    }
}
