//! `aclgate oathkeygen` and `aclgate user tfa list|delete|unlock` through the real binary,
//! including user.cfg `keys` kept in step.

mod cli_support;

use aclgate::auth::tfa::{TfaStore, manage};
use aclgate::config::StateDir;
use aclgate::identity::Userid;
use cli_support::State;

#[test]
fn oathkeygen_prints_sixteen_base32_chars() {
    let state = State::new();
    let a = state.ok(&["oathkeygen"]);
    let b = state.ok(&["oathkeygen"]);
    for out in [&a, &b] {
        assert!(out.ends_with('\n'), "{out:?}");
        let key = out.trim_end();
        assert_eq!(key.len(), 16, "{out:?}");
        assert!(
            key.bytes().all(|c| matches!(c, b'A'..=b'Z' | b'2'..=b'7')),
            "{out:?}"
        );
    }
    assert_ne!(a, b);
}

/// alice@pve with recovery keys and a yubico key, keys = x.
fn setup(state: &State) -> (String, String) {
    state.ok(&["user", "add", "alice@pve"]);
    let dir = StateDir::new(state.root());
    let alice: Userid = "alice@pve".parse().unwrap();
    let yid = TfaStore::modify(&dir, |s| {
        manage::add_recovery(s, &alice, 1_700_000_000)?;
        let id = manage::add_yubico(s, &alice, "desk key", &"c".repeat(32), None, 1_700_000_000)?;
        s.users.get_mut(&alice).unwrap().totp_locked = true;
        Ok(id)
    })
    .unwrap();
    state.ok(&["user", "modify", "alice@pve", "--keys", "x"]);
    (yid, "recovery".into())
}

#[test]
fn list_prints_like_pveum() {
    let state = State::new();
    let (yid, _) = setup(&state);
    let one = state.ok(&["user", "tfa", "list", "alice@pve"]);
    assert_eq!(
        one,
        format!("recovery: recovery\n    recovery keys\n\nyubico:   {yid}\n    desk key\n")
    );
    let all = state.ok(&["user", "tfa", "list"]);
    assert_eq!(
        all,
        format!(
            "alice@pve:\n    recovery: recovery\n        recovery keys\n\n    yubico:   {yid}\n        desk key\n"
        )
    );
}

#[test]
fn delete_one_then_the_rest_clears_keys() {
    let state = State::new();
    let (yid, _) = setup(&state);
    state.ok(&["user", "tfa", "delete", "alice@pve", "--id", &yid]);
    let keys = |s: &State| s.json(&["user", "list"]);
    let listed = keys(&state);
    let alice = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userid"] == "alice@pve")
        .unwrap()
        .clone();
    assert_eq!(alice["keys"], "x", "recovery keys remain: {alice}");
    assert!(
        state
            .fails(&["user", "tfa", "delete", "alice@pve", "--id", "nope"])
            .contains("no such tfa entry")
    );
    state.ok(&["user", "tfa", "delete", "alice@pve"]);
    assert_eq!(state.ok(&["user", "tfa", "list", "alice@pve"]), "");
    let listed = keys(&state);
    let alice = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userid"] == "alice@pve")
        .unwrap()
        .clone();
    assert!(alice.get("keys").is_none(), "keys cleared: {alice}");
}

#[test]
fn unlock_clears_locks() {
    let state = State::new();
    setup(&state);
    let alice: Userid = "alice@pve".parse().unwrap();
    let dir = StateDir::new(state.root());
    assert!(TfaStore::load(&dir).unwrap().users[&alice].totp_locked);
    assert_eq!(state.ok(&["user", "tfa", "unlock", "alice@pve"]), "");
    assert!(!TfaStore::load(&dir).unwrap().users[&alice].totp_locked);
    assert!(
        state
            .fails(&["user", "tfa", "unlock", "nobody@pve"])
            .contains("does not exist")
    );
}

#[test]
fn deleting_the_user_removes_its_second_factors() {
    let state = State::new();
    setup(&state);
    state.ok(&["user", "add", "bob@pve"]);
    let dir = StateDir::new(state.root());
    let bob: Userid = "bob@pve".parse().unwrap();
    TfaStore::modify(&dir, |s| {
        manage::add_recovery(s, &bob, 1_700_000_000).map(|_| ())
    })
    .unwrap();

    state.ok(&["user", "delete", "alice@pve"]);
    let store = TfaStore::load(&dir).unwrap();
    let alice: Userid = "alice@pve".parse().unwrap();
    assert!(store.user(&alice).is_none(), "alice's entries remain");
    assert!(store.user(&bob).is_some(), "bob's entries must stay");
}
