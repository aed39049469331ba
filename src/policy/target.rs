//! Where a policy file's routes are forwarded: the named upstream (`upstream = "pve"` at the top
//! of the file; `default` otherwise) and the path rewrite (`strip_prefix`, `add_prefix`) that
//! lets `/grafana/api/...` reach an upstream's `/api/...`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::PolicyError;

pub use crate::config::upstreams::DEFAULT_UPSTREAM;

/// One policy file's forwarding target, shared by its routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    /// The upstream's name (`[[upstreams]]` in `aclgate.toml`).
    pub upstream: String,
    /// Removed from the front of the forwarded path (`""`: nothing).
    pub strip_prefix: String,
    /// Put in front of the forwarded path after stripping (`""`: nothing).
    pub add_prefix: String,
}

impl Default for UpstreamTarget {
    fn default() -> Self {
        UpstreamTarget {
            upstream: DEFAULT_UPSTREAM.to_owned(),
            strip_prefix: String::new(),
            add_prefix: String::new(),
        }
    }
}

impl UpstreamTarget {
    /// Build from a file's top-level keys; `at` turns a span into `file:line`.
    pub(super) fn parse(
        upstream: Option<&Spanned<String>>,
        strip_prefix: Option<&Spanned<String>>,
        add_prefix: Option<&Spanned<String>>,
        at: &impl Fn(Range<usize>) -> String,
    ) -> Result<Arc<UpstreamTarget>, PolicyError> {
        let mut target = UpstreamTarget::default();
        if let Some(u) = upstream {
            let name = u.get_ref();
            let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
            if name.is_empty() || !name.chars().all(plain) {
                return Err(PolicyError::Load {
                    at: at(u.span()),
                    message: format!("upstream `{name}`: letters, digits and `._-` only"),
                });
            }
            target.upstream = name.clone();
        }
        for (key, value, slot) in [
            ("strip_prefix", strip_prefix, &mut target.strip_prefix),
            ("add_prefix", add_prefix, &mut target.add_prefix),
        ] {
            let Some(v) = value else { continue };
            let text = v.get_ref();
            // Only characters that path encoding leaves alone, so the prefix can be cut from
            // and put on the encoded path as written.
            let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
            let ok = text.starts_with('/')
                && !text.ends_with('/')
                && !text.contains("//")
                && text.chars().all(plain);
            if !ok {
                return Err(PolicyError::Load {
                    at: at(v.span()),
                    message: format!(
                        "{key} `{text}` must start with `/`, not end with `/`, and hold only \
                         letters, digits and `/-._~`"
                    ),
                });
            }
            *slot = text.clone();
        }
        Ok(Arc::new(target))
    }

    /// Whether `template` (a route's full path) starts with the strip prefix, at a segment
    /// boundary.
    pub(super) fn strips(&self, template: &str) -> bool {
        template
            .strip_prefix(&self.strip_prefix)
            .is_some_and(|rest| {
                self.strip_prefix.is_empty() || rest.is_empty() || rest.starts_with('/')
            })
    }

    /// The path the upstream gets for the (encoded) checked `path`.
    pub fn rewrite<'p>(&self, path: &'p str) -> Cow<'p, str> {
        if self.strip_prefix.is_empty() && self.add_prefix.is_empty() {
            return Cow::Borrowed(path);
        }
        let rest = path.strip_prefix(&self.strip_prefix).unwrap_or(path);
        let joined = format!("{}{rest}", self.add_prefix);
        Cow::Owned(if joined.is_empty() {
            "/".to_owned()
        } else {
            joined
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_table() {
        let t = |strip: &str, add: &str| UpstreamTarget {
            upstream: "x".to_owned(),
            strip_prefix: strip.to_owned(),
            add_prefix: add.to_owned(),
        };
        assert_eq!(t("", "").rewrite("/a/b"), "/a/b");
        assert_eq!(t("/grafana", "").rewrite("/grafana/api/x"), "/api/x");
        assert_eq!(t("/grafana", "").rewrite("/grafana"), "/");
        assert_eq!(t("/grafana", "/v2").rewrite("/grafana/api"), "/v2/api");
        assert_eq!(t("", "/v2").rewrite("/api"), "/v2/api");
        assert!(t("/grafana", "").strips("/grafana/api"));
        assert!(!t("/grafana", "").strips("/grafanax/api"));
    }
}
