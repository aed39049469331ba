//! `user.cfg` (users, groups, tokens, pools, roles, ACLs): parse any text without panicking; the
//! written text reads back without warnings and is a fixed point; the permission engine and the
//! auth index build from whatever parsed.
#![no_main]

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::config::user_cfg::AuthIndex;
use aclgate_fuzz::{Reread, assert_write_stable, messages, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    // Parse → write is a fixed point from the raw input (findings 2 and 3 of docs/fuzzing.md
    // were texts for which it was not: NUL-separated lists, and ACLs of tokens a later user line
    // dropped).
    assert_write_stable(
        "user.cfg",
        &text,
        Reread::NoNewWarnings,
        |t| {
            let (cfg, warnings) = UserConfig::parse(t);
            Some((cfg, messages(warnings)))
        },
        UserConfig::write,
    );
    let (cfg, _) = UserConfig::parse(&text);
    let engine = Engine::build(&cfg);
    let index = AuthIndex::build(&cfg);
    for id in ["root@pam", "joe@pve", "joe@pve!monitoring"] {
        let _ = index.user(id);
        let _ = index.token(id);
        let authid: aclgate::identity::Authid = id.parse().expect("fixed authid");
        let subject = engine.subject(&authid);
        let _ = engine.privs_of(subject, "/vms/100");
    }
});
