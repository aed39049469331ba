//! `aclgate check-config`: load everything the gateway would (settings, state, policies, TLS
//! files, upstream trust), print every warning with file and line, exit non-zero on errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::serve::{ConfigArgs, resolve};
use crate::config::gateway::{GatewayConfig, find_config};
use crate::server::tls::ensure_self_signed;
use crate::snapshot::Snapshot;
use crate::upstream::Upstreams;

/// `aclgate check-config` options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Run `aclgate check-config`; exit 0 when everything loads (warnings allowed), 1 on errors.
pub fn check_config(args: CheckConfigArgs, state_dir: Option<PathBuf>) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    if check(&args, state_dir, &mut out, &mut err) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The check itself, writing warnings to `out` and errors to `err`; true if no errors.
pub fn check(
    args: &CheckConfigArgs,
    state_dir: Option<PathBuf>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> bool {
    let _ = match find_config(args.config.config.as_deref()) {
        Some(p) => writeln!(out, "config: {}", p.display()),
        None => writeln!(out, "config: none found, built-in defaults"),
    };
    let mut config = match resolve(&args.config, state_dir) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return false;
        }
    };
    // Before the first `serve` there is no self-signed pair yet; `serve` will generate it, so
    // check the rest against a throwaway pair instead of failing or writing into certs/.
    let _scratch = match first_start_tls(&mut config) {
        Ok(Some((scratch, real_cert))) => {
            let _ = writeln!(
                out,
                "note: no certificate at `{}` yet; `serve` generates a self-signed one",
                real_cert.display()
            );
            Some(scratch)
        }
        Ok(None) => None,
        Err(e) => {
            let _ = writeln!(err, "error: tls: {e}");
            return false;
        }
    };
    let config = Arc::new(config);
    let mut ok = true;
    if let Err(e) = config.validate() {
        let _ = writeln!(err, "error: {e}");
        ok = false;
    }
    if let Err(e) = Upstreams::new(&config, &crate::observe::Metrics::new()) {
        let _ = writeln!(err, "error: upstream: {e}");
        ok = false;
    }
    match Snapshot::load(config, 1) {
        Ok(snapshot) => {
            for w in &snapshot.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
            let _ = writeln!(
                out,
                "{}: {} users, {} routes, {} warnings",
                if ok { "ok" } else { "errors" },
                snapshot.user_cfg.users.len(),
                snapshot.routes.len(),
                snapshot.warnings.len()
            );
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ok = false;
        }
    }
    ok
}

/// Load everything `serve` would (upstream, state, policies, TLS) without writing anything: a
/// self-signed pair still to be generated is replaced by a throwaway one. `serve` calls this
/// before its first write; the first error, as text.
pub fn preflight(config: &GatewayConfig) -> Result<(), String> {
    let mut config = config.clone();
    let _scratch = first_start_tls(&mut config).map_err(|e| format!("tls: {e}"))?;
    Upstreams::new(&config, &crate::observe::Metrics::new())
        .map_err(|e| format!("upstream: {e}"))?;
    Snapshot::load(Arc::new(config), 1).map_err(|e| e.to_string())?;
    Ok(())
}

/// If the self-signed pair would be generated on first start, point `config` at a temporary
/// one, returned (with the real certificate path) so it lives as long as the check.
fn first_start_tls(
    config: &mut GatewayConfig,
) -> std::io::Result<Option<(tempfile::TempDir, PathBuf)>> {
    let tls = &config.tls;
    if !tls.self_signed || tls.cert.exists() || tls.key.exists() {
        return Ok(None);
    }
    let dir = tempfile::tempdir()?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    ensure_self_signed(&cert, &key)?;
    let real_cert = std::mem::replace(&mut config.tls.cert, cert);
    config.tls.key = key;
    Ok(Some((dir, real_cert)))
}
