//! `ldap` and `ad` realms against a real OpenLDAP slapd: plain LDAP, LDAPS and StartTLS with a
//! CA made in the test, service binds, failover, wrong passwords, unknown users, a wrong CA, and
//! the `case-sensitive 0` lookup.

mod support_ldap;

use std::collections::BTreeMap;

use aclgate::auth::realm::{
    LoginOptions, RealmError, RealmSecrets, authenticate, canonical_userid,
};
use aclgate::config::user_cfg::User;
use aclgate::config::{DomainsConfig, ShadowConfig, UserConfig};
use aclgate::identity::Userid;
use support_ldap::{ADMIN_DN, ADMIN_PW, BASE_DN, Slapd};

/// What a login should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    BadPassword,
    UnknownUser,
    NoPassword,
    /// Another failure, whose Debug text contains this.
    Fails(&'static str),
}

fn domains(s: &Slapd) -> DomainsConfig {
    let (p, ps) = (s.ldap_port, s.ldaps_port);
    let (ca, other) = (s.ca_file.display(), s.other_ca_file.display());
    let realm = |name: &str, extra: &str| {
        format!(
            "ldap: {name}\n\tserver1 127.0.0.1\n\tbase_dn {BASE_DN}\n\tuser_attr uid\n{extra}\n"
        )
    };
    let text = [
        realm("plain", &format!("\tport {p}\n")),
        realm("svc", &format!("\tport {p}\n\tbind_dn {ADMIN_DN}\n")),
        realm("svcbad", &format!("\tport {p}\n\tbind_dn {ADMIN_DN}\n")),
        realm("svcnopw", &format!("\tport {p}\n\tbind_dn {ADMIN_DN}\n")),
        realm("ldaps", &format!("\tport {ps}\n\tmode ldaps\n\tverify 1\n\tcapath {ca}\n")),
        realm("ldapsbadca", &format!("\tport {ps}\n\tmode ldaps\n\tverify 1\n\tcapath {other}\n")),
        realm("ldapsnoverify", &format!("\tport {ps}\n\tmode ldaps\n")),
        realm("secure", &format!("\tport {ps}\n\tsecure 1\n\tverify 1\n\tcapath {ca}\n")),
        realm("starttls", &format!("\tport {p}\n\tmode ldap+starttls\n\tverify 1\n\tcapath {ca}\n")),
        realm("starttlsbadca", &format!("\tport {p}\n\tmode ldap+starttls\n\tverify 1\n\tcapath {other}\n")),
        realm("tls13", &format!("\tport {ps}\n\tmode ldaps\n\tverify 1\n\tcapath {ca}\n\tsslversion tlsv1_3\n")),
        // server1 refuses connections (nothing listens on 127.0.0.2): server2 is used.
        format!("ldap: failover\n\tserver1 127.0.0.2\n\tserver2 127.0.0.1\n\tport {p}\n\tbase_dn {BASE_DN}\n\tuser_attr uid\n\n"),
        realm("wrongbase", &format!("\tport {p}\n\tbase_dn ou=nobody,dc=example,dc=com\n")).replacen(&format!("\tbase_dn {BASE_DN}\n"), "", 1),
        realm("nocase", &format!("\tport {p}\n\tcase-sensitive 0\n")),
        // OpenLDAP rejects the UPN bind an AD realm does (rc 34): the login must fail.
        format!("ad: ad\n\tserver1 127.0.0.1\n\tport {p}\n\tdomain example.com\n\n"),
        "openid: oidc\n\tissuer-url https://id.example\n\tclient-id aclgate\n\n".to_owned(),
    ]
    .concat();
    let (cfg, warnings) = DomainsConfig::parse(&text);
    assert!(
        warnings.is_empty(),
        "test domains.cfg warnings: {warnings:?}"
    );
    cfg
}

fn secrets() -> RealmSecrets {
    let mut bind = BTreeMap::new();
    bind.insert("svc".to_owned(), ADMIN_PW.to_owned());
    bind.insert("svcbad".to_owned(), "not-the-admin-pw".to_owned());
    RealmSecrets::new(ShadowConfig::default(), bind)
}

fn classify(r: &Result<(), RealmError>) -> Want {
    match r {
        Ok(()) => Want::Ok,
        Err(RealmError::InvalidCredentials) => Want::BadPassword,
        Err(RealmError::UnknownUser(_)) => Want::UnknownUser,
        Err(RealmError::NoPassword) => Want::NoPassword,
        Err(_) => Want::Fails(""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_realms_bind_as_the_user() {
    let slapd = Slapd::start();
    let domains = domains(&slapd);
    let secrets = secrets();
    let opts = LoginOptions::default();
    #[rustfmt::skip]
    let cases: &[(&str, &str, Want)] = &[
        ("alice@plain", "alice-pw-1", Want::Ok),
        ("bob@plain", "bob-pw-22", Want::Ok),
        ("alice@plain", "bob-pw-22", Want::BadPassword),
        ("alice@plain", "", Want::NoPassword),
        ("carol@plain", "alice-pw-1", Want::UnknownUser),
        // The name is escaped in the search filter: `*` matches nobody.
        ("*@plain", "alice-pw-1", Want::UnknownUser),
        ("alice@svc", "alice-pw-1", Want::Ok),
        ("alice@svc", "wrong-password", Want::BadPassword),
        ("alice@svcbad", "alice-pw-1", Want::Fails("ldap bind failed: rc=49")),
        ("alice@svcnopw", "alice-pw-1", Want::Fails("missing password")),
        ("alice@ldaps", "alice-pw-1", Want::Ok),
        ("alice@ldaps", "wrong-password", Want::BadPassword),
        ("alice@ldapsbadca", "alice-pw-1", Want::Fails("UnknownIssuer")),
        ("alice@ldapsnoverify", "alice-pw-1", Want::Ok),
        ("alice@secure", "alice-pw-1", Want::Ok),
        ("alice@starttls", "alice-pw-1", Want::Ok),
        ("alice@starttls", "wrong-password", Want::BadPassword),
        ("alice@starttlsbadca", "alice-pw-1", Want::Fails("UnknownIssuer")),
        ("alice@tls13", "alice-pw-1", Want::Ok),
        ("alice@failover", "alice-pw-1", Want::Ok),
        ("alice@wrongbase", "alice-pw-1", Want::Fails("noSuchObject")),
        ("alice@ad", "alice-pw-1", Want::Fails("rc=34")),
        ("alice@oidc", "alice-pw-1", Want::Fails("NotSupported")),
        ("alice@nosuchrealm", "alice-pw-1", Want::Fails("NoSuchRealm")),
    ];
    for (userid, password, want) in cases {
        let id: Userid = userid.parse().unwrap();
        let got = authenticate(&domains, &secrets, &id, password, &opts).await;
        match want {
            Want::Fails(reason) => assert!(
                matches!(classify(&got), Want::Fails(_)) && format!("{got:?}").contains(reason),
                "authenticate({userid}) gave {got:?}, want a failure with `{reason}`"
            ),
            _ => assert_eq!(classify(&got), *want, "authenticate({userid}) gave {got:?}"),
        }
        if let Err(e) = got {
            let text = format!("{e} {e:?}");
            assert!(
                password.is_empty() || !text.contains(password),
                "error leaks the password: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_insensitive_realm_logs_in_with_the_stored_spelling() {
    let slapd = Slapd::start();
    let domains = domains(&slapd);
    let mut users = UserConfig::default();
    users
        .users
        .insert("Alice@nocase".parse().unwrap(), User::new());
    users
        .users
        .insert("bob@plain".parse().unwrap(), User::new());
    let opts = LoginOptions::default();

    let id = canonical_userid(&users, &domains, "ALICE@nocase").unwrap();
    assert_eq!(id.as_str(), "Alice@nocase");
    let got = authenticate(&domains, &secrets(), &id, "alice-pw-1", &opts).await;
    assert!(got.is_ok(), "login as {id}: {got:?}");

    // A case-sensitive realm keeps the submitted spelling (which is then no known user).
    let id = canonical_userid(&users, &domains, "BOB@plain").unwrap();
    assert_eq!(id.as_str(), "BOB@plain");
}
