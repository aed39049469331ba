//! `PUT /access/password` rules against the real handler, state directory and reload task:
//! self change with the own password as confirmation, root@pam only by root, no other `@pam`
//! users, PAM refused. (The route needs a user, allowtoken=0, and tickets are verified by the
//! login stream's code, not on this branch yet: the TLS test in api_admin.rs proves tokens are
//! refused; here the handler is called directly.)

mod gateway_support;

use std::net::SocketAddr;
use std::sync::Arc;

use aclgate::access_api::{ApiContext, ApiError, ApiServices, handle};
use aclgate::auth::realm::{self, LoginOptions, RealmSecrets, crypt};
use aclgate::config::gateway::GatewayConfig;
use aclgate::identity::{Authid, Userid};
use aclgate::observe::Metrics;
use aclgate::policy::{Params, PathParams};
use aclgate::reload;
use aclgate::snapshot::SnapshotReader;

use gateway_support::write_atomic;

const USERS: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
user:bob@pve:1:0:::::
user:carol@pam:1:0:::::
";

struct Harness {
    _dir: tempfile::TempDir,
    reader: SnapshotReader,
    services: ApiServices,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    write_atomic(&state_dir.join("user.cfg"), USERS);
    let shadow = format!(
        "alice:{}:\nbob:{}:\n",
        crypt::hash_password("alice-old-pw").unwrap(),
        crypt::hash_password("bob-old-pw1").unwrap()
    );
    write_atomic(&state_dir.join("priv/shadow.cfg"), &shadow);
    let mut cfg = GatewayConfig::default();
    cfg.state.dir = state_dir.clone();
    cfg.policies =
        vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml")];
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
    cfg.tls.cert = cert;
    cfg.tls.key = key;
    let cfg = Arc::new(cfg);
    let (reader, handle) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
    let services = ApiServices::open(&cfg, handle).unwrap();
    Harness {
        _dir: dir,
        reader,
        services,
    }
}

impl Harness {
    async fn change(&self, caller: &str, form: &str) -> Result<(), ApiError> {
        let caller: Authid = caller.parse().unwrap();
        let mut params = Params::new(PathParams::new());
        params.add_body(None, form.as_bytes()).unwrap();
        let snapshot = self.reader.load();
        let ctx = ApiContext {
            snapshot: &snapshot,
            caller: Some(&caller),
            via_token: false,
            params: &params,
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            services: &self.services,
            host: None,
        };
        handle("access.password.update", &ctx)
            .await
            .expect("password handler exists")
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
