//! Request-path normalisation: percent-decode once and refuse every form that two parsers could
//! read differently (`.`/`..` segments, empty segments, encoded slashes, NUL and control
//! characters, invalid escapes, non-UTF-8).

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
}

/// The decoded, checked path. A single trailing `/` is dropped (except for `/` itself).
pub fn normalise(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Most paths have no escape: then `raw` is already the decoded text (and UTF-8).
    let mut path = if raw.contains('%') {
        decode(raw)?
    } else {
        check_bytes(raw.as_bytes())?;
        raw.to_owned()
    };
    if path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    if path != "/"
        && path[1..]
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(PathError::DotSegment);
    }
    Ok(path)
}

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
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(PathError::Control);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
