//! Property: for random, mostly malformed state files, parse → write → parse is stable. The text
//! written from whatever was read reads back without a warning and writes the same bytes again,
//! for `user.cfg`, `domains.cfg`, `priv/token.shadow`, `priv/shadow.cfg` and `token-options.cfg`.
//! Inputs are lines built from each format's own words, separators and damaged fields, so that
//! most of them reach deep into the parsers. (The fuzz targets of the same names,
//! docs/fuzzing.md, check the same on byte-level mutations.)

use aclgate::config::{DomainsConfig, ShadowConfig, TokenOptions, TokenShadow, UserConfig};
use proptest::prelude::*;

/// Field text: ids, privileges, numbers, encodings, separators that should not be there.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._-]{0,8}",
        1 => "[a-z]{1,5}@(pve|pam|ldap)",
        1 => "[a-z]{1,5}@pve![a-z]{1,4}",
        1 => "@[a-z]{1,5}",
        1 => "/(vms|pool|storage|access)?(/[a-z0-9]{1,4}){0,2}",
        1 => "(VM\\.Audit|Sys\\.Modify|PVEAdmin|NoAccess|PVEVMAdmin),?",
        1 => "[0-9]{1,12}",
        1 => "%[0-9A-Fa-f]{2}|%|%zz",
        1 => "[ \t,;:=é\u{a0}]{1,3}",
    ]
}

/// One line: a known word (or none), fields joined by `sep`.
fn line(words: &'static [&'static str], sep: &'static str) -> impl Strategy<Value = String> {
    (
        prop::sample::select(words),
        prop::collection::vec(field(), 0..7),
        prop::sample::select(vec!["", "", "", " ", "\t", "#"]),
    )
        .prop_map(move |(word, fields, lead)| format!("{lead}{word}{}", fields.join(sep)))
}

fn file(words: &'static [&'static str], sep: &'static str) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(words, sep), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, nl)| {
            let mut text = lines.join("\n");
            if nl {
                text.push('\n');
            }
            text
        })
}

/// How much the second read may complain.
#[derive(Clone, Copy)]
enum Reread {
    /// Not at all: the writer emits only what the reader accepts silently.
    Clean,
    /// Only what the first read complained of too (user.cfg keeps dangling references, e.g. a
    /// group member that is no user, and warns of them on every read, as Proxmox does).
    NoNewWarnings,
}

/// parse → write → parse → write: the second read complains as `reread` allows, and the same
/// bytes are written twice. `parse` answers the warnings' messages (without line numbers).
fn assert_stable<C>(
    text: &str,
    reread: Reread,
    parse: impl Fn(&str) -> Option<(C, Vec<String>)>,
    write: impl Fn(&C) -> String,
) -> Result<(), TestCaseError> {
    let Some((first, first_warnings)) = parse(text) else {
        return Ok(());
    };
    let written = write(&first);
    let Some((second, warnings)) = parse(&written) else {
        return Err(TestCaseError::fail(format!(
            "written text does not parse:\n{written}"
        )));
    };
    let new: Vec<&String> = match reread {
        Reread::Clean => warnings.iter().collect(),
        Reread::NoNewWarnings => warnings
            .iter()
            .filter(|w| !first_warnings.contains(w))
            .collect(),
    };
    prop_assert!(new.is_empty(), "warnings {:?} reading\n{}", new, written);
    prop_assert_eq!(&written, &write(&second), "input:\n{}", text);
    Ok(())
}

fn messages(warnings: Vec<aclgate::config::user_cfg::Warning>) -> Vec<String> {
    warnings.into_iter().map(|w| w.message).collect()
}

const USER_WORDS: &[&str] = &[
    "user:", "group:", "token:", "pool:", "role:", "acl:", "acl:1:", "acl:0:", "",
];
const DOMAIN_WORDS: &[&str] = &[
    "pve: ",
    "pam: ",
    "ldap: ",
    "ad: ",
    "openid: ",
    "\t",
    "\tcomment ",
    "\tdefault ",
    "\tserver1 ",
    "\tbase_dn ",
    "",
];
const SHADOW_WORDS: &[&str] = &["", "joe:", "a:$5$", "x@pve!t ", "x@pve!t sha256$"];
const OPTION_WORDS: &[&str] = &[
    "token: ",
    "\tallowed-ips ",
    "\trate-limit ",
    "\trate-burst ",
    " ",
    "",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn user_cfg_write_is_stable(text in file(USER_WORDS, ":")) {
        let parse = |t: &str| {
            let (c, w) = UserConfig::parse(t);
            Some((c, messages(w)))
        };
        assert_stable(&text, Reread::NoNewWarnings, parse, UserConfig::write)?;
    }

    #[test]
    fn domains_cfg_write_is_stable(text in file(DOMAIN_WORDS, " ")) {
        let parse = |t: &str| {
            let (c, w) = DomainsConfig::parse(t);
            Some((c, messages(w)))
        };
        assert_stable(&text, Reread::Clean, parse, DomainsConfig::write)?;
    }

    #[test]
    fn token_shadow_write_is_stable(text in file(SHADOW_WORDS, "$")) {
        let parse = |t: &str| {
            let (c, w) = TokenShadow::parse(t);
            Some((c, messages(w)))
        };
        assert_stable(&text, Reread::Clean, parse, TokenShadow::write)?;
    }

    #[test]
    fn shadow_cfg_write_is_stable(text in file(SHADOW_WORDS, ":")) {
        let parse = |t: &str| {
            let (c, w) = ShadowConfig::parse(t);
            Some((c, messages(w)))
        };
        assert_stable(&text, Reread::Clean, parse, ShadowConfig::write)?;
    }

    #[test]
    fn token_options_write_is_stable(text in file(OPTION_WORDS, ",")) {
        let parse = |t: &str| {
            let (c, w) = TokenOptions::parse(t, |_| true).ok()?;
            Some((c, messages(w)))
        };
        assert_stable(&text, Reread::Clean, parse, TokenOptions::write)?;
    }
}
