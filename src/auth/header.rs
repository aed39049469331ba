//! Proxmox's credential finder (spec §6.2): `KEY` at the start of the header value or after
//! whitespace, followed by `=` or one space; the value runs to the next `;` or the end.

/// Find `key`'s raw (still percent-encoded) value in a header value. Case-sensitive.
pub fn find_key<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = value[from..].find(key).map(|i| i + from) {
        let starts_ok = value[..i]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let after = &value[i + key.len()..];
        if starts_ok && (after.starts_with('=') || after.starts_with(' ')) {
            let rest = &after[1..];
            return Some(rest.split(';').next().unwrap_or(rest));
        }
        from = i + key.len();
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
    }
}
