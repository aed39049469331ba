//! Crash-safe file writes and the state-directory lock.
//!
//! Every state file is replaced whole: write a temp file next to it, fsync, rename over the old
//! one, fsync the directory. Readers therefore see the old or the new file, never a torn one,
//! and need no lock. Writers serialise on an exclusive lock on `<root>/.lock`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// File mode for files holding secrets (everything under `priv/`).
pub const SECRET_MODE: u32 = 0o600;
/// File mode for the other state files (`user.cfg` may hold legacy TFA key data).
pub const PLAIN_MODE: u32 = 0o640;
/// Directory mode for `priv/`.
pub const SECRET_DIR_MODE: u32 = 0o700;

/// Replace `path` with `contents` atomically, leaving the file with `mode`.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    // The temp file is created 0600 and only then widened, so a secret is never readable by
    // others, not even for a moment.
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Remove `path` if it exists, and fsync its directory.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => path.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create `dir` (and parents) if missing; a newly created leaf gets `mode`.
pub fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

/// An exclusive lock on a lock file, released when dropped.
#[derive(Debug)]
pub struct Lock {
    /// The open lock file; closing it releases the lock.
    file: File,
}

// === impl Lock ===

impl Lock {
    /// Block until the exclusive lock on `path` is held (the file is created if missing).
    pub fn acquire(path: &Path) -> io::Result<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first is just explicit.
        let _ = self.file.unlock();
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn write_replaces_the_file_with_the_given_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_file(&path, b"one", SECRET_MODE).unwrap();
        write_file(&path, b"two", SECRET_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        write_file(&path, b"three", PLAIN_MODE).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        // No temp files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_of_a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove_file(&dir.path().join("missing")).unwrap();
    }
}
