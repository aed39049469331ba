//! Helpers shared by the fuzz targets: cutting one input into fields, and the invariants several
//! targets assert (a config file's parse → write → parse is a fixed point; the path normaliser's
//! output is canonical).

use std::borrow::Cow;

/// The byte that separates fields of one fuzz input. 0xFF never occurs in UTF-8, so text
/// fields cut at it stay valid text.
pub const SEP: u8 = 0xFF;

/// Cut `data` into exactly `n` fields at [`SEP`] (missing fields are empty; the last field keeps
/// any further separators).
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == SEP).collect();
    out.resize(n, &[]);
    out
}

/// A field as text (invalid UTF-8 replaced, so every input reaches the parser).
pub fn text(field: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(field)
}

/// How much a second read of written text may complain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// Not at all: the writer emits only what the reader accepts silently.
    Clean,
    /// Only what the first read complained of too (user.cfg keeps dangling references, such as
    /// a group member that is no user, and warns of them on every read, as Proxmox does).
    NoNewWarnings,
}

/// The config-file invariant: whatever `text` is, the text written from what was read reads
/// back (complaining as `reread` allows) and writes the same bytes again (parse → write →
/// parse → write is stable). `parse` answers the warnings' messages, without line numbers.
pub fn assert_write_stable<C>(
    file: &str,
    text: &str,
    reread: Reread,
    parse: impl Fn(&str) -> Option<(C, Vec<String>)>,
    write: impl Fn(&C) -> String,
) {
    let Some((first, first_warnings)) = parse(text) else {
        return;
    };
    let written = write(&first);
    let Some((second, warnings)) = parse(&written) else {
        panic!("{file}: the written text does not parse again:\n{written}");
    };
    let new: Vec<&String> = warnings
        .iter()
        .filter(|w| reread == Reread::Clean || !first_warnings.contains(w))
        .collect();
    assert!(
        new.is_empty(),
        "{file}: the written text reads with warnings {new:?}:\n{written}"
    );
    let again = write(&second);
    assert_eq!(
        written, again,
        "{file}: write → parse → write is not stable"
    );
}

/// The messages of user.cfg-style warnings.
pub fn messages(warnings: Vec<aclgate::config::user_cfg::Warning>) -> Vec<String> {
    warnings.into_iter().map(|w| w.message).collect()
}

/// The form a normalised path is sent on in: `%`, controls, space, `?`, `#` and non-ASCII
/// percent-encoded, everything else as it is. Decoding it once gives the normalised path back.
pub fn forward_form(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b <= b' ' || b >= 0x7f || matches!(b, b'%' | b'?' | b'#') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// What the normaliser's output must be: absolute, no empty, `.` or `..` segment, no trailing
/// slash (but `/`), no backslash and no control character.
pub fn assert_canonical_path(raw: &str, path: &str) {
    assert!(path.starts_with('/'), "{raw:?} → {path:?}: not absolute");
    if path != "/" {
        assert!(!path.ends_with('/'), "{raw:?} → {path:?}: trailing slash");
        for segment in path[1..].split('/') {
            assert!(
                !segment.is_empty() && segment != "." && segment != "..",
                "{raw:?} → {path:?}: segment {segment:?}"
            );
        }
    }
    assert!(
        !path.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\'),
        "{raw:?} → {path:?}: control character or backslash"
    );
}
