//! Percent-encoding of `comment` values (`PVE::Tools::encode_text`/`decode_text`), and Perl's
//! whitespace class. Same rules as user.cfg's text fields.

use std::fmt::Write;

/// Encode everything outside printable ASCII, and `%` and `:`, as `%XX`.
pub(super) fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' && b != b':' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decode `%XX` sequences; invalid UTF-8 is replaced, as Encode does.
pub(super) fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Perl's `\s`.
pub(super) fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_round_trip() {
        for text in ["plain words", "a:b%c", "ünïcödé", "tab\there"] {
            assert_eq!(
                decode_text(&encode_text(text)),
                text,
                "round trip of {text:?}"
            );
        }
        assert_eq!(encode_text("a:b"), "a%3Ab");
        assert_eq!(decode_text("%zz%41"), "%zzA");
    }
}
