//! Properties of the request-path normaliser (`aclgate::proxy::normalise`), over paths built
//! from the pieces attacks use (dot segments in every encoding, encoded and doubled slashes,
//! `%25`, `;` parameters, control and non-ASCII bytes): what passes is canonical, decoding
//! never joins or splits a segment, and the normaliser maps its own output (in the form it is
//! forwarded in) to itself. The fuzz target `path` (docs/fuzzing.md) asserts the same.

use aclgate::proxy::{PathError, normalise};
use proptest::prelude::*;

/// One segment: plain text, escapes of every class, dots in every spelling.
fn segment() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9_~-]{1,6}",
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just(".%2e".to_owned()),
        Just("..;".to_owned()),
        Just(";x=1".to_owned()),
        Just("%2f".to_owned()),
        Just("%2F".to_owned()),
        Just("%5c".to_owned()),
        Just("\\".to_owned()),
        Just("%25".to_owned()),
        Just("%252f".to_owned()),
        Just("%252e".to_owned()),
        Just("%".to_owned()),
        Just("%g1".to_owned()),
        Just("%00".to_owned()),
        Just("%0a".to_owned()),
        Just("%7f".to_owned()),
        Just("%c3%a9".to_owned()),
        Just("%c3".to_owned()),
        Just("%ff".to_owned()),
        Just("%71emu".to_owned()),
        Just("é".to_owned()),
        Just(" ".to_owned()),
        Just("%20".to_owned()),
        Just("?".to_owned()),
        Just("%3f".to_owned()),
        Just("#".to_owned()),
    ];
    prop::collection::vec(piece, 0..3).prop_map(|v| v.concat())
}

/// A raw request path: `/`-joined segments, sometimes with a trailing or doubled slash.
fn raw_path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..5), 0..4u8).prop_map(|(segs, tail)| {
        let mut p = format!("/{}", segs.join("/"));
        match tail {
            1 => p.push('/'),
            2 => p.push_str("//"),
            _ => {}
        }
        p
    })
}

/// The normalised path as sent upstream: `%`, controls, space, `?`, `#` and non-ASCII encoded.
fn forward_form(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b <= b' ' || b >= 0x7f || matches!(b, b'%' | b'?' | b'#') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever passes has no empty, `.` or `..` segment, no `//`, no trailing slash, no
    /// backslash or control character, and as many segments as the raw path (an encoded slash
    /// never became a separator).
    #[test]
    fn what_passes_is_canonical(raw in raw_path()) {
        if let Ok(path) = normalise(&raw) {
            prop_assert!(path.starts_with('/'));
            prop_assert!(!path.contains("//"), "{raw:?} → {path:?}");
            if path != "/" {
                prop_assert!(!path.ends_with('/'), "{raw:?} → {path:?}");
                for s in path[1..].split('/') {
                    prop_assert!(!s.is_empty() && s != "." && s != "..", "{raw:?} → {path:?}");
                }
            }
            prop_assert!(!path.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\'));
            let raw_n = raw.trim_end_matches('/').split('/').count().max(1);
            let n = path.trim_end_matches('/').split('/').count().max(1);
            prop_assert_eq!(raw_n, n, "{:?} → {:?}", raw, path);
        }
    }

    /// Normalising is idempotent on the forwarded form, and on the path itself whenever it has
    /// nothing to encode.
    #[test]
    fn normalise_is_idempotent(raw in raw_path()) {
        if let Ok(path) = normalise(&raw) {
            let forward = forward_form(&path);
            prop_assert_eq!(normalise(&forward), Ok(path.clone()), "{:?} → {:?}", raw, forward);
            if forward == path {
                prop_assert_eq!(normalise(&path), Ok(path.clone()));
            }
        }
    }

    /// An encoded slash or backslash anywhere, or a dot segment in any spelling, is refused.
    #[test]
    fn encoded_slashes_and_dot_segments_never_pass(
        before in prop::collection::vec("[a-z0-9]{1,4}", 0..3),
        after in prop::collection::vec("[a-z0-9]{1,4}", 0..3),
        bad in prop::sample::select(vec![
            "x%2fy", "x%2Fy", "x%5cy", "x%5Cy", "%2f", ".", "..", "%2e", "%2E", ".%2e", "%2e.",
            "%2e%2e", "",
        ]),
    ) {
        let mut segs = before.clone();
        segs.push(bad.to_owned());
        segs.extend(after.iter().cloned());
        let raw = format!("/{}", segs.join("/"));
        // A trailing empty segment is the trailing slash, which is allowed once.
        prop_assume!(!(bad.is_empty() && after.is_empty()));
        let got = normalise(&raw);
        prop_assert!(
            matches!(got, Err(PathError::EncodedSlash | PathError::DotSegment)),
            "{raw:?} → {got:?}"
        );
    }
}

/// The decoded form is not a fixed point when it holds a `%`: `/a%252f` is checked as `/a%2f`,
/// and normalising that again would refuse it as an encoded slash. So the normalised path must
/// be forwarded re-encoded (`%` as `%25`), never as it is: an upstream decoding `/a%2f` once
/// sees `/a/`, a path the gateway never checked.
#[test]
fn decoded_percent_must_be_re_encoded_when_forwarded() {
    assert_eq!(normalise("/a%252f").as_deref(), Ok("/a%2f"));
    assert_eq!(normalise("/a%2f"), Err(PathError::EncodedSlash));
    assert_eq!(normalise(&forward_form("/a%2f")).as_deref(), Ok("/a%2f"));
}
