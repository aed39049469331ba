//! The shipped policies, compiled into the binary: `builtin:pve` (the Proxmox VE API),
//! `builtin:access` (the access API aclgate answers itself) and `builtin:example` (a generic
//! REST API to start from). The files in `policies/` are their source and reference; a test
//! proves the embedded copies equal them.
//!
//! A policy list (`policies` in aclgate.toml, `--policy`) names built-in policies and files
//! alike: an entry spelled `builtin:NAME` is a built-in policy, anything else a file path
//! (write `./builtin:x` for a file of that name).

use std::borrow::Cow;
use std::path::Path;

use super::PolicyError;
use crate::config::gateway::{BUILTIN_POLICY_PREFIX, builtin_policy_name};

/// A policy shipped inside the binary.
#[derive(Debug)]
pub struct Builtin {
    /// The name after `builtin:`.
    pub name: &'static str,
    /// The file in the source tree it is embedded from.
    pub source: &'static str,
    /// One line on what it covers.
    pub summary: &'static str,
    /// The policy file's text.
    pub text: &'static str,
}

/// Every built-in policy, in the order `aclgate policy list` shows them.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "pve",
        source: "policies/pve.toml",
        summary: "the Proxmox VE API (/api2/json), with Proxmox's permission checks",
        text: include_str!("../../policies/pve.toml"),
    },
    Builtin {
        name: "access",
        source: "policies/access.toml",
        summary: "the access API aclgate answers itself (/api2/json/access, tickets, users, ACLs)",
        text: include_str!("../../policies/access.toml"),
    },
    Builtin {
        name: "example",
        source: "policies/example.toml",
        summary: "a generic REST API: a template for your own policy",
        text: include_str!("../../policies/example.toml"),
    },
];

/// The built-in policy called `name` (with or without the `builtin:` prefix).
pub fn find(name: &str) -> Option<&'static Builtin> {
    let name = name.strip_prefix(BUILTIN_POLICY_PREFIX).unwrap_or(name);
    BUILTINS.iter().find(|b| b.name == name)
}

/// Read one entry of a policy list: `(name for messages, text)`.
pub fn read(entry: &Path) -> Result<(String, Cow<'static, str>), PolicyError> {
    let name = entry.display().to_string();
    if let Some(builtin) = builtin_policy_name(entry) {
        return match find(builtin) {
            Some(b) => Ok((name, Cow::Borrowed(b.text))),
            None => Err(PolicyError::Load {
                at: name,
                message: format!("no built-in policy `{builtin}` (there are: {})", names()),
            }),
        };
    }
    let text = std::fs::read_to_string(entry).map_err(|source| PolicyError::Read {
        file: name.clone(),
        source,
    })?;
    Ok((name, Cow::Owned(text)))
}

/// The built-in names, comma-separated.
pub fn names() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_builtins_or_files() {
        fn check(entry: &str, want: Option<&str>) {
            assert_eq!(
                builtin_policy_name(Path::new(entry)),
                want,
                "entry {entry:?}"
            );
        }
        check("builtin:pve", Some("pve"));
        check("builtin:nope", Some("nope"));
        check("./builtin:pve", None);
        check("/etc/aclgate/mine.toml", None);
        check("pve", None);
    }

    #[test]
    fn unknown_builtins_are_errors_that_list_the_known_ones() {
        let err = read(Path::new("builtin:pv")).expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.contains("builtin:pv") && text.contains("pve, access"),
            "{text}"
        );
        let (name, text) = read(Path::new("builtin:access")).expect("known");
        assert_eq!(name, "builtin:access");
        assert!(text.contains("[[route]]"));
    }

    #[test]
    fn the_defaults_are_builtins() {
        for d in crate::config::gateway::DEFAULT_POLICIES {
            assert!(find(d).is_some(), "{d}");
        }
    }
}
