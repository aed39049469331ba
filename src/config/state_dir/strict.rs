//! The `strict` setting (`[state] strict = true` in aclgate.toml): refuse a state whose
//! `user.cfg` had `acl` lines skipped or partly dropped by the lenient reader.
//!
//! Proxmox skips an ACL line it cannot read and goes on; so do we by default, so that real
//! Proxmox files load unchanged. But a skipped line can only ever *widen* access when it was a
//! restriction: an `acl` line with the `NoAccess` role (or a token ACL that narrows a privsep
//! token) that is skipped lets the broader inherited grant through. With `strict` such a state
//! is refused whole: a reload keeps the last good snapshot, and the gateway does not start.
//!
//! The line's kind is taken from the file text (its first `:`-separated field, as Proxmox
//! splits it), not from the parser's message, so the rule does not depend on the parser.

use std::path::Path;

use super::StateError;
use crate::config::text::is_perl_space;
use crate::config::user_cfg::Warning;

/// The warnings of `text` (a `user.cfg`) that are on `acl` lines.
pub fn acl_warnings(text: &str, warnings: &[Warning]) -> Vec<Warning> {
    let lines: Vec<&str> = text.split('\n').collect();
    warnings
        .iter()
        .filter(|w| {
            w.line
                .checked_sub(1)
                .and_then(|i| lines.get(i))
                .and_then(|l| l.split(':').next())
                .is_some_and(|kind| kind.trim_matches(is_perl_space) == "acl")
        })
        .cloned()
        .collect()
}

/// Refuse the state if `skipped` (from [`acl_warnings`]) is not empty; names the first line.
pub fn refuse_skipped_acl(path: &Path, skipped: &[Warning]) -> Result<(), StateError> {
    match skipped.first() {
        None => Ok(()),
        Some(w) => Err(StateError::Invalid {
            path: path.to_owned(),
            line: w.line,
            message: format!(
                "`acl` line not applied ({}) and `state.strict` is on: refusing the state \
                 ({} such line(s))",
                w.message,
                skipped.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

    fn check(text: &str, want_lines: &[usize]) {
        let (_, warnings) = UserConfig::parse(text);
        let got: Vec<usize> = acl_warnings(text, &warnings)
            .iter()
            .map(|w| w.line)
            .collect();
        assert_eq!(got, want_lines, "text {text:?} warnings {warnings:?}");
    }

    #[test]
    fn only_acl_lines_count() {
        let users = "user:root@pam:1:0:::::\nuser:joe@pve:1:0:::::\n";
        check(users, &[]);
        // An unknown role on an acl line: skipped.
        check(&format!("{users}acl:1:/vms:joe@pve:NoSuchRole:\n"), &[3]);
        // An ACL for a user that is not defined: skipped.
        check(&format!("{users}acl:1:/vms:ann@pve:NoAccess:\n"), &[3]);
        // A bad user line is a warning, but not an acl one.
        check(&format!("{users}user:bad user:1:0:::::\n"), &[]);
        // Whitespace around the kind, as Proxmox trims fields.
        check(&format!("{users} acl :1:/vms:ann@pve:NoAccess:\n"), &[3]);
    }

    #[test]
    fn refusal_names_the_line() {
        let text = "user:root@pam:1:0:::::\nacl:1:/vms:ann@pve:NoAccess:\n";
        let (_, warnings) = UserConfig::parse(text);
        let skipped = acl_warnings(text, &warnings);
        let err = refuse_skipped_acl(Path::new("user.cfg"), &skipped).unwrap_err();
        assert!(err.to_string().contains("`user.cfg`:2:"), "{err}");
        refuse_skipped_acl(Path::new("user.cfg"), &[]).unwrap();
    }
}
