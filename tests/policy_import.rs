//! `policies/pve.toml` is exactly what `import-pve --exclude /access --exclude /pools` (and the
//! realm-sync job and own-task routes) makes of the schema dump in fixtures (those live in
//! `policies/access.toml`).
//! Regenerate with `ACLGATE_REGENERATE=1 cargo test --test suite policy_import::`.

use aclgate::policy::{ImportFilter, import_pve_filtered};

#[test]
fn shipped_pve_policy_is_the_import_of_the_fixture() {
    let root = env!("CARGO_MANIFEST_DIR");
    let json = std::fs::read_to_string(format!("{root}/tests/fixtures/pve-api-permissions.json"))
        .expect("fixture present");
    let filter = ImportFilter {
        only: Vec::new(),
        exclude: [
            "/access",
            "/pools",
            "/cluster/jobs/realm-sync",
            "/nodes/{node}/tasks/{upid}/status",
            "/nodes/{node}/tasks/{upid}/log",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let generated = import_pve_filtered(&json, &filter).expect("fixture imports");
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
