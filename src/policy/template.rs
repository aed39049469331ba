//! ACL path templates of checks (`/vms/{vmid}`, `{path}`): compiled once at load, substituted
//! per request (spec §5.2).
//!
//! Proxmox substitutes `-` for a missing parameter and normalises the result; the gateway instead
//! refuses to build a path when a parameter is missing, empty or contains `/` (unless the template
//! is exactly `{path}`), so a request can never make a check look at a parent path.

use std::fmt;

use crate::access::AclPath;

/// A compiled ACL path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The template as written (`/vms/{vmid}`).
    raw: Box<str>,
    /// Literal text and parameters, in order.
    parts: Box<[Part]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(Box<str>),
    Param(Box<str>),
}

/// Why a template could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

// === impl Template ===

impl Template {
    /// Compile `raw`; it must already be a normalised ACL path whose `{name}` parameters are whole
    /// components, or exactly `{name}` (the whole path comes from one parameter).
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        if let Some(name) = whole_param(raw) {
            parts.push(Part::Param(name.into()));
            return Ok(Template {
                raw: raw.into(),
                parts: parts.into(),
            });
        }
        // Check the shape: with every parameter replaced by a plain name the template must be a
        // normalised path, so substituting plain values keeps it normalised.
        let mut probe = String::with_capacity(raw.len());
        let mut lit = String::new();
        for (i, comp) in raw.split('/').enumerate() {
            if i > 0 {
                lit.push('/');
                probe.push('/');
            }
            if let Some(name) = whole_param(comp) {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit).into()));
                }
                parts.push(Part::Param(name.into()));
                probe.push('x');
            } else if comp.contains(['{', '}']) {
                return Err(TemplateError(format!(
                    "template `{raw}`: a parameter must be a whole path component like `{{name}}`"
                )));
            } else {
                lit.push_str(comp);
                probe.push_str(comp);
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit.into()));
        }
        match AclPath::normalize(&probe) {
            Some(p) if p.as_str() == probe => Ok(Template {
                raw: raw.into(),
                parts: parts.into(),
            }),
            _ => Err(TemplateError(format!(
                "template `{raw}` is not a normalised ACL path (absolute, no empty or trailing \
                 component, only letters, digits and `._-`)"
            ))),
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parameter names the template reads.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Param(n) => Some(&**n),
            Part::Lit(_) => None,
        })
    }

    /// Substitute parameters and call `f` with the resulting ACL path; `Err(name)` names the
    /// parameter that is missing or unusable. Allocates only when the template has parameters.
    pub fn with_path<'p, R>(
        &self,
        lookup: impl Fn(&str) -> Option<&'p str>,
        f: impl FnOnce(&str) -> R,
    ) -> Result<R, &str> {
        match &*self.parts {
            // No parameter: the template is the path (checked normalised at load).
            [Part::Lit(lit)] => Ok(f(lit)),
            // The whole path is one parameter (perm-modify's `{path}`): normalise it.
            [Part::Param(name)] => {
                let value = lookup(name).filter(|v| !v.is_empty()).ok_or(&**name)?;
                let path = AclPath::normalize(value).ok_or(&**name)?;
                Ok(f(path.as_str()))
            }
            parts => {
                let mut out = StackStr::new();
                for part in parts {
                    match part {
                        Part::Lit(lit) => out.push(lit),
                        Part::Param(name) => {
                            let value = lookup(name).ok_or(&**name)?;
                            if !is_component(value) {
                                return Err(name);
                            }
                            out.push(value);
                        }
                    }
                }
                Ok(f(out.as_str()))
            }
        }
    }
}

/// A string built on the stack, spilling to the heap only for unusually long paths.
struct StackStr {
    buf: [u8; 160],
    len: usize,
    spill: Option<String>,
}

impl StackStr {
    fn new() -> Self {
        StackStr {
            buf: [0; 160],
            len: 0,
            spill: None,
        }
    }

    fn push(&mut self, s: &str) {
        if let Some(heap) = &mut self.spill {
            heap.push_str(s);
        } else if let Some(dst) = self.buf.get_mut(self.len..self.len + s.len()) {
            dst.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut heap = String::with_capacity(self.len + s.len() + 32);
            heap.push_str(self.as_str());
            heap.push_str(s);
            self.spill = Some(heap);
        }
    }

    fn as_str(&self) -> &str {
        match &self.spill {
            Some(heap) => heap,
            // INVARIANT: `buf[..len]` is a concatenation of whole `&str`s, so valid UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).expect("concatenated str is UTF-8"),
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// `{name}` → `name`, for a whole string.
pub(crate) fn whole_param(s: &str) -> Option<&str> {
    let name = s.strip_prefix('{')?.strip_suffix('}')?;
    is_param_name(name).then_some(name)
}

/// Parameter names: letters, digits, `_` and `-` (PVE has `{pci-id-or-mapping}`).
pub(crate) fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// A value that can stand as one ACL path component: non-empty, no `/`, only the ASCII class
/// that normalised ACL paths allow (spec §4.2).
fn is_component(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: &str, params: &[(&str, &str)], want: Result<&str, &str>) {
        let t = Template::parse(template).unwrap_or_else(|e| panic!("{template}: {e:?}"));
        let lookup = |n: &str| params.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let got = t.with_path(lookup, str::to_owned);
        assert_eq!(
            got.as_deref().map_err(|e| *e),
            want,
            "template {template} with {params:?}"
        );
    }

    #[test]
    fn substitution() {
        check("/", &[], Ok("/"));
        check("/vms/{vmid}", &[("vmid", "100")], Ok("/vms/100"));
        check("/vms/{vmid}", &[], Err("vmid"));
        check("/vms/{vmid}", &[("vmid", "")], Err("vmid"));
        check("/vms/{vmid}", &[("vmid", "1/2")], Err("vmid"));
        check("/vms/{vmid}", &[("vmid", "a b")], Err("vmid"));
        check("/vms/{vmid}", &[("vmid", "..")], Ok("/vms/.."));
        check("/vms/{vmid}", &[("vmid", "0")], Ok("/vms/0"));
        check(
            "/sdn/zones/{zone}/{vnet}",
            &[("zone", "z"), ("vnet", "v")],
            Ok("/sdn/zones/z/v"),
        );
        let long = "x".repeat(300);
        let want = format!("/vms/{long}/a/{long}");
        check("/vms/{v}/a/{w}", &[("v", &long), ("w", &long)], Ok(&want));
        check("{path}", &[("path", "//vms//100/")], Ok("/vms/100"));
        check("{path}", &[("path", "/")], Ok("/"));
        check("{path}", &[("path", "")], Err("path"));
        check("{path}", &[("path", "/vms/ü")], Err("path"));
    }

    #[test]
    fn bad_templates() {
        for raw in [
            "vms",
            "/vms/",
            "//vms",
            "/vms/x{id}",
            "/vms/{}",
            "/vms/{a b}",
            "/a b",
        ] {
            assert!(Template::parse(raw).is_err(), "{raw} should be refused");
        }
        for raw in ["/", "/vms", "/vms/{vmid}", "{path}", "/pci/{pci-id}"] {
            assert!(Template::parse(raw).is_ok(), "{raw} should load");
        }
    }
}
