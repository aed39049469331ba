//! `policies/pve.toml` is exactly what `import-pve` makes of the schema dump in fixtures.
//! Regenerate with `ACLGATE_REGENERATE=1 cargo test --test policy_import`.

use aclgate::policy::import_pve;

#[test]
fn shipped_pve_policy_is_the_import_of_the_fixture() {
    let root = env!("CARGO_MANIFEST_DIR");
    let json = std::fs::read_to_string(format!("{root}/tests/fixtures/pve-api-permissions.json"))
        .expect("fixture present");
    let generated = import_pve(&json).expect("fixture imports");
    let path = format!("{root}/policies/pve.toml");
    if std::env::var_os("ACLGATE_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("write policies/pve.toml");
    }
    let shipped = std::fs::read_to_string(&path).expect("policies/pve.toml present");
    assert!(
        shipped == generated,
        "policies/pve.toml differs from the import of the fixture; regenerate it"
    );
}
