//! domains.cfg reading and writing (spec §2.4): Proxmox's default file round-trips byte for
//! byte, bad lines are skipped with their line numbers, and writing is canonical.

use aclgate::config::{DomainsConfig, RealmType};

/// The file a fresh Proxmox VE installation writes.
const PROXMOX_DEFAULT: &str = "pam: pam\n\tcomment Linux PAM standard authentication\n\npve: pve\n\tcomment Proxmox VE authentication server\n\n";

#[test]
fn proxmox_default_file_round_trips() {
    let (cfg, warnings) = DomainsConfig::parse(PROXMOX_DEFAULT);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.write(), PROXMOX_DEFAULT);
    // A missing file reads as the same two realms.
    assert_eq!(DomainsConfig::parse("").0.write(), PROXMOX_DEFAULT);
    assert_eq!(DomainsConfig::default().write(), PROXMOX_DEFAULT);
}

#[test]
fn a_full_file_is_written_canonically() {
    let text = "\
# comment lines are skipped
pve: pve
\tdefault 1
\tcomment Proxmox VE authentication server
\ttfa type=oath,step=30,digits=6

LDAP: corp
\tuser_attr uid
\tmode ldaps
\tbase_dn dc=example,dc=com
\tserver1 ldap1.example.com
\tverify yes
\tcomment %C3%BCber:corp
\tcase-sensitive 0

ad: win
\tserver1 10.0.0.1
\tdomain example.local

pam: pam
\tcomment Linux PAM standard authentication
";
    let (cfg, warnings) = DomainsConfig::parse(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    let corp = cfg.realm("corp").unwrap();
    assert_eq!(corp.kind, RealmType::Ldap);
    assert_eq!(corp.comment(), Some("über:corp"));
    assert!(!corp.case_sensitive());
    assert_eq!(cfg.default_realm().map(|r| r.realm.as_str()), Some("pve"));
    let want = "\
pve: pve
\tcomment Proxmox VE authentication server
\tdefault 1
\ttfa type=oath,step=30,digits=6

ldap: corp
\tcomment %C3%BCber%3Acorp
\tbase_dn dc=example,dc=com
\tserver1 ldap1.example.com
\tuser_attr uid
\tcase-sensitive 0
\tmode ldaps
\tverify 1

ad: win
\tdomain example.local
\tserver1 10.0.0.1

pam: pam
\tcomment Linux PAM standard authentication

";
    assert_eq!(cfg.write(), want);
    // Writing is a fixed point.
    assert_eq!(DomainsConfig::parse(want).0.write(), want);
}

#[test]
fn bad_lines_are_skipped_with_their_line_numbers() {
    let text = "\
ldap: 1bad
\tserver1 x

weird: thing
\tkey value

ldap: nobase
\tserver1 ldap.example.com
\tuser_attr uid

ldap: ok
\tserver1 ldap.example.com
\tbase_dn dc=x
\tuser_attr uid
\tport 99999
\tport 389
\tport 390
\tpassword hunter2
\tunknown 1
\tverify

not a header
pve: pve
\tdefault 1

pam: pam
\ttype ldap
\tdefault 1
";
    let (cfg, warnings) = DomainsConfig::parse(text);
    let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
    // 1: bad realm; 4: unknown type; 9: nobase lacks base_dn (reported at its last line);
    // 15: bad port; 17: duplicate port; 18: password; 19: unknown option; 22: stray line;
    // 27: `type` is no option; the second default is cleared (line 0: not tied to a line).
    assert_eq!(
        lines,
        vec![1, 4, 9, 15, 17, 18, 19, 22, 27, 0],
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().all(|w| !w.message.contains("hunter2")),
        "secret in a warning"
    );
    let ok = cfg.realm("ok").unwrap();
    assert_eq!(ok.option("port"), Some("389"));
    assert_eq!(ok.flag("verify"), Some(true));
    assert!(
        cfg.realm("1bad").is_none()
            && cfg.realm("thing").is_none()
            && cfg.realm("nobase").is_none()
    );
    assert!(cfg.realm("pve").unwrap().is_default());
    assert!(!cfg.realm("pam").unwrap().is_default());
    assert_eq!(cfg.realm("pam").unwrap().kind, RealmType::Pam);
}

#[test]
fn builtin_realms_come_back_with_their_type() {
    let (cfg, _) = DomainsConfig::parse(
        "ldap: pam\n\tserver1 a.example\n\tbase_dn dc=x\n\tuser_attr uid\n\tcomment mine\n",
    );
    let pam = cfg.realm("pam").unwrap();
    assert_eq!(pam.kind, RealmType::Pam);
    assert_eq!(
        pam.option("server1"),
        None,
        "ldap options dropped with the type"
    );
    assert_eq!(pam.comment(), Some("mine"));
    assert_eq!(cfg.realm("pve").unwrap().kind, RealmType::Pve);
}
