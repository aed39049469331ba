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
    // Open finding (tests/fuzz_regressions.rs, user_cfg_nul_separated_group_members_keep_their_
    // meaning): a list holding a NUL does not survive write → parse. Until the reader/writer is
    // fixed, such texts are only checked for panics.
    //
    // The check starts from the text aclgate wrote once: a first read keeps what later lines
    // orphan (open finding user_cfg_acl_of_a_token_dropped_by_a_later_user_line_is_not_kept),
    // so only the written text is a fixed point today.
    if !text.contains('\0') {
        let once = UserConfig::parse(&text).0.write();
        assert_write_stable(
            "user.cfg",
            &once,
            Reread::NoNewWarnings,
            |t| {
                let (cfg, warnings) = UserConfig::parse(t);
                Some((cfg, messages(warnings)))
            },
            UserConfig::write,
        );
    }
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
