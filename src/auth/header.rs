//! Proxmox's credential finder (spec §6.2): `KEY` at the start of the header value or after
//! whitespace, followed by `=` or one space; the value runs to the next `;` or the end.
//!
//! The same finder decides what is stripped before forwarding ([`strip_credentials`]): every
//! form it accepts is removed, so whatever authenticates a request never reaches the upstream.

use std::ops::Range;

use http::header::{self, HeaderMap, HeaderValue};

/// The cookie (and `Authorization` key) holding a ticket.
pub const TICKET_KEY: &str = "PVEAuthCookie";
/// The `Authorization` key of an API token.
pub const TOKEN_KEY: &str = "PVEAPIToken";

/// Find `key`'s raw (still percent-encoded) value in a header value. Case-sensitive.
pub fn find_key<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    find_key_span(value, key).map(|(_, v)| &value[v])
}

/// Where `key` was found: the whole `KEY=VALUE` (or `KEY VALUE`) and the value alone.
///
/// A byte scan: candidates are found by the key's first byte, so no substring searcher is set up
/// per call. A whole UTF-8 key matches only at a character boundary, so every range is on one.
fn find_key_span(value: &str, key: &str) -> Option<(Range<usize>, Range<usize>)> {
    let (hay, needle) = (value.as_bytes(), key.as_bytes());
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = find_from(hay, needle, first, from) {
        let starts_ok = value[..i]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let end = i + needle.len();
        if starts_ok && matches!(hay.get(end), Some(b'=' | b' ')) {
            let start = end + 1;
            let stop = value[start..].find(';').map_or(value.len(), |j| start + j);
            return Some((i..stop, start..stop));
        }
        from = end;
    }
    None
}

/// Remove every credential [`find_key`] would accept: an `Authorization` header holding a
/// token or a ticket (or that is not text), and from `Cookie` every `PVEAuthCookie` the finder
/// sees (after `;` or any whitespace) plus any `;`-separated cookie of that name (which a
/// standard cookie parser upstream would read). Other cookies are kept, `; `-joined.
pub fn strip_credentials(headers: &mut HeaderMap) {
    let ours = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| v.to_str().map_or(true, is_credential));
    if ours {
        headers.remove(header::AUTHORIZATION);
    }
    if !crate::header_scan::carries(headers, &header::COOKIE) {
        return;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut changed = false;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else {
            // Not text: the finder cannot read it, but an upstream might; drop it.
            changed = true;
            continue;
        };
        let (rest, removed) = without_key(text, TICKET_KEY);
        changed |= removed;
        for c in rest.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            if is_named(c, TICKET_KEY) {
                changed = true;
            } else {
                kept.push(c.to_owned());
            }
        }
    }
    if !changed {
        return;
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

/// Whether an `Authorization` value holds a credential the gateway reads.
fn is_credential(value: &str) -> bool {
    find_key(value, TOKEN_KEY).is_some() || find_key(value, TICKET_KEY).is_some()
}

/// `text` with every `KEY=VALUE` the finder accepts cut out, until it finds none; and whether
/// anything was cut.
fn without_key(text: &str, key: &str) -> (String, bool) {
    let mut out = text.to_owned();
    let mut removed = false;
    while let Some((whole, _)) = find_key_span(&out, key) {
        out.replace_range(whole, "");
        removed = true;
    }
    (out, removed)
}

/// Whether a trimmed cookie is `KEY` itself or starts with `KEY=` / `KEY `.
fn is_named(cookie: &str, key: &str) -> bool {
    cookie
        .strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['=', ' ', '\t']))
}

/// The first position at or after `from` where `needle` (starting with `first`) occurs.
fn find_from(hay: &[u8], needle: &[u8], first: u8, mut from: usize) -> Option<usize> {
    let last_start = hay.len().checked_sub(needle.len())?;
    while from <= last_start {
        let i = from + hay[from..=last_start].iter().position(|&b| b == first)?;
        if hay[i..i + needle.len()] == *needle {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        fn check(value: &str, key: &str, want: Option<&str>) {
            assert_eq!(find_key(value, key), want, "find_key({value:?}, {key:?})");
        }
        check("PVEAPIToken=a@pve!t=s", "PVEAPIToken", Some("a@pve!t=s"));
        check("PVEAPIToken a@pve!t=s", "PVEAPIToken", Some("a@pve!t=s"));
        check("x PVEAPIToken=v; y", "PVEAPIToken", Some("v"));
        check("xPVEAPIToken=v", "PVEAPIToken", None);
        check("pveapitoken=v", "PVEAPIToken", None);
        check("PVEAPITokenv", "PVEAPIToken", None);
        check("a=b;PVEAuthCookie=t", "PVEAuthCookie", None);
        check("a=b; PVEAuthCookie=t", "PVEAuthCookie", Some("t"));
        check(
            "xPVEAuthCookie=1; PVEAuthCookie=2",
            "PVEAuthCookie",
            Some("2"),
        );
        check("PVEAPIToken=", "PVEAPIToken", Some(""));
        check("PVEAPIToken", "PVEAPIToken", None);
        check("x PVEAPIToken", "PVEAPIToken", None);
        check("\tPVEAPIToken=v", "PVEAPIToken", Some("v"));
        check("\u{a0}PVEAPIToken=v", "PVEAPIToken", Some("v"));
        check("\u{e9}PVEAPIToken=v", "PVEAPIToken", None);
        check("PVEAPITokenPVEAPIToken=v", "PVEAPIToken", None);
        check(
            "PVEAPIToken PVEAPIToken=v",
            "PVEAPIToken",
            Some("PVEAPIToken=v"),
        );
        check("PVEAPIToken=a;b;c", "PVEAPIToken", Some("a"));
        check(
            "PVEAuthCookie=1 PVEAuthCookie=2",
            "PVEAuthCookie",
            Some("1 PVEAuthCookie=2"),
        );
        check("aa=1", "aaa", None);
        check("aaa=1", "aa", None);
        check("PVEAPIToken=v", "", None);
    }

    fn stripped(auth: Option<&str>, cookie: Option<&str>) -> (bool, Option<String>) {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        strip_credentials(&mut h);
        let cookie = h
            .get(header::COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        (h.contains_key(header::AUTHORIZATION), cookie)
    }

    #[test]
    fn credentials_are_stripped() {
        fn check(auth: Option<&str>, cookie: Option<&str>, want: (bool, Option<&str>)) {
            let (a, c) = stripped(auth, cookie);
            assert_eq!((a, c.as_deref()), want, "auth={auth:?} cookie={cookie:?}");
        }
        check(Some("PVEAPIToken=a@pve!t=s"), None, (false, None));
        check(Some("PVEAuthCookie t"), None, (false, None));
        check(Some("Bearer xyz"), None, (true, None));
        check(
            None,
            Some("PVEAuthCookie=abc; lang=en"),
            (false, Some("lang=en")),
        );
        check(None, Some("PVEAuthCookie=abc"), (false, None));
        check(None, Some("a=1; b=2"), (false, Some("a=1; b=2")));
        check(
            None,
            Some("lang=en PVEAuthCookie=t"),
            (false, Some("lang=en")),
        );
        check(None, Some("PVEAuthCookie t"), (false, None));
        check(
            None,
            Some("a=1 PVEAuthCookie t; b=2"),
            (false, Some("a=1; b=2")),
        );
        check(None, Some("a=b;PVEAuthCookie=t"), (false, Some("a=b")));
        check(None, Some("PVEAuthCookie=1 PVEAuthCookie=2"), (false, None));
        check(
            None,
            Some("xPVEAuthCookie=1"),
            (false, Some("xPVEAuthCookie=1")),
        );
    }

    proptest::proptest! {
        /// Whatever the finder would accept after stripping: nothing.
        #[test]
        fn nothing_accepted_survives_stripping(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "PVEAuthCookie", "PVEAPIToken", "=", " ", ";", "\t", "a", "x=1", "PVE",
                    "AuthCookie", "%3D",
                ]),
                0..12,
            )
        ) {
            let text: String = parts.concat();
            let (auth, cookie) = stripped(Some(&text), Some(&text));
            if auth {
                proptest::prop_assert!(!is_credential(&text));
            }
            if let Some(c) = cookie {
                proptest::prop_assert_eq!(find_key(&c, TICKET_KEY), None, "{:?} -> {:?}", text, c);
                proptest::prop_assert!(
                    c.split(';').all(|p| !is_named(p.trim(), TICKET_KEY)),
                    "{:?} -> {:?}", text, c
                );
            }
        }
    }
}
