//! Tests of the parent module.

use super::*;
use crate::config::token_options::TokenOption;
use crate::config::user_cfg::{Token, User};
use crate::identity::{TokenName, Tokenid, Userid};

fn restricted() -> TokenOption {
    TokenOption {
        allowed_ips: Some("10.0.0.0/8".parse().unwrap()),
        rate_limit: None,
    }
}

/// A state with users a@pve and b@pve, each with token `tk` restricted to 10.0.0.0/8.
fn setup() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state"));
    state
        .modify_with_options(|cfg, _, options| {
            for user in ["a@pve", "b@pve"] {
                let userid: Userid = user.parse().unwrap();
                let name: TokenName = "tk".parse().unwrap();
                let mut u = User::new();
                let token = Token {
                    expire: 0,
                    privsep: true,
                    comment: String::new(),
                };
                u.tokens.insert(name.clone(), token);
                cfg.users.insert(userid.clone(), u);
                options.set(&Tokenid::new(&userid, &name), restricted());
            }
            Ok(())
        })
        .unwrap();
    (dir, state)
}

fn options_text(state: &StateDir) -> String {
    fs::read_to_string(state.token_options_path()).unwrap_or_default()
}

#[test]
fn every_way_of_removing_a_user_drops_its_token_options() {
    type Removal = fn(&StateDir);
    let cases: [(&str, Removal); 3] = [
        ("modify", |s| {
            s.modify(|cfg, _| {
                cfg.users.remove(&"a@pve".parse().unwrap());
                Ok(())
            })
            .unwrap()
        }),
        ("modify_with_options", |s| {
            s.modify_with_options(|cfg, _, _| {
                cfg.users.remove(&"a@pve".parse().unwrap());
                Ok(())
            })
            .unwrap()
        }),
        ("modify_realms", |s| {
            s.modify_realms(|edit| {
                edit.users.users.remove(&"a@pve".parse().unwrap());
                Ok(())
            })
            .unwrap()
        }),
    ];
    for (name, remove) in cases {
        let (_dir, state) = setup();
        assert!(options_text(&state).contains("a@pve!tk"), "case `{name}`");
        remove(&state);
        assert_eq!(
            options_text(&state),
            "token: b@pve!tk\n\tallowed-ips 10.0.0.0/8\n\n",
            "case `{name}`"
        );
    }
}

#[test]
fn a_broken_options_file_blocks_option_edits_only() {
    let (_dir, state) = setup();
    let broken = "token: a@pve!tk\n\tallowed-ips 10.0.0.1/8\n";
    fs::write(state.token_options_path(), broken).unwrap();
    let err = state.modify_with_options(|_, _, _| Ok(())).unwrap_err();
    assert!(matches!(&err, StateError::Invalid { line: 2, .. }), "{err}");
    state
        .modify(|cfg, _| {
            cfg.users.remove(&"a@pve".parse().unwrap());
            Ok(())
        })
        .unwrap();
    assert_eq!(options_text(&state), broken, "left alone");
    assert!(
        !fs::read_to_string(state.user_cfg_path())
            .unwrap()
            .contains("a@pve")
    );
}

#[test]
fn stale_sections_are_dropped_by_the_next_write_and_nothing_else_is_rewritten() {
    let (_dir, state) = setup();
    let text = format!(
        "{}token: gone@pve!tk\n\trate-limit 1\n\n",
        options_text(&state)
    );
    fs::write(state.token_options_path(), &text).unwrap();
    let (_, warnings) = state
        .load_token_options(&state.load().unwrap().user_cfg)
        .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    state.modify(|_, _| Ok(())).unwrap();
    assert!(!options_text(&state).contains("gone@pve"));
    assert!(options_text(&state).contains("a@pve!tk"));
}
