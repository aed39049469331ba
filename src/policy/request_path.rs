//! Request-path normalisation: percent-decode once and refuse every form that two parsers could
//! read differently (`.`/`..` segments, empty segments, encoded slashes, NUL and control
//! characters, invalid escapes, non-UTF-8, `;` path parameters); and the one encoding of the
//! checked path that the upstream receives ([`encode`]), so the upstream decodes exactly the
//! path that was checked. Below `proxy` and `access_api`, which both normalise (`Why?` too).

use std::borrow::Cow;

use crate::config::request::PathParams;

/// Why a path was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with `/`")]
    NotAbsolute,
    #[error("invalid percent-encoding in path")]
    BadEscape,
    #[error("encoded slash or backslash in path")]
    EncodedSlash,
    #[error("control character in path")]
    Control,
    #[error("path is not UTF-8")]
    NotUtf8,
    #[error("`.`, `..` or empty segment in path")]
    DotSegment,
    #[error("`;` path parameter in path")]
    PathParam,
}

/// The decoded, checked path, refusing `;` ([`PathParams::Refuse`]).
pub fn normalise(raw: &str) -> Result<String, PathError> {
    normalise_with(raw, PathParams::Refuse)
}

/// The decoded, checked path. A single trailing `/` is dropped (except for `/` itself). A `;`
/// is refused, or with [`PathParams::Strip`] each segment's literal `;...` is cut off first
/// (an encoded `;` is refused either way).
pub fn normalise_with(raw: &str, params: PathParams) -> Result<String, PathError> {
    match already_normal(raw) {
        Some(path) => Ok(path.to_owned()),
        None => normalise_general(raw, params),
    }
}

/// [`normalise_with`] for any path.
fn normalise_general(raw: &str, params: PathParams) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let stripped;
    let raw = match (raw.contains(';'), params) {
        (false, _) => raw,
        (true, PathParams::Refuse) => return Err(PathError::PathParam),
        (true, PathParams::Strip) => {
            stripped = strip_params(raw);
            &stripped
        }
    };
    // Most paths have no escape: then `raw` is already the decoded text (and UTF-8).
    let mut path = if raw.contains('%') {
        decode(raw)?
    } else {
        check_bytes(raw.as_bytes())?;
        raw.to_owned()
    };
    if path.contains(';') {
        return Err(PathError::PathParam);
    }
    if path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    if path != "/" && path[1..].split('/').any(|s| !plain_segment(s.as_bytes())) {
        return Err(PathError::DotSegment);
    }
    Ok(path)
}

/// `raw` without a trailing `/` when it is already what [`normalise_with`] answers (the usual
/// API path): absolute, no `%` or `;`, no control character or backslash, no empty, `.` or `..`
/// segment. One pass over the bytes instead of the general path's five; `None` leaves the
/// path to it (which also answers why a path is refused).
fn already_normal(raw: &str) -> Option<&str> {
    let path = match raw.as_bytes() {
        [b'/', .., b'/'] => &raw[..raw.len() - 1],
        [b'/', ..] => raw,
        _ => return None,
    };
    if path == "/" {
        return Some(path);
    }
    let bytes = path.as_bytes();
    // Where the current segment started, just after its `/`.
    let mut segment = 1;
    for (at, &b) in bytes.iter().enumerate().skip(1) {
        match FAST[usize::from(b)] {
            Fast::Go => {}
            Fast::Slash => {
                if !plain_segment(&bytes[segment..at]) {
                    return None;
                }
                segment = at + 1;
            }
            Fast::Leave => return None,
        }
    }
    plain_segment(&bytes[segment..]).then_some(path)
}

/// What [`already_normal`] does at a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fast {
    Go,
    /// A segment ends.
    Slash,
    /// `%`, `;` or [`forbidden`]: the general way decides.
    Leave,
}

/// [`Fast`] by byte: one load per byte of every request's path instead of five comparisons
/// (`normalise_with` of a 45-byte path 1,073 -> 790 instructions, callgrind).
static FAST: [Fast; 256] = {
    let mut table = [Fast::Go; 256];
    let mut b = 0;
    while b < 256 {
        if forbidden(b as u8) {
            table[b] = Fast::Leave;
        }
        b += 1;
    }
    table[b'%' as usize] = Fast::Leave;
    table[b';' as usize] = Fast::Leave;
    table[b'/' as usize] = Fast::Slash;
    table
};

/// Neither empty nor `.` nor `..`.
fn plain_segment(segment: &[u8]) -> bool {
    !matches!(segment, b"" | b"." | b"..")
}

/// Each segment without its `;...` part.
fn strip_params(raw: &str) -> String {
    raw.split('/')
        .map(|seg| seg.split_once(';').map_or(seg, |(keep, _)| keep))
        .collect::<Vec<_>>()
        .join("/")
}

/// The checked path as the upstream receives it: every byte outside RFC 3986's unreserved
/// characters, the sub-delimiters other than `;`, `:`, `@` and `/` percent-encoded (upper-case
/// hex). Decoding it once gives `path` back; normalising it gives `path` back. Borrowed when
/// nothing needs encoding (the usual case).
pub fn encode(path: &str) -> Cow<'_, str> {
    if path.bytes().all(is_plain) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 16);
    for b in path.bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// A byte the forwarded path carries as it is.
fn is_plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// [`is_plain`] as a table: it runs for every byte of every forwarded path, and the search of
/// the punctuation list per byte was 2.2k instructions of a 40-byte path (callgrind).
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let punctuation = b"-._~!$&'()*+,=:@/";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
};

/// Percent-decode once, then check the bytes and that the result is UTF-8.
fn decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            let d = (hi * 16 + lo) as u8;
            if d == b'/' || d == b'\\' {
                return Err(PathError::EncodedSlash);
            }
            out.push(d);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    check_bytes(&out)?;
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

/// No control characters and no backslash.
fn check_bytes(bytes: &[u8]) -> Result<(), PathError> {
    if bytes.iter().any(|&b| forbidden(b)) {
        return Err(PathError::Control);
    }
    Ok(())
}

/// A control character or a backslash.
const fn forbidden(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The one-pass path answers what the general one does, wherever it answers.
        #[test]
        fn already_normal_agrees(raw in "/?([a-z.;%\\\\\\x00\\x7fé]{0,3}/?){0,5}") {
            let general = normalise_general(&raw, PathParams::Refuse);
            match already_normal(&raw) {
                Some(fast) => proptest::prop_assert_eq!(Ok(fast.to_owned()), general),
                // It leaves only what has a `%` or `;`, or is refused.
                None => proptest::prop_assert!(raw.contains(['%', ';']) || general.is_err()),
            }
        }
    }

    #[test]
    fn the_fast_table_leaves_escapes_parameters_and_forbidden_bytes() {
        for b in 0..=255u8 {
            let want = match b {
                b'/' => Fast::Slash,
                b'%' | b';' | b'\\' | 0x7f => Fast::Leave,
                b if b < 0x20 => Fast::Leave,
                _ => Fast::Go,
            };
            assert_eq!(FAST[usize::from(b)], want, "byte {b:#04x}");
        }
    }

    #[test]
    fn plain_bytes_are_the_unreserved_and_the_kept_delimiters() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/".contains(&b);
            assert_eq!(is_plain(b), want, "byte {b:#04x}");
        }
        assert_eq!(encode("/a b;c%/é"), "/a%20b%3Bc%25/%C3%A9");
    }

    #[test]
    fn table() {
        fn check(raw: &str, want: Result<&str, PathError>) {
            assert_eq!(
                normalise(raw).as_deref().map_err(|e| *e),
                want,
                "normalise({raw:?})"
            );
        }
        check("/", Ok("/"));
        check("/api2/json/nodes", Ok("/api2/json/nodes"));
        check("/api2/json/nodes/", Ok("/api2/json/nodes"));
        check("/a%20b", Ok("/a b"));
        check("/a/%71emu", Ok("/a/qemu"));
        check("a", Err(PathError::NotAbsolute));
        check("/a/../b", Err(PathError::DotSegment));
        check("/a/./b", Err(PathError::DotSegment));
        check("/a/%2e%2e/b", Err(PathError::DotSegment));
        check("/a//b", Err(PathError::DotSegment));
        check("/a%2Fb", Err(PathError::EncodedSlash));
        check("/a%2fb", Err(PathError::EncodedSlash));
        check("/a%5Cb", Err(PathError::EncodedSlash));
        check("/a%00b", Err(PathError::Control));
        check("/a%0ab", Err(PathError::Control));
        check("/a\\b", Err(PathError::Control));
        check("/a%zz", Err(PathError::BadEscape));
        check("/a%4", Err(PathError::BadEscape));
        check("/a%ff", Err(PathError::NotUtf8));
        check("/a;b", Err(PathError::PathParam));
        check("/a/..;/b", Err(PathError::PathParam));
        check("/a%3bb", Err(PathError::PathParam));
    }

    #[test]
    fn strip_table() {
        fn check(raw: &str, want: Result<&str, PathError>) {
            assert_eq!(
                normalise_with(raw, PathParams::Strip)
                    .as_deref()
                    .map_err(|e| *e),
                want,
                "normalise_with({raw:?}, Strip)"
            );
        }
        check("/a;jsessionid=1/b", Ok("/a/b"));
        check("/a/b;x=1;y=2", Ok("/a/b"));
        check("/a;x/", Ok("/a"));
        check("/a/..;/b", Err(PathError::DotSegment));
        check("/a/;x/b", Err(PathError::DotSegment));
        check("/a%3Bb", Err(PathError::PathParam));
        check("/plain", Ok("/plain"));
    }

    #[test]
    fn encode_table() {
        fn check(path: &str, want: &str) {
            assert_eq!(encode(path), want, "encode({path:?})");
        }
        check("/api2/json/nodes", "/api2/json/nodes");
        check(
            "/access/users/joe@pve/token/t1",
            "/access/users/joe@pve/token/t1",
        );
        check("/a b", "/a%20b");
        check("/100%", "/100%25");
        check("/q?x#y", "/q%3Fx%23y");
        check("/caf\u{e9}", "/caf%C3%A9");
        check("/a;b", "/a%3Bb");
    }

    proptest::proptest! {
        /// The forwarded path decodes, and normalises, to exactly the checked one.
        #[test]
        fn forwarded_path_is_the_checked_path(
            segs in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "a", "Z", "0", "-", ".", "_", "~", "!", "$", "&", "'", "(", "*", "+",
                        ",", "=", ":", "@", ";", "%41", "%71", "%2e", "%2F", "%25", "%3B",
                        "%3F", "%20", "%C3%A9", "%ff", "%00", "%", "..",
                    ]),
                    0..5,
                ),
                1..5,
            ),
            trailing in proptest::bool::ANY,
            strip in proptest::bool::ANY,
        ) {
            let mut raw: String = segs.iter().map(|s| format!("/{}", s.concat())).collect();
            if trailing {
                raw.push('/');
            }
            let mode = if strip { PathParams::Strip } else { PathParams::Refuse };
            if let Ok(checked) = normalise_with(&raw, mode) {
                let forwarded = encode(&checked);
                let decoded = percent_encoding::percent_decode_str(&forwarded).decode_utf8();
                proptest::prop_assert_eq!(decoded.as_deref().ok(), Some(checked.as_str()));
                proptest::prop_assert_eq!(normalise(&forwarded), Ok(checked.clone()));
            }
        }
    }
}
