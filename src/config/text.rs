//! Text rules shared by Proxmox's config formats (user.cfg, domains.cfg): percent-encoding of
//! text fields (`PVE::Tools::encode_text`/`decode_text`), Perl's whitespace class, and
//! `split_list`.

use std::fmt::Write;

/// Encode everything outside printable ASCII, and `%` and `:`, as `%XX`.
pub fn encode_text(text: &str) -> String {
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
pub fn decode_text(s: &str) -> String {
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
pub fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Proxmox's `split_list`: split on NUL if present, else on runs of `,`, `;` and whitespace.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> {
    let nul = list.contains('\0');
    list.split(move |c: char| {
        if nul {
            c == '\0'
        } else {
            c == ',' || c == ';' || is_perl_space(c)
        }
    })
    .filter(|s| !s.is_empty())
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
