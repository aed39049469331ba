//! Request parameters visible to checks (spec §5.2), read the way Proxmox's API server reads them
//! (`PVE::APIServer::AnyEvent::extract_params` / `decode_urlencoded`):
//!
//! - path parameters of the matched route;
//! - the body of POST/PUT/PATCH: `application/json` → a JSON object, anything else the server
//!   accepts → form-urlencoded;
//! - the query string, which wins over the body key by key;
//! - `_dc` (the UI's cache buster) is dropped;
//! - pairs are split on `&` and `;`; `+` is a space; `%XX` is decoded; invalid UTF-8 becomes U+FFFD;
//! - a repeated key within one source is joined with NUL (`a\0b`), as CGI.pm does: such a value
//!   fits no ACL path and no userid, and `groups` splits it like a list;
//! - a key without `=` (and a JSON `null`, array or object) is present but has no value;
//! - a body or query key equal to a path parameter must carry the same value, else the request is
//!   refused (Proxmox: 400 "duplicate parameter (already defined in URI) with conflicting values").

use std::borrow::Cow;

use super::path_params::PathParams;

/// A request that cannot be evaluated because its parameters are malformed (HTTP 400/415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A query or body key repeats a path parameter with another value.
    #[error("duplicate parameter `{0}` (already defined in URI) with conflicting values")]
    Conflict(String),
    /// A JSON body that is not a JSON object.
    #[error("request body is not a JSON object")]
    JsonNotObject,
    /// A body of a type other than form-urlencoded or JSON.
    #[error("unsupported content type `{0}` for a request body")]
    UnsupportedContentType(String),
}

/// The parameters of one request. Borrows from the route table and the request where it can.
#[derive(Debug, Clone, Default)]
pub struct Params<'r> {
    /// Path parameters (name, value), from the matched route.
    path: PathParams<'r, 'r>,
    /// Body and query parameters after merging.
    extra: Vec<Entry<'r>>,
}

#[derive(Debug, Clone)]
struct Entry<'r> {
    name: Cow<'r, str>,
    /// `None`: present without a value.
    value: Option<Cow<'r, str>>,
    from_query: bool,
}

type Pair<'r> = (Cow<'r, str>, Option<Cow<'r, str>>);

// === impl Params ===

impl<'r> Params<'r> {
    /// Start from the path parameters of a [`super::RouteMatch`].
    pub fn new(path_params: PathParams<'r, 'r>) -> Params<'r> {
        Params {
            path: path_params,
            extra: Vec::new(),
        }
    }

    /// Add the query string (without `?`). Query values win over body values. Call before
    /// [`Params::add_body`]: a body key that conflicts with a path parameter is refused at once.
    pub fn add_query(&mut self, query: &'r str) -> Result<(), ParamError> {
        let pairs = decode_urlencoded(query);
        self.merge(pairs, true)
    }

    /// Add a POST/PUT/PATCH body. `content_type` is the raw header value.
    pub fn add_body(
        &mut self,
        content_type: Option<&str>,
        body: &'r [u8],
    ) -> Result<(), ParamError> {
        let media = content_type
            .and_then(|ct| ct.split([';', ',']).next())
            .map(str::trim)
            .unwrap_or("");
        let pairs = if media.eq_ignore_ascii_case("application/json") {
            decode_json(body)?
        } else if media.is_empty()
            || media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            match std::str::from_utf8(body) {
                Ok(text) => decode_urlencoded(text),
                Err(_) => decode_urlencoded(&String::from_utf8_lossy(body))
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            Cow::Owned(k.into_owned()),
                            v.map(|v| Cow::Owned(v.into_owned())),
                        )
                    })
                    .collect(),
            }
        } else {
            return Err(ParamError::UnsupportedContentType(media.to_owned()));
        };
        self.merge(pairs, false)
    }

    /// The value of a parameter; `None` if absent or present without a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.path_param(name) {
            return Some(v);
        }
        self.extra
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
    }

    /// The value of a path parameter.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path.get(name)
    }

    fn merge(&mut self, pairs: Vec<Pair<'r>>, from_query: bool) -> Result<(), ParamError> {
        for (name, value) in pairs {
            match self.extra.iter_mut().find(|e| e.name == name) {
                // The query wins over the body, whichever was added first.
                Some(e) if e.from_query && !from_query => {}
                Some(e) => {
                    e.value = value;
                    e.from_query = from_query;
                }
                None => self.extra.push(Entry {
                    name,
                    value,
                    from_query,
                }),
            }
        }
        for e in &self.extra {
            if let Some(p) = self.path_param(&e.name)
                && e.value.as_deref() != Some(p)
            {
                return Err(ParamError::Conflict(e.name.clone().into_owned()));
            }
        }
        Ok(())
    }
}

// === helpers ===

/// `decode_urlencoded`: pairs in order, repeated keys joined with NUL, `_dc` dropped.
fn decode_urlencoded(text: &str) -> Vec<Pair<'_>> {
    let mut out: Vec<Pair<'_>> = Vec::new();
    for kv in text.split(['&', ';']).filter(|kv| !kv.is_empty()) {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (kv, None),
        };
        let name = percent_decode(k);
        if name == "_dc" {
            continue;
        }
        let value = v.map(percent_decode);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => {
                *old = match (old.take(), value) {
                    (Some(a), Some(b)) => Some(Cow::Owned(format!("{a}\0{b}"))),
                    (_, new) => new,
                }
            }
            None => out.push((name, value)),
        }
    }
    out
}

/// A JSON object body: scalars stringified (true → `1`, false → `0`); null, arrays and objects
/// count as present without a value.
fn decode_json(body: &[u8]) -> Result<Vec<Pair<'static>>, ParamError> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| ParamError::JsonNotObject)?;
    Ok(map
        .into_iter()
        .filter(|(k, _)| k != "_dc")
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(if b { "1" } else { "0" }.to_owned()),
                _ => None,
            };
            (Cow::Owned(k), value.map(Cow::Owned))
        })
        .collect())
}

/// `+` → space, `%XX` → byte; borrowed when nothing changes; invalid UTF-8 → U+FFFD.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&c| hex(c)),
                bytes.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}
