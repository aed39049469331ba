//! The sync options (`realm-sync-options` of `PVE::Auth::Plugin`): `scope`, `remove-vanished`,
//! `enable-new`, the deprecated `full`/`purge`, and how a request's values combine with the
//! realm's `sync-defaults-options` (`parse_sync_opts` of `PVE::API2::Domains`).
//!
//! Each option is taken from the request, else from `sync-defaults-options`, else its default
//! (`enable-new` 1, `remove-vanished` none). `scope` has no default: without it the sync is
//! refused. The deprecated `full` and `purge` are checked (booleans) and then ignored, as in
//! Proxmox: its `parse_sync_opts` fills in `remove-vanished`'s schema default `none` before
//! `map_remove_vanished` runs, and that maps the old flags only when `remove-vanished` is unset,
//! which it never is by then.

use std::fmt;

use super::SyncError;
use crate::manage::value::parse_bool;

/// What a sync touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Users only.
    Users,
    /// Groups only (users are still read, for the memberships).
    Groups,
    /// Users, then groups.
    Both,
}

/// What to remove of users and groups the directory no longer returns (`none` = all false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveVanished {
    /// `acl`: remove the ACL entries of vanished users and groups.
    pub acl: bool,
    /// `entry`: remove vanished users and groups themselves.
    pub entry: bool,
    /// `properties`: synced users and groups get exactly the directory's properties (local
    /// ones are dropped, except a user's `enable` and tokens).
    pub properties: bool,
}

/// The options as a request (API or CLI) gave them, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncParams {
    /// `scope`: users | groups | both.
    pub scope: Option<String>,
    /// `remove-vanished`: `none` or a `;` list of acl, entry, properties.
    pub remove_vanished: Option<String>,
    /// `enable-new`: enable newly created users.
    pub enable_new: Option<bool>,
    /// Deprecated `full`: accepted and ignored, as in Proxmox.
    pub full: Option<bool>,
    /// Deprecated `purge`: accepted and ignored, as in Proxmox.
    pub purge: Option<bool>,
    /// `dry-run`: report what would change, write nothing.
    pub dry_run: bool,
    /// `force` (aclgate): remove vanished users even when the directory answered none.
    pub force: bool,
}

/// The options a sync runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// What is synced.
    pub scope: Scope,
    /// What is removed of vanished users and groups.
    pub remove_vanished: RemoveVanished,
    /// Whether users created by the sync are enabled.
    pub enable_new: bool,
    /// Report only.
    pub dry_run: bool,
}

// === impl SyncOptions ===

impl SyncOptions {
    /// Combine the request's `params` with the realm's `sync-defaults-options` text.
    pub fn resolve(params: &SyncParams, defaults: Option<&str>) -> Result<SyncOptions, SyncError> {
        let defaults = defaults
            .map(parse_defaults)
            .transpose()?
            .unwrap_or_default();
        let scope = match params.scope.as_deref().or(defaults.scope.as_deref()) {
            Some(text) => text.parse::<Scope>()?,
            None => {
                return Err(SyncError::param(
                    "scope",
                    "not passed as parameter and not defined in realm default sync options",
                ));
            }
        };
        let remove_vanished = match params
            .remove_vanished
            .as_deref()
            .or(defaults.remove_vanished.as_deref())
        {
            Some(text) => text.parse()?,
            None => RemoveVanished::default(),
        };
        Ok(SyncOptions {
            scope,
            remove_vanished,
            enable_new: params.enable_new.or(defaults.enable_new).unwrap_or(true),
            dry_run: params.dry_run,
        })
    }
}

/// Proxmox's `$map_sync_default_options` for a `sync-defaults-options` text: the deprecated
/// `full` / `purge` become `remove-vanished` (`entry;properties` / `acl`) when that is unset,
/// and the text is printed again in key order (as `print_property_string` does, booleans as
/// `0`/`1`); `drop_deprecated` (realm create and update) also drops the two old keys, while
/// reading a realm keeps them.
pub fn map_sync_defaults(text: &str, drop_deprecated: bool) -> Result<String, SyncError> {
    let mut p = parse_defaults(text)?;
    if p.remove_vanished.is_none() && (p.full == Some(true) || p.purge == Some(true)) {
        let mut parts = Vec::new();
        if p.full == Some(true) {
            parts.extend(["entry", "properties"]);
        }
        if p.purge == Some(true) {
            parts.push("acl");
        }
        p.remove_vanished = Some(parts.join(";"));
    }
    if drop_deprecated {
        (p.full, p.purge) = (None, None);
    }
    let flag = |b: Option<bool>| b.map(|b| u8::from(b).to_string());
    let pairs = [
        ("enable-new", flag(p.enable_new)),
        ("full", flag(p.full)),
        ("purge", flag(p.purge)),
        ("remove-vanished", p.remove_vanished),
        ("scope", p.scope),
    ];
    let printed: Vec<String> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    Ok(printed.join(","))
}

/// `sync-defaults-options`, already checked by the domains.cfg reader; checked again here.
fn parse_defaults(text: &str) -> Result<SyncParams, SyncError> {
    let bad = |why: String| SyncError::param("sync-defaults-options", why);
    let flag = |key: &str, v: &str| {
        parse_bool(v).map_err(|_| bad(format!("'{key}' is not a boolean: '{v}'")))
    };
    let mut out = SyncParams::default();
    for pair in text.split(',') {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(bad(format!("'{pair}' is not key=value")));
        };
        match key {
            "scope" => out.scope = Some(value.to_owned()),
            "remove-vanished" => out.remove_vanished = Some(value.to_owned()),
            "enable-new" => out.enable_new = Some(flag(key, value)?),
            "full" => out.full = Some(flag(key, value)?),
            "purge" => out.purge = Some(flag(key, value)?),
            _ => return Err(bad(format!("unknown key '{key}'"))),
        }
    }
    Ok(out)
}

// === impl Scope ===

impl Scope {
    /// Whether users are written.
    pub fn users(self) -> bool {
        matches!(self, Scope::Users | Scope::Both)
    }

    /// Whether groups are written.
    pub fn groups(self) -> bool {
        matches!(self, Scope::Groups | Scope::Both)
    }

    /// The option word.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Users => "users",
            Scope::Groups => "groups",
            Scope::Both => "both",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = SyncError;
    fn from_str(s: &str) -> Result<Scope, SyncError> {
        match s {
            "users" => Ok(Scope::Users),
            "groups" => Ok(Scope::Groups),
            "both" => Ok(Scope::Both),
            _ => Err(SyncError::param(
                "scope",
                format!(
                    "value '{s}' does not have a value in the enumeration 'users, groups, both'"
                ),
            )),
        }
    }
}

// === impl RemoveVanished ===

impl std::str::FromStr for RemoveVanished {
    type Err = SyncError;
    /// `none`, or a non-empty `;` list of `acl`, `entry`, `properties` (Proxmox's pattern:
    /// no empty items, repeats allowed).
    fn from_str(s: &str) -> Result<RemoveVanished, SyncError> {
        let mut out = RemoveVanished::default();
        if s == "none" {
            return Ok(out);
        }
        for item in s.split(';') {
            match item {
                "acl" => out.acl = true,
                "entry" => out.entry = true,
                "properties" => out.properties = true,
                _ => {
                    return Err(SyncError::param(
                        "remove-vanished",
                        format!("value '{s}' does not match '([acl];[properties];[entry])|none'"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for RemoveVanished {
    /// `none`, or the set items joined by `;` in the order acl, entry, properties.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<&str> = [
            (self.acl, "acl"),
            (self.entry, "entry"),
            (self.properties, "properties"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(";"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(scope: Option<&str>, rv: Option<&str>, full: Option<bool>) -> SyncParams {
        SyncParams {
            scope: scope.map(str::to_owned),
            remove_vanished: rv.map(str::to_owned),
            full,
            ..SyncParams::default()
        }
    }

    /// (request, sync-defaults-options) → (scope, remove-vanished, enable-new), or the
    /// parameter an error names.
    fn check(p: SyncParams, defaults: Option<&str>, want: Result<(&str, &str, bool), &str>) {
        let got = SyncOptions::resolve(&p, defaults);
        let got = match &got {
            Ok(o) => Ok((
                o.scope.as_str(),
                o.remove_vanished.to_string(),
                o.enable_new,
            )),
            Err(SyncError::Param { param, .. }) => Err(*param),
            Err(e) => panic!("resolve({p:?}, {defaults:?}): unexpected {e}"),
        };
        let want = want.map(|(s, rv, en)| (s, rv.to_owned(), en));
        assert_eq!(got, want, "resolve({p:?}, {defaults:?})");
    }

    #[test]
    fn request_beats_defaults_beats_builtin() {
        check(params(None, None, None), None, Err("scope"));
        check(params(Some("all"), None, None), None, Err("scope"));
        check(
            params(Some("both"), None, None),
            None,
            Ok(("both", "none", true)),
        );
        check(
            params(None, None, None),
            Some("scope=users,enable-new=0,remove-vanished=acl"),
            Ok(("users", "acl", false)),
        );
        check(
            params(Some("groups"), Some("entry;acl"), None),
            Some("scope=users,remove-vanished=none"),
            Ok(("groups", "acl;entry", true)),
        );
        check(
            params(Some("both"), Some("acl;;entry"), None),
            None,
            Err("remove-vanished"),
        );
        check(
            params(Some("both"), Some("none;acl"), None),
            None,
            Err("remove-vanished"),
        );
        check(
            params(Some("both"), Some("properties;properties"), None),
            None,
            Ok(("both", "properties", true)),
        );
        check(params(None, None, None), Some("scope=all"), Err("scope"));
        check(
            params(None, None, None),
            Some("scope"),
            Err("sync-defaults-options"),
        );
    }

    #[test]
    fn sync_defaults_are_mapped_like_proxmox() {
        let check = |text: &str, drop: bool, want: Result<&str, ()>| {
            let got = map_sync_defaults(text, drop).ok();
            assert_eq!(
                got.as_deref(),
                want.ok(),
                "map_sync_defaults({text:?}, {drop})"
            );
        };
        check(
            "scope=users,enable-new=yes",
            true,
            Ok("enable-new=1,scope=users"),
        );
        check(
            "full=1,scope=both",
            true,
            Ok("remove-vanished=entry;properties,scope=both"),
        );
        check(
            "purge=1,full=1",
            true,
            Ok("remove-vanished=entry;properties;acl"),
        );
        check("purge=1", false, Ok("purge=1,remove-vanished=acl"));
        check(
            "full=1,remove-vanished=none",
            true,
            Ok("remove-vanished=none"),
        );
        check("full=0,purge=0", true, Ok(""));
        check("scope=users,bogus=1", true, Err(()));
    }

    #[test]
    fn legacy_full_and_purge_are_accepted_and_ignored() {
        // Proxmox's remove-vanished default `none` is in place before the old flags would be
        // mapped, so they never change anything, from the request or from the defaults.
        check(
            params(Some("both"), None, Some(true)),
            None,
            Ok(("both", "none", true)),
        );
        check(
            params(Some("both"), None, None),
            Some("purge=1"),
            Ok(("both", "none", true)),
        );
        check(
            params(Some("both"), None, Some(true)),
            Some("full=1,purge=1"),
            Ok(("both", "none", true)),
        );
        check(
            params(Some("both"), Some("acl"), Some(true)),
            Some("purge=1"),
            Ok(("both", "acl", true)),
        );
        check(
            params(Some("both"), None, Some(true)),
            Some("remove-vanished=entry"),
            Ok(("both", "entry", true)),
        );
        // Still booleans: a bad value is refused.
        check(
            params(Some("both"), None, None),
            Some("full=maybe"),
            Err("sync-defaults-options"),
        );
    }
}
