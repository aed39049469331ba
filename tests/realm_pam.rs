//! The `pam` realm through the real PAM stack: the local user `aclgate-pamtest` and the PAM
//! service `/etc/pam.d/aclgate-test` (pam_unix, nodelay), both made by `scripts/test.sh`.

use aclgate::auth::realm::{LoginOptions, RealmError, RealmSecrets, authenticate};
use aclgate::config::DomainsConfig;
use aclgate::identity::Userid;

const USER: &str = "aclgate-pamtest";
const PASSWORD: &str = "Pam-test-pw-7";
const SERVICE: &str = "aclgate-test";

fn require_setup() {
    let has_user = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with(&format!("{USER}:")));
    assert!(
        has_user && std::path::Path::new("/etc/pam.d/aclgate-test").exists(),
        "PAM test user `{USER}` or /etc/pam.d/{SERVICE} missing: run `bash scripts/test.sh` as root"
    );
}

#[tokio::test]
async fn pam_realm_checks_the_system_password() {
    require_setup();
    let domains = DomainsConfig::default();
    let secrets = RealmSecrets::default();
    let opts = LoginOptions {
        pam_service: SERVICE.into(),
        client_ip: Some("192.0.2.7".parse().unwrap()),
        ..LoginOptions::default()
    };
    let check = |userid: &str, want_ok: bool, got: Result<(), RealmError>| {
        assert_eq!(got.is_ok(), want_ok, "authenticate({userid}) gave {got:?}");
        if let Err(e) = got {
            assert!(
                !format!("{e} {e:?}").contains(PASSWORD),
                "error leaks the password"
            );
        }
    };
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("aclgate-pamtest@pam", PASSWORD, true),
        ("aclgate-pamtest@pam", "Pam-test-pw-8", false),
        ("aclgate-pamtest@pam", "", false),
        ("no-such-user-xyz@pam", PASSWORD, false),
    ];
    for (userid, password, want_ok) in cases {
        let id: Userid = userid.parse().unwrap();
        let got = authenticate(&domains, &secrets, &id, password, &opts).await;
        check(userid, *want_ok, got);
    }
}
