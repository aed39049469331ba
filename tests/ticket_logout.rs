//! Logout (beyond Proxmox): the logout list's format and boundary, and `aclgate user logout`
//! driven through the real binary.

mod cli_support;

use aclgate::auth::logout::{LogoutError, LogoutList};
use aclgate::auth::ticket::epoch_now;
use aclgate::config::StateDir;
use aclgate::identity::Userid;
use cli_support::State;

const E: i64 = 1_700_000_000;

fn user(text: &str) -> Userid {
    text.parse().unwrap()
}

#[test]
fn tickets_stamped_up_to_the_logout_second_are_revoked() {
    let list = LogoutList::parse("joe@pve 1700000000\n").unwrap();
    #[rustfmt::skip]
    let cases = [
        ("joe@pve", E - 7000, true),
        ("joe@pve", E - 1,    true),
        ("joe@pve", E,        true),
        ("joe@pve", E + 1,    false),
        ("eve@pve", E - 1,    false),
        ("joe@pam", E - 1,    false),
    ];
    for (userid, issued_at, revoked) in cases {
        assert_eq!(
            list.is_revoked(&user(userid), issued_at),
            revoked,
            "{userid} stamped E{:+}",
            issued_at - E
        );
    }
}

#[test]
fn parse_write_round_trip_and_errors() {
    let text = "# comment\n\nzed@pve 5\njoe@pve 1700000000\njoe@pve 1699999999\n";
    let list = LogoutList::parse(text).unwrap();
    assert_eq!(
        list.logged_out_at(&user("joe@pve")),
        Some(E),
        "the later time wins"
    );
    let written = list.write();
    assert!(
        written.ends_with("joe@pve 1700000000\nzed@pve 5\n"),
        "{written}"
    );
    assert_eq!(LogoutList::parse(&written).unwrap(), list);
    for (bad, line) in [
        ("joe@pve\n", 1),
        ("ok@pve 1\nnot-a-user 5\n", 2),
        ("joe@pve soon\n", 1),
        ("joe@pve 1 2\n", 1),
    ] {
        match LogoutList::parse(bad) {
            Err(LogoutError::Parse { line: got, .. }) => assert_eq!(got, line, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn entries_no_ticket_can_outlive_are_pruned() {
    let mut list = LogoutList::default();
    list.record(user("old@pve"), E - 7500);
    list.record(user("recent@pve"), E - 7499);
    list.prune(E);
    assert_eq!(list.logged_out_at(&user("old@pve")), None);
    assert_eq!(list.logged_out_at(&user("recent@pve")), Some(E - 7499));
}

#[test]
fn user_logout_command_writes_the_list_for_every_instance() {
    let state = State::new();
    state.ok(&["useradd", "joe@pve"]);
    state.ok(&["useradd", "eve@pve"]);
    let before = epoch_now();
    state.ok(&["user", "logout", "joe@pve"]);
    let after = epoch_now();

    let list = LogoutList::read(&StateDir::new(state.root())).unwrap();
    let at = list.logged_out_at(&user("joe@pve")).expect("joe is listed");
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
    assert!(list.is_revoked(&user("joe@pve"), before));
    assert!(!list.is_revoked(&user("joe@pve"), after + 1));
    assert!(!list.is_revoked(&user("eve@pve"), before));
    assert!(
        state
            .read("logout.cfg")
            .contains(&format!("joe@pve {at}\n"))
    );

    // A second user is added, the first kept.
    state.ok(&["user", "logout", "eve@pve"]);
    let list = LogoutList::read(&StateDir::new(state.root())).unwrap();
    assert_eq!(list.len(), 2);
}

#[test]
fn user_logout_refuses_unknown_and_invalid_users_and_changes_nothing() {
    let state = State::new();
    state.ok(&["useradd", "joe@pve"]);
    let msg = state.fails(&["user", "logout", "nobody@pve"]);
    assert!(msg.contains("'nobody@pve' does not exist"), "{msg}");
    state.fails(&["user", "logout", "no-realm"]);
    assert_eq!(state.read("logout.cfg"), "");
}

#[test]
fn a_damaged_logout_list_is_not_overwritten() {
    let state = State::new();
    state.ok(&["useradd", "joe@pve"]);
    std::fs::write(state.root().join("logout.cfg"), "garbage\n").unwrap();
    let msg = state.fails(&["user", "logout", "joe@pve"]);
    assert!(msg.contains("logout.cfg line 1"), "{msg}");
}
