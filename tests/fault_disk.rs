//! A full disk during a CLI write (issue 11 item 3): the old files stay intact, no temp file is
//! left behind, and the error says what failed. Needs root (it mounts a small tmpfs for the
//! test and unmounts it after); without root it says so and checks nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs mounted on a temp dir, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn run(root: &Path, args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(root)
        .args(args.split(' '))
        .output()
        .unwrap()
}

/// Fill the file system of `dir` with `filler` until it is full.
fn fill(filler: &Path) {
    let mut f = fs::File::create(filler).unwrap();
    let page = [0u8; 4096];
    while f.write_all(&page).and_then(|()| f.sync_all()).is_ok() {}
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for rel in ["user.cfg", "priv/token.shadow", "token-options.cfg"] {
        if let Ok(bytes) = fs::read(root.join(rel)) {
            out.push((rel.to_owned(), bytes));
        }
    }
    out
}

fn temp_files(root: &Path) -> Vec<String> {
    [root.to_owned(), root.join("priv")]
        .iter()
        .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

#[test]
fn full_disk_keeps_the_old_files_and_says_why() {
    let Some(fs_) = Tmpfs::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let root = fs_.path().join("state");
    // Enough users that user.cfg spans several pages.
    let mut users = String::from("user:root@pam:1:0:::::\nuser:joe@pve:1:0:::::\n");
    for i in 0..400 {
        users.push_str(&format!("user:user-number-{i:04}@pve:1:0::::padding:\n"));
    }
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("user.cfg"), users).unwrap();
    assert!(run(&root, "user token add joe@pve t1").status.success());
    let before = snapshot(&root);
    assert!(before[0].1.len() > 3 * 4096, "user.cfg spans pages");

    // Completely full: the first write fails, nothing changes.
    let filler = fs_.path().join("filler");
    fill(&filler);
    let out = run(&root, "user token add joe@pve t2");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left on device") && err.contains("cannot write"),
        "clear error: {err}"
    );
    assert_eq!(snapshot(&root), before, "old files intact");
    assert!(temp_files(&root).is_empty(), "{:?}", temp_files(&root));
    aclgate::snapshot::State::load(&root).expect("the old state loads");

    // Room for the small token.shadow but not for user.cfg: the secret is written, the
    // token is not listed (a secret without its token authenticates nobody).
    let keep = fs::metadata(&filler).unwrap().len() - 4096;
    fs::File::options()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(keep)
        .unwrap();
    let out = run(&root, "user token add joe@pve t2");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user.cfg") && err.contains("No space left"),
        "{err}"
    );
    assert_eq!(snapshot(&root)[0], before[0], "user.cfg intact");
    assert!(temp_files(&root).is_empty(), "{:?}", temp_files(&root));
    let state = aclgate::snapshot::State::load(&root).expect("the state loads");
    assert!(state.warnings.is_empty(), "{:?}", state.warnings);
    let text = fs::read_to_string(root.join("user.cfg")).unwrap();
    assert!(!text.contains("joe@pve!t2"));

    // With room again, the same command succeeds.
    fs::remove_file(&filler).unwrap();
    assert!(run(&root, "user token add joe@pve t2").status.success());
    assert!(
        fs::read_to_string(root.join("user.cfg"))
            .unwrap()
            .contains("joe@pve!t2")
    );
}
