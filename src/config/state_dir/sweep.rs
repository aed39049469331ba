//! Removing temp files left behind by a writer that died (`kill -9`, power loss) between
//! creating its `.tmp-*` file and renaming it over the real one.
//!
//! Such a file is garbage: readers never look at dot-files, and the real file is still the
//! previous whole version. It is removed by the next writer, under the writers' lock, once it
//! is older than [`STALE_AFTER`] (a writer that holds the lock finishes its temp file within
//! that time; the age rule also spares a temp file of a writer that does not take the lock).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A temp file this old is no longer being written.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Prefix of the temp files of [`crate::config::atomic::write_file`].
const TEMP_PREFIX: &str = ".tmp-";

/// Remove stale temp files from `dirs` (missing directories are fine); returns how many went.
/// Errors are ignored: a leftover temp file is harmless, and the next writer tries again.
pub fn sweep_temp_files(dirs: &[&Path], now: SystemTime) -> usize {
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let stale = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && entry
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file())
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age >= STALE_AFTER);
            if stale && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_temp_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".tmp-old");
        let young = dir.path().join(".tmp-young");
        let real = dir.path().join("user.cfg");
        for p in [&old, &young, &real] {
            fs::write(p, "x\n").unwrap();
        }
        let past = SystemTime::now() - STALE_AFTER - Duration::from_secs(5);
        for p in [&old, &real] {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        let missing = dir.path().join("missing");
        assert_eq!(
            sweep_temp_files(&[dir.path(), &missing], SystemTime::now()),
            1
        );
        assert!(!old.exists());
        assert!(young.exists(), "a temp file being written stays");
        assert!(real.exists(), "state files are never touched");
    }
}
