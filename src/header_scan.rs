//! Whether a request carries a header, by comparing the names it has.
//!
//! The request path asks about a dozen names (`Cookie`, `Connection`, `Upgrade`,
//! `Transfer-Encoding`, the CSRF token, ...) that most requests do not carry. `HeaderMap`'s
//! own lookup hashes the asked name and probes its table: about 130 instructions a call
//! (callgrind, release build), over a thousand per request. A request has a handful of
//! distinct names, and comparing a name is a few instructions, so [`carries`] scans them
//! instead, and [`get`], [`get_all`] and [`remove`] (`HeaderMap`'s, in the same shape) look up
//! only what is there.

use http::{HeaderMap, HeaderName};

/// Past this many distinct names the hashed lookup is cheaper than the scan.
const SCAN_UP_TO: usize = 16;

/// Whether `headers` has at least one line named `name`.
#[inline]
pub fn carries<T>(headers: &HeaderMap<T>, name: &HeaderName) -> bool {
    if headers.keys_len() > SCAN_UP_TO {
        return headers.contains_key(name);
    }
    headers.keys().any(|k| k == name)
}

/// `headers.get(name)`.
#[inline]
pub fn get<'a, T>(headers: &'a HeaderMap<T>, name: &HeaderName) -> Option<&'a T> {
    carries(headers, name).then(|| headers.get(name)).flatten()
}

/// The values of `headers.get_all(name)`, in order.
#[inline]
pub fn get_all<'a, T>(headers: &'a HeaderMap<T>, name: &HeaderName) -> impl Iterator<Item = &'a T> {
    carries(headers, name)
        .then(|| headers.get_all(name))
        .into_iter()
        .flatten()
}

/// `headers.remove(name)`.
#[inline]
pub fn remove<T>(headers: &mut HeaderMap<T>, name: &HeaderName) -> Option<T> {
    carries(headers, name)
        .then(|| headers.remove(name))
        .flatten()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::{AUTHORIZATION, CONNECTION, COOKIE, HOST};

    use super::*;

    #[test]
    fn agrees_with_the_lookup_below_and_above_the_scan_limit() {
        let custom = HeaderName::from_static("csrfpreventiontoken");
        let names = [HOST, AUTHORIZATION, COOKIE, CONNECTION, custom];
        for filler in [0, SCAN_UP_TO - 2, SCAN_UP_TO, SCAN_UP_TO + 5] {
            for present in 0..names.len() {
                let mut headers = HeaderMap::new();
                for i in 0..filler {
                    let name = HeaderName::try_from(format!("x-filler-{i}")).unwrap();
                    headers.append(name, HeaderValue::from_static("1"));
                }
                headers.append(names[present].clone(), HeaderValue::from_static("v"));
                headers.append(names[present].clone(), HeaderValue::from_static("w"));
                for name in &names {
                    let case = format!("{name} with {filler} others, {} present", names[present]);
                    assert_eq!(
                        carries(&headers, name),
                        headers.contains_key(name),
                        "{case}"
                    );
                    assert_eq!(get(&headers, name), headers.get(name), "{case}");
                    let all: Vec<_> = get_all(&headers, name).collect();
                    let theirs: Vec<_> = headers.get_all(name).iter().collect();
                    assert_eq!(all, theirs, "{case}");
                    let mut mine = headers.clone();
                    assert_eq!(
                        remove(&mut mine, name),
                        headers.clone().remove(name),
                        "{case}"
                    );
                    assert!(!mine.contains_key(name), "{case}");
                }
            }
        }
    }
}
