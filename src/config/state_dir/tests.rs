//! Tests of the parent module.

use std::fs;

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

#[test]
fn every_written_state_file_ends_with_a_newline() {
    // The torn-file rule (read.rs) refuses a file without a final newline, so every writer
    // must end its files with one (or write nothing).
    let (_dir, state) = setup();
    let (shadow, _) = ShadowConfig::parse("c:$5$salt$hash:\n");
    state
        .modify_realms(|edit| {
            edit.shadow = shadow;
            Ok(())
        })
        .unwrap();
    state
        .modify(|_, tokens| {
            tokens.set_secret(&"a@pve!tk".parse().unwrap(), "secret");
            Ok(())
        })
        .unwrap();
    for path in [
        state.user_cfg_path(),
        state.token_shadow_path(),
        state.token_options_path(),
        state.shadow_cfg_path(),
    ] {
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with('\n'),
            "{} ends with a newline",
            path.display()
        );
        check_whole(&path, &text).unwrap();
    }
    for empty in [
        UserConfig::default().write(),
        TokenShadow::default().write(),
        TokenOptions::default().write(),
        ShadowConfig::default().write(),
        DomainsConfig::parse("").0.write(),
    ] {
        assert!(empty.is_empty() || empty.ends_with('\n'), "{empty:?}");
    }
}

#[test]
fn a_torn_user_cfg_is_refused_by_readers_and_writers() {
    let (_dir, state) = setup();
    let good = fs::read_to_string(state.user_cfg_path()).unwrap();
    let torn = format!("{good}acl:1:/:a@pve:NoAcc");
    fs::write(state.user_cfg_path(), &torn).unwrap();
    let err = state.load().unwrap_err();
    assert!(matches!(err, StateError::Torn { .. }), "{err}");
    // A CLI write refuses too, rather than writing back the file without its partial line.
    let err = state.modify(|_, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("torn"), "{err}");
    assert_eq!(fs::read_to_string(state.user_cfg_path()).unwrap(), torn);
}
