//! ACL paths (spec §4.2): normalisation, and the tree order in which user.cfg lists them.

use std::cmp::Ordering;
use std::fmt;

/// A normalised ACL path: starts with `/`, no empty components, only `[A-Za-z0-9._/-]`.
///
/// Orders like a depth-first walk of the ACL tree with children sorted by name (how Proxmox's
/// writer emits `acl` lines), not like a plain string: `/vms/100` sorts before `/vms-x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclPath(String);

impl AclPath {
    /// The root path `/`.
    pub fn root() -> Self {
        AclPath("/".to_owned())
    }

    /// Normalise as Proxmox's `normalize_path` does; `None` where Proxmox gives `undef`.
    ///
    /// Collapse runs of `/`, drop one trailing `/`, make it absolute, and refuse anything outside
    /// ASCII letters, digits and `._-/` (Proxmox's class is Unicode-aware; ASCII is the safe
    /// subset). `..` is an ordinary name here: paths are names, not files.
    pub fn normalize(raw: &str) -> Option<Self> {
        // Perl's `return undef if !$path` is also true for the string "0".
        if raw.is_empty() || raw == "0" {
            return None;
        }
        let mut out = String::with_capacity(raw.len() + 1);
        for comp in raw.split('/').filter(|c| !c.is_empty()) {
            out.push('/');
            out.push_str(comp);
        }
        if out.is_empty() {
            out.push('/');
        }
        let ok = out
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'/'));
        ok.then_some(AclPath(out))
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components after the root (`/vms/100` → `vms`, `100`; `/` → none).
    pub fn components(&self) -> Components<'_> {
        components(&self.0)
    }
}

/// The non-empty components of a path string.
pub fn components(path: &str) -> Components<'_> {
    Components { rest: path }
}

/// Iterator over the non-empty `/`-separated components of a path.
///
/// Hand-written because it runs on every permission query: the generic `split` + `filter`
/// cost several hundred instructions per short path.
#[derive(Debug, Clone)]
pub struct Components<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Components<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = self.rest.bytes().position(|b| b != b'/')?;
        let tail = &self.rest[start..];
        let len = tail.bytes().position(|b| b == b'/').unwrap_or(tail.len());
        self.rest = &tail[len..];
        Some(&tail[..len])
    }
}

impl Ord for AclPath {
    /// Component order without splitting: a normalised path joins its components with single
    /// `/`s and no component holds a `/`, so comparing bytes with `/` ranked below every other
    /// byte gives the same order (parsing a million-entry user.cfg does this ~30 times a line).
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let rank = |byte: u8| if byte == b'/' { 0 } else { byte };
        match (a.get(common), b.get(common)) {
            (Some(&x), Some(&y)) => rank(x).cmp(&rank(y)),
            (x, y) => x.is_some().cmp(&y.is_some()),
        }
    }
}

impl PartialOrd for AclPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for AclPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, want: Option<&str>) {
        assert_eq!(
            AclPath::normalize(raw).as_ref().map(AclPath::as_str),
            want,
            "normalize(`{raw}`)"
        );
    }

    #[test]
    fn normalize_table() {
        check("", None);
        check("0", None);
        check("/", Some("/"));
        check("//", Some("/"));
        check("vms", Some("/vms"));
        check("/vms/", Some("/vms"));
        check("//vms///100//", Some("/vms/100"));
        check("/vms/../x", Some("/vms/../x"));
        check("/vms/1 0", None);
        check("/vms/ü", None);
        check("/sdn/zones/z1", Some("/sdn/zones/z1"));
    }

    #[test]
    fn components_skip_empty() {
        let got: Vec<_> = components("//vms///100/").collect();
        assert_eq!(got, ["vms", "100"]);
        assert_eq!(components("/").next(), None);
        let mut c = components("/a//");
        assert_eq!(c.next(), Some("a"));
        assert_eq!(c.next(), None);
    }

    #[test]
    fn tree_order() {
        let mut v: Vec<AclPath> = ["/vms-x", "/vms/100", "/", "/vms", "/access"]
            .iter()
            .filter_map(|p| AclPath::normalize(p))
            .collect();
        v.sort();
        let got: Vec<_> = v.iter().map(AclPath::as_str).collect();
        assert_eq!(got, ["/", "/access", "/vms", "/vms/100", "/vms-x"]);
    }

    #[test]
    fn byte_order_equals_component_order() {
        // Every pair over an alphabet that exercises `/` against the bytes below and above it.
        let names = ["a", "a-", "a.b", "a_", "ab", "a0", "b", "-", "."];
        let mut paths = vec![AclPath::root()];
        for x in names {
            paths.extend(AclPath::normalize(x));
            for y in names {
                paths.extend(AclPath::normalize(&format!("{x}/{y}")));
            }
        }
        for p in &paths {
            for q in &paths {
                let want = p.components().cmp(q.components());
                assert_eq!(p.cmp(q), want, "cmp({p}, {q})");
            }
        }
    }
}
