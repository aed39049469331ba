//! A state directory as objects (relative key → value) and back: what `store migrate` moves and
//! what a gateway on etcd writes into its local mirror. `user.cfg` is split per entry
//! ([`super::user_keys`]); the line files per line (`priv/token.shadow`, `priv/shadow.cfg`,
//! `logout.cfg`), `token-options.cfg` per section; every other file is one `file/<path>`
//! object. A line or section file is split only if joining its pieces in key order gives the
//! file back byte for byte; otherwise it is kept whole, so nothing is ever lost.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::StoreError;
use super::user_keys;
use crate::config::UserConfig;
use crate::config::atomic::{self, PLAIN_MODE, SECRET_DIR_MODE, SECRET_MODE};
use crate::config::state_dir::read_lines;

/// Relative key (under `<prefix>/v1/`) → value.
pub type Objects = BTreeMap<String, Vec<u8>>;

/// How a file other than `user.cfg` is split.
#[derive(Debug, Clone, Copy)]
enum Split {
    /// One object per line, keyed by the text before the separator.
    Lines(char),
    /// One object per section (`type: id` and its indented lines), keyed by the id.
    Sections,
}

/// Files split into pieces: (path in the state directory, key kind, how).
const SPLIT: [(&str, &str, Split); 4] = [
    ("priv/token.shadow", "token-hash", Split::Lines(' ')),
    ("priv/shadow.cfg", "password-hash", Split::Lines(':')),
    ("logout.cfg", "logout", Split::Lines(' ')),
    ("token-options.cfg", "token-options", Split::Sections),
];

/// Header lines (comments before the first piece) of split files: `head/<path>`.
const HEAD: &str = "head/";
/// Whole files: `file/<path>`.
const FILE: &str = "file/";

/// Read every state file under `dir` into objects. Answers notes for the operator (a
/// `user.cfg` that was not canonical is written back canonically).
pub fn read_dir(dir: &Path) -> Result<(Objects, Vec<String>), StoreError> {
    let mut objects = Objects::new();
    let mut notes = Vec::new();
    let user_path = dir.join("user.cfg");
    if let Some(text) = read_lines(&user_path).map_err(StoreError::state)? {
        let (cfg, warnings) = UserConfig::parse(&text);
        if cfg.write() != text {
            notes.push(format!(
                "user.cfg is not in canonical form ({} line(s) skipped); it is stored as \
                 aclgate writes it",
                warnings.len()
            ));
        }
        user_keys::encode(&cfg, &mut objects);
    }
    for rel in files_under(dir)? {
        if rel == "user.cfg" {
            continue;
        }
        let path = dir.join(&rel);
        let bytes =
            fs::read(&path).map_err(|e| StoreError::Local(format!("{}: {e}", path.display())))?;
        let split = SPLIT.iter().find(|(p, _, _)| *p == rel);
        match split.and_then(|(_, kind, how)| split_file(kind, *how, &bytes)) {
            Some(pieces) => {
                let head = pieces.head;
                if !head.is_empty() {
                    objects.insert(format!("{HEAD}{rel}"), head);
                }
                objects.extend(pieces.records);
            }
            None => {
                objects.insert(format!("{FILE}{rel}"), bytes);
            }
        }
    }
    Ok((objects, notes))
}

/// Write `objects` as files into `dir` (which should be new and empty): `priv/` 0700 with
/// 0600 files, the rest 0640. Refuses keys that would leave the directory. `user.cfg` holds
/// the entries' lines as stored, one per entry (what the lenient reader makes of them is what
/// the canonical file would give; a reader parses it once, nobody has to write it first).
pub fn write_dir(objects: &Objects, dir: &Path) -> Result<(), StoreError> {
    write_files(objects, dir, false)
}

/// As [`write_dir`], with `user.cfg` in canonical form (`store migrate --to files:DIR`).
pub fn write_dir_canonical(objects: &Objects, dir: &Path) -> Result<(), StoreError> {
    write_files(objects, dir, true)
}

fn write_files(objects: &Objects, dir: &Path, canonical: bool) -> Result<(), StoreError> {
    let mut files = render_others(objects);
    if user_keys::present(objects) {
        let text = if canonical {
            user_keys::decode(objects).into_bytes()
        } else {
            user_keys::lines(objects)
        };
        files.insert("user.cfg".to_owned(), text);
    }
    write_rendered(&files, dir)
}

/// The files of `objects` other than `user.cfg`: relative path → contents.
pub fn render_others(objects: &Objects) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (rel, _, _) in SPLIT {
        if let Some(text) = split_pieces(objects, rel) {
            files.insert(rel.to_owned(), text);
        }
    }
    for (key, value) in objects
        .range(FILE.to_owned()..)
        .take_while(|(k, _)| k.starts_with(FILE))
    {
        files.insert(key[FILE.len()..].to_owned(), value.clone());
    }
    files
}

/// Write rendered `files` into `dir` (new and empty), as [`write_dir`] does.
pub fn write_rendered(files: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Result<(), StoreError> {
    atomic::create_dir(dir, 0o755)
        .map_err(|e| StoreError::Local(format!("{}: {e}", dir.display())))?;
    for (rel, contents) in files {
        let path = safe_join(dir, rel)?;
        let secret = rel.starts_with("priv/");
        if let Some(parent) = path.parent() {
            create_parents(dir, parent, secret)?;
        }
        let mode = if secret { SECRET_MODE } else { PLAIN_MODE };
        atomic::write_file(&path, contents, mode)
            .map_err(|e| StoreError::Local(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// The text of the split file `rel` (`priv/token.shadow`, `logout.cfg`, …) held by `objects`,
/// as [`write_dir`] writes it; `None` if it has no objects.
pub fn split_text(objects: &Objects, rel: &str) -> Option<Vec<u8>> {
    match objects.get(&format!("{FILE}{rel}")) {
        Some(whole) => Some(whole.clone()),
        None => split_pieces(objects, rel),
    }
}

/// The head and pieces of the split file `rel`, joined; `None` if there are none.
fn split_pieces(objects: &Objects, rel: &str) -> Option<Vec<u8>> {
    let (_, kind, _) = SPLIT.iter().find(|(p, _, _)| *p == rel)?;
    let start = format!("{kind}/");
    let mut text = objects
        .get(&format!("{HEAD}{rel}"))
        .cloned()
        .unwrap_or_default();
    let mut any = !text.is_empty();
    for (_, v) in objects
        .range(start.clone()..)
        .take_while(|(k, _)| k.starts_with(&start))
    {
        text.extend_from_slice(v);
        any = true;
    }
    any.then_some(text)
}

/// `dir/rel`, if `rel` is a plain relative path (no `..`, no root, nothing empty).
fn safe_join(dir: &Path, rel: &str) -> Result<PathBuf, StoreError> {
    let p = Path::new(rel);
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(StoreError::Invalid(format!(
            "refusing state object for path `{rel}`"
        )));
    }
    Ok(dir.join(p))
}

fn create_parents(root: &Path, parent: &Path, secret: bool) -> Result<(), StoreError> {
    let mut at = root.to_path_buf();
    let rel = parent.strip_prefix(root).unwrap_or(parent);
    for c in rel.components() {
        at.push(c);
        let mode = if secret { SECRET_DIR_MODE } else { 0o755 };
        atomic::create_dir(&at, mode)
            .map_err(|e| StoreError::Local(format!("{}: {e}", at.display())))?;
    }
    Ok(())
}

/// Relative paths of the state files under `dir`: not the writers' lock, not temp files or
/// other dot files, not the `tasks/` logs (they stay with the gateway that ran them).
fn files_under(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let entries = match fs::read_dir(dir.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.as_os_str().is_empty() => {
                return Ok(out);
            }
            Err(e) => {
                return Err(StoreError::Local(format!(
                    "{}: {e}",
                    dir.join(&rel).display()
                )));
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (rel.as_os_str().is_empty() && name == "tasks") {
                continue;
            }
            let child = rel.join(&name);
            let kind = entry
                .file_type()
                .map_err(|e| StoreError::Local(e.to_string()))?;
            if kind.is_dir() {
                todo.push(child);
            } else if kind.is_file() {
                out.push(child.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

struct Pieces {
    head: Vec<u8>,
    records: Vec<(String, Vec<u8>)>,
}

/// Split a line or section file, or `None` if its pieces would not join back to it (not UTF-8,
/// ids out of order or repeated, a comment between records, a torn last line).
fn split_file(kind: &str, how: Split, bytes: &[u8]) -> Option<Pieces> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !text.is_empty() && !text.ends_with('\n') {
        return None;
    }
    let mut head = String::new();
    let mut records: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let comment = line.trim().is_empty() || line.starts_with('#');
        let id = match how {
            Split::Lines(sep) if !comment => line.trim_end().split(sep).next(),
            Split::Sections if !comment && !line.starts_with([' ', '\t']) => {
                line.split_once(':').map(|(_, id)| id.trim())
            }
            _ => None,
        };
        match (id, records.last_mut()) {
            (Some(id), _) if !id.is_empty() && !id.contains('/') => {
                records.push((format!("{kind}/{id}"), line.to_owned()));
            }
            (Some(_), _) => return None,
            (None, None) if comment => head.push_str(line),
            // Section bodies belong to their section; comments between records do not fit.
            (None, Some(last)) if matches!(how, Split::Sections) => last.1.push_str(line),
            _ => return None,
        }
    }
    let ordered = records.windows(2).all(|w| w[0].0 < w[1].0);
    ordered.then(|| Pieces {
        head: head.into_bytes(),
        records: records
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_files_join_back_or_stay_whole() {
        let shadow = "a@pve!t sha256$x$y\nb@pve!t sha256$x$y\n";
        let p = split_file("token-hash", Split::Lines(' '), shadow.as_bytes()).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].0, "token-hash/a@pve!t");
        // Out of order: kept whole.
        assert!(split_file("t", Split::Lines(' '), b"b x\na x\n").is_none());
        // Torn: kept whole (and refused by the reader later, as a file).
        assert!(split_file("t", Split::Lines(' '), b"a x").is_none());
        let options =
            "token: a@pve!t\n\tallowed-ips 10.0.0.0/8\n\ntoken: b@pve!u\n\trate-limit 5\n\n";
        let p = split_file("token-options", Split::Sections, options.as_bytes()).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[1].1, b"token: b@pve!u\n\trate-limit 5\n\n");
        let logout = "# header\nann@pve 5\njoe@pve 7\n";
        let p = split_file("logout", Split::Lines(' '), logout.as_bytes()).unwrap();
        assert_eq!(p.head, b"# header\n");
    }

    #[test]
    fn a_directory_round_trips_and_bad_paths_are_refused() {
        let src = tempfile::tempdir().unwrap();
        let root = src.path();
        fs::create_dir_all(root.join("priv/realm")).unwrap();
        fs::write(root.join("user.cfg"), "user:root@pam:1:0::::::\n\n\n\n\n").unwrap();
        fs::write(root.join("priv/token.shadow"), "root@pam!t sha256$a$b\n").unwrap();
        fs::write(root.join("priv/realm/ad.pw"), "secret\n").unwrap();
        fs::write(root.join("domains.cfg"), "pve: pve\n\tcomment x\n\n").unwrap();
        fs::write(root.join(".lock"), "").unwrap();
        fs::create_dir_all(root.join("tasks")).unwrap();
        fs::write(root.join("tasks/log"), "x").unwrap();
        let (objects, notes) = read_dir(root).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert!(objects.contains_key("file/priv/realm/ad.pw"));
        assert!(
            !objects
                .keys()
                .any(|k| k.contains("lock") || k.contains("tasks"))
        );
        let dst = tempfile::tempdir().unwrap();
        let out = dst.path().join("state");
        write_dir_canonical(&objects, &out).unwrap();
        for f in [
            "user.cfg",
            "priv/token.shadow",
            "priv/realm/ad.pw",
            "domains.cfg",
        ] {
            assert_eq!(
                fs::read(root.join(f)).unwrap(),
                fs::read(out.join(f)).unwrap(),
                "{f}"
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(out.join("priv/token.shadow"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut bad = Objects::new();
        bad.insert("file/../escape".to_owned(), b"x".to_vec());
        assert!(write_dir(&bad, &dst.path().join("bad")).is_err());
    }
}
