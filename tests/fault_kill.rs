//! `kill -9` of CLI writes at random points (issue 11 item 3): the state left behind is always
//! whole and is the previous state, the new one, or one of the documented harmless
//! intermediates of a multi-file change (docs/faults.md):
//! - each file is replaced by rename, so each file is the old or the new version, never torn;
//! - a change writes token options first, then `priv/token.shadow`, then `user.cfg`, so a
//!   crash between them leaves a restriction without its token, a secret without its token,
//!   or (on removal) a token without its secret: none authenticates more than before or after,
//!   and no token that the new state has is left without its secret ("lost").
//!
//! Bounded: at most `ITERATIONS` kills or `BUDGET`, whichever comes first (CI has 2 cores).
//! A longer run: `ACLGATE_FAULT_SECS=120 cargo test --test suite fault_kill:: -- --nocapture`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use aclgate::config::{StateDir, TokenShadow, UserConfig};
use aclgate::identity::Tokenid;

const ITERATIONS: usize = 400;
const BUDGET: Duration = Duration::from_secs(12);

/// What a state decides about authentication, and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    user_cfg: String,
    options: String,
    /// Tokens listed in user.cfg that have a secret (they can authenticate).
    usable: BTreeSet<String>,
    /// Tokens listed in user.cfg without a secret (they authenticate nobody).
    secretless: BTreeSet<String>,
}

fn observe(root: &Path) -> Observed {
    // The whole state must load, without skipped lines: nothing torn, nothing half-written.
    let state = aclgate::snapshot::State::load(root)
        .unwrap_or_else(|e| panic!("state after a kill does not load: {e}"));
    // The one warning a crash may leave: options written before their token (harmless: a
    // restriction of nothing; the next write drops them if the token never came).
    let unexpected: Vec<&String> = state
        .warnings
        .iter()
        .filter(|w| !w.contains("options of unknown token"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let read = |name: &str| fs::read_to_string(root.join(name)).unwrap_or_default();
    let (cfg, _) = UserConfig::parse(&read("user.cfg"));
    let (shadow, _) = TokenShadow::parse(&read("priv/token.shadow"));
    let mut usable = BTreeSet::new();
    let mut secretless = BTreeSet::new();
    for (userid, user) in &cfg.users {
        for name in user.tokens.keys() {
            let id = Tokenid::new(userid, name);
            if shadow.contains(&id) {
                usable.insert(id.to_string());
            } else {
                secretless.insert(id.to_string());
            }
        }
    }
    Observed {
        user_cfg: read("user.cfg"),
        options: read("token-options.cfg"),
        usable,
        secretless,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn command(root: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aclgate"));
    cmd.arg("--state-dir")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// The `k`-th change of a cycle that creates, restricts, grants, rotates and removes tokens
/// and users (most of them write two or three files).
fn change(k: usize) -> Vec<String> {
    let n = k / 7;
    let args = match k % 7 {
        0 => format!("user add u{n}@pve"),
        1 => format!("user token add u{n}@pve tk --allowed-ips 10.0.0.0/8"),
        2 => format!("user token add joe@pve t{n} --privsep 1"),
        3 => format!("acl modify /vms/{n} --roles PVEAuditor --tokens joe@pve!t{n}"),
        4 => format!("user token modify joe@pve t{n} --regenerate"),
        5 => format!("user token remove joe@pve t{n}"),
        _ => format!("user delete u{n}@pve"),
    };
    args.split(' ').map(str::to_owned).collect()
}

/// Whether `crashed` is `old`, `new`, or a harmless mix of the two (see the file header).
fn acceptable(old: &Observed, new: &Observed, crashed: &Observed) -> Result<&'static str, String> {
    if crashed == old {
        return Ok("old");
    }
    if crashed == new {
        return Ok("new");
    }
    for (what, got, a, b) in [
        ("user.cfg", &crashed.user_cfg, &old.user_cfg, &new.user_cfg),
        (
            "token-options.cfg",
            &crashed.options,
            &old.options,
            &new.options,
        ),
    ] {
        if got != a && got != b {
            return Err(format!("{what} is neither the old nor the new file"));
        }
    }
    let could: BTreeSet<&String> = old.usable.union(&new.usable).collect();
    if let Some(t) = crashed.usable.iter().find(|t| !could.contains(t)) {
        return Err(format!(
            "`{t}` authenticates, in neither the old nor the new state"
        ));
    }
    if let Some(t) = crashed.secretless.iter().find(|t| new.usable.contains(*t)) {
        return Err(format!("`{t}` lost its secret (the new state has it)"));
    }
    Ok("intermediate")
}

#[test]
fn kill_9_during_cli_writes_leaves_old_new_or_harmless_state() {
    let budget = std::env::var("ACLGATE_FAULT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(BUDGET, Duration::from_secs);
    let iterations = if budget > BUDGET {
        usize::MAX
    } else {
        ITERATIONS
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let joe = ["user".to_owned(), "add".to_owned(), "joe@pve".to_owned()];
    let ok = command(&root, &joe).status().unwrap();
    assert!(ok.success());

    let mut rng = rand::rng();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    let started = Instant::now();
    for k in 0..iterations {
        if started.elapsed() > budget {
            break;
        }
        let args = change(k);
        let old = observe(&root);
        // The new state: the same change run to its end on a copy.
        let scratch = dir.path().join("scratch");
        let _ = fs::remove_dir_all(&scratch);
        copy_dir(&root, &scratch);
        let t0 = Instant::now();
        let done = command(&scratch, &args).status().unwrap();
        let took = t0.elapsed();
        let new = observe(&scratch);

        // Kill somewhere in that run (mostly in its second half, where the writes are).
        let at = took.mul_f64(rng.random_range(0.4..1.1));
        let mut child = command(&root, &args).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        let crashed = observe(&root);
        match acceptable(&old, &new, &crashed) {
            Ok(kind) => *seen.entry(kind).or_default() += 1,
            Err(e) => panic!(
                "after `{}` killed at {at:?} of {took:?}: {e}\nold {old:#?}\nnew {new:#?}\ngot {crashed:#?}",
                args.join(" ")
            ),
        }
        // The next change follows either way (one that now fails, e.g. removing what a killed
        // add never created, leaves the state as it is: `new` is then `old`).
        let _ = done;
        // Only state files, the lock and leftover temp files: nothing else appears.
        for entry in fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                ["user.cfg", "token-options.cfg", "priv", ".lock"].contains(&name.as_str())
                    || name.starts_with(".tmp-")
                    || name == "domains.cfg",
                "unexpected `{name}`"
            );
        }
    }
    eprintln!("kill -9 outcomes: {seen:?} in {:?}", started.elapsed());
    assert!(
        seen.get("old").copied().unwrap_or(0) > 0,
        "some kills before the write: {seen:?}"
    );
    assert!(
        seen.get("new").copied().unwrap_or(0) > 0,
        "some kills after it: {seen:?}"
    );
    // The next write cleans up: the state loads and the writers' lock is free.
    StateDir::new(&root).modify(|_, _| Ok(())).unwrap();
}
