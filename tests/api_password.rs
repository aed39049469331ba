//! `PUT /access/password` rules against the real handler, state directory and reload task:
//! self change with the own password as confirmation, root@pam only by root, no other `@pam`
//! users, PAM refused. (The route needs a user, allowtoken=0, and tickets are verified by the
//! login stream's code, not on this branch yet: the TLS test in api_admin.rs proves tokens are
//! refused; here the handler is called directly.)

mod api_handler_support;
mod gateway_support;

use aclgate::access_api::ApiError;
use aclgate::auth::realm::{self, LoginOptions, RealmSecrets};
use aclgate::identity::Userid;

use api_handler_support::Harness;

const USERS: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
user:bob@pve:1:0:::::
user:carol@pam:1:0:::::
";

async fn harness() -> Harness {
    Harness::start(USERS, &[("alice", "alice-old-pw"), ("bob", "bob-old-pw1")]).await
}

impl Harness {
    async fn change(&self, caller: &str, form: &str) -> Result<(), ApiError> {
        self.call("access.password.update", caller, form)
            .await
            .map(|_| ())
    }

    async fn login(&self, userid: &str, password: &str) -> bool {
        let (domains, _) = self.services.state.load_domains().unwrap();
        let (secrets, _) = RealmSecrets::load(&self.services.state, &domains).unwrap();
        let userid: Userid = userid.parse().unwrap();
        realm::authenticate(
            &domains,
            &secrets,
            &userid,
            password,
            &LoginOptions::default(),
        )
        .await
        .is_ok()
    }
}

#[tokio::test]
async fn self_change_needs_the_own_password() {
    let h = harness().await;
    let r = h
        .change("alice@pve", "userid=alice%40pve&password=alice-new-pw")
        .await;
    assert!(
        matches!(&r, Err(ApiError::Params(e)) if e.contains_key("confirmation-password")),
        "{r:?}"
    );
    let r = h
        .change(
            "alice@pve",
            "userid=alice%40pve&password=alice-new-pw&confirmation-password=wrong-pw",
        )
        .await;
    assert!(matches!(r, Err(ApiError::Forbidden(_))), "{r:?}");
    assert!(h.login("alice@pve", "alice-old-pw").await, "unchanged");
    let r = h
        .change(
            "alice@pve",
            "userid=alice%40pve&password=short&confirmation-password=alice-old-pw",
        )
        .await;
    assert!(
        matches!(&r, Err(ApiError::Params(e)) if e.contains_key("password")),
        "{r:?}"
    );
    h.change(
        "alice@pve",
        "userid=alice%40pve&password=alice-new-pw&confirmation-password=alice-old-pw",
    )
    .await
    .unwrap();
    assert!(h.login("alice@pve", "alice-new-pw").await);
    assert!(!h.login("alice@pve", "alice-old-pw").await);
    assert!(h.login("bob@pve", "bob-old-pw1").await, "others untouched");
}

#[tokio::test]
async fn root_and_pam_rules() {
    let h = harness().await;
    let check = |r: Result<(), ApiError>, what: &str| {
        assert!(matches!(r, Err(ApiError::Forbidden(_))), "{what}: {r:?}");
    };
    check(
        h.change(
            "alice@pve",
            "userid=root%40pam&password=new-root-pw&confirmation-password=alice-old-pw",
        )
        .await,
        "non-root changes root@pam",
    );
    check(
        h.change(
            "alice@pve",
            "userid=carol%40pam&password=new-carol-pw&confirmation-password=alice-old-pw",
        )
        .await,
        "non-root changes another @pam user",
    );
    let r = h
        .change("root@pam", "userid=carol%40pam&password=new-carol-pw")
        .await;
    assert!(
        matches!(&r, Err(ApiError::BadRequest(m)) if m.contains("PAM")),
        "pam passwords are not aclgate's: {r:?}"
    );
    h.change("root@pam", "userid=bob%40pve&password=bob-new-pw1")
        .await
        .unwrap();
    assert!(
        h.login("bob@pve", "bob-new-pw1").await,
        "root needs no confirmation"
    );
}
