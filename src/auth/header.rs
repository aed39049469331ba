//! Proxmox's credential finder (spec §6.2): `KEY` at the start of the header value or after
//! whitespace, followed by `=` or one space; the value runs to the next `;` or the end.

/// Find `key`'s raw (still percent-encoded) value in a header value. Case-sensitive.
///
/// A byte scan: candidates are found by the key's first byte, so no substring searcher is set up
/// per call. A whole UTF-8 key matches only at a character boundary, so every slice below is one.
pub fn find_key<'a>(value: &'a str, key: &str) -> Option<&'a str> {
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
            let rest = &value[end + 1..];
            return Some(rest.find(';').map_or(rest, |j| &rest[..j]));
        }
        from = end;
    }
    None
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
}
