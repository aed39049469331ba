//! A reload reads `aclgate.toml` again: the reloadable settings reach the next snapshot (the
//! request path reads them from there), restart-only ones keep their running value, and a
//! file that does not parse fails the reload and keeps the running snapshot.

mod gateway_support;

use std::path::Path;
use std::sync::Arc;

use aclgate::config::gateway::{GatewayConfig, GatewayConfigError};
use aclgate::config::reloadable::ConfigSource;
use aclgate::observe::Metrics;
use aclgate::reload;

use gateway_support::{POLICY, USER_CFG, write_atomic};

/// The settings as `serve` reads them: the file, with the test's paths on top.
fn read(root: &Path) -> Result<GatewayConfig, GatewayConfigError> {
    let mut cfg = GatewayConfig::load(&root.join("aclgate.toml"))?;
    cfg.state.dir = root.join("state");
    cfg.policies = vec![root.join("policies/test.toml")];
    cfg.tls.cert = root.join("certs/aclgate.crt");
    cfg.tls.key = root.join("certs/aclgate.key");
    Ok(cfg)
}

#[tokio::test]
async fn reload_applies_reloadable_settings_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    write_atomic(&root.join("state/user.cfg"), USER_CFG);
    write_atomic(&root.join("policies/test.toml"), POLICY);
    aclgate::server::tls::ensure_self_signed(
        &root.join("certs/aclgate.crt"),
        &root.join("certs/aclgate.key"),
    )
    .unwrap();
    write_atomic(&root.join("aclgate.toml"), "listen = \"127.0.0.1:8006\"\n");
    let first = read(&root).unwrap();
    let source: ConfigSource = {
        let root = root.clone();
        Arc::new(move || read(&root))
    };
    let (reader, handle) =
        reload::start_with_source(Arc::new(first), Arc::new(Metrics::new()), Some(source)).unwrap();
    assert_eq!(reader.load().config.limits.max_header_lines, 63);

    write_atomic(
        &root.join("aclgate.toml"),
        "listen = \"127.0.0.1:9\"\n[limits]\nmax_header_lines = 5\n\
         [auth]\nidentity_header = \"x-who\"\n",
    );
    let generation = handle.reload().await.expect("the new settings load");
    let snapshot = reader.load();
    assert_eq!(snapshot.generation, generation);
    assert_eq!(snapshot.config.limits.max_header_lines, 5, "reloadable");
    assert_eq!(snapshot.identity_header.as_str(), "x-who", "reloadable");
    assert_eq!(
        snapshot.config.listen,
        "127.0.0.1:8006".parse().unwrap(),
        "the listener waits for a restart"
    );

    write_atomic(&root.join("aclgate.toml"), "[limits\n");
    let refused = handle
        .reload()
        .await
        .expect_err("a broken file fails the reload");
    assert!(refused.contains("aclgate.toml"), "{refused}");
    let kept = reader.load();
    assert_eq!(kept.generation, generation, "the running snapshot stays");
    assert_eq!(kept.config.limits.max_header_lines, 5);
}
