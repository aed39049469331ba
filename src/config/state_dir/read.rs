//! Reading state files whole, and refusing a torn one.
//!
//! Every line-oriented state file (`user.cfg`, `domains.cfg`, `token-options.cfg`,
//! `logout.cfg`, `priv/token.shadow`, `priv/shadow.cfg`, `datacenter.cfg`) is written with a
//! final newline, by aclgate and by Proxmox (`PVE::AccessControl::write_user_config` and
//! `PVE::SectionConfig::write_config` end every line with `\n`). A non-empty file whose last
//! byte is not `\n` was therefore cut short: by a copy or restore that stopped half-way, by a
//! full disk under a writer that does not rename, or by an editor. Its last line is partial,
//! and reading it leniently can *widen* access: a `user.cfg` cut inside an `acl` line with the
//! `NoAccess` role loses that line. Such a file is refused whole ([`StateError::Torn`]); a
//! reload then keeps the last good snapshot, and a CLI write refuses to touch the state. An
//! empty file is fine (nothing was cut).
//!
//! The check sits here, at the file level, before any parser sees the text, so it holds for
//! every reader whatever the parser does.

use std::fs;
use std::io;
use std::path::Path;

use super::StateError;

/// Read a file as UTF-8; `None` if it does not exist. No torn-file check: for files that are
/// not line-oriented (JSON, PEM, the first line of a password file).
pub fn read_optional(path: &Path) -> Result<Option<String>, StateError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Read a line-oriented state file; `None` if it does not exist, [`StateError::Torn`] if its
/// last line has no final newline.
pub fn read_lines(path: &Path) -> Result<Option<String>, StateError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    check_whole(path, &text)?;
    Ok(Some(text))
}

/// Refuse `text` (the contents of `path`) if it is torn: not empty and not ending in `\n`.
pub fn check_whole(path: &Path, text: &str) -> Result<(), StateError> {
    if text.is_empty() || text.ends_with('\n') {
        return Ok(());
    }
    // The partial line is not quoted: in a `priv/` file it may hold a secret or a hash.
    let line = text.split('\n').count();
    Err(StateError::Torn {
        path: path.to_owned(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, torn_at: Option<usize>) {
        let got = match check_whole(Path::new("user.cfg"), text) {
            Ok(()) => None,
            Err(StateError::Torn { line, .. }) => Some(line),
            Err(e) => panic!("unexpected error for {text:?}: {e}"),
        };
        assert_eq!(got, torn_at, "text {text:?}");
    }

    #[test]
    fn torn_table() {
        check("", None);
        check("\n", None);
        check("user:root@pam:1:0:::::\n", None);
        check("user:root@pam:1:0:::::\nacl:1:/:joe@pve:NoAccess:\n", None);
        // Cut inside the last line, or before its newline.
        check("user:root@pam:1:0:::::\nacl:1:/:joe@pve:NoAc", Some(2));
        check("user:root@pam:1:0:::::\nacl:1:/:joe@pve:NoAccess:", Some(2));
        check("user:root@pam:1:0:::::", Some(1));
        // A trailing carriage return is not a newline.
        check("user:root@pam:1:0:::::\r", Some(1));
    }

    #[test]
    fn missing_file_is_none_and_torn_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user.cfg");
        assert!(read_lines(&path).unwrap().is_none());
        fs::write(&path, "user:root@pam:1:0:::::\nacl:1:/:joe@pve:NoAc").unwrap();
        let err = read_lines(&path).unwrap_err();
        assert!(err.to_string().contains("torn"), "{err}");
        assert!(
            !err.to_string().contains("NoAc"),
            "the partial line is not quoted: {err}"
        );
        fs::write(&path, "").unwrap();
        assert_eq!(read_lines(&path).unwrap().as_deref(), Some(""));
    }
}
