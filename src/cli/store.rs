//! `aclgate store migrate --from files:DIR --to etcd` (and back), `aclgate store status`, and
//! the management commands on an etcd-backed installation (docs/etcd.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::output::Printer;
use crate::auth::ticket::CsrfSecret;
use crate::auth::ticket::keyring::{Algorithm, KeyRing};
use crate::config::StateDir;
use crate::config::StateError;
use crate::config::gateway::{GatewayConfig, find_config};
use crate::config::store::Backend;
use crate::store::etcd::EtcdStore;
use crate::store::follow::FleetKeys;
use crate::store::{Store, StoreError, objects};

/// `aclgate store ...`.
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// Gateway settings file naming the etcd cluster (`[state.etcd]`; default: as `serve`).
    #[arg(long, env = "ACLGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(clap::Subcommand, Debug)]
enum StoreCommand {
    /// Copy the whole state from one backend to the other (`files:DIR` or `etcd`); the
    /// destination is replaced.
    Migrate {
        /// `files:DIR` or `etcd`.
        #[arg(long, value_name = "SPEC")]
        from: String,
        /// `files:DIR` (a new or empty directory) or `etcd`.
        #[arg(long, value_name = "SPEC")]
        to: String,
    },
    /// The backend, the revision, the members and how far apart they are.
    Status,
}

enum Spec {
    Files(PathBuf),
    Etcd,
}

/// Run `aclgate store ...`.
pub fn run(args: StoreArgs) -> ExitCode {
    let result = load_config(args.config.as_deref()).and_then(|config| match args.command {
        StoreCommand::Migrate { from, to } => migrate(&config, &from, &to),
        StoreCommand::Status => status(&config),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aclgate store: {e}");
            ExitCode::from(255)
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<GatewayConfig, String> {
    match find_config(path) {
        Some(p) => GatewayConfig::load(&p).map_err(|e| e.to_string()),
        None => Ok(GatewayConfig::default()),
    }
}

fn parse_spec(spec: &str) -> Result<Spec, String> {
    match spec.split_once(':') {
        _ if spec == "etcd" => Ok(Spec::Etcd),
        Some(("files", dir)) if !dir.is_empty() => Ok(Spec::Files(PathBuf::from(dir))),
        _ => Err(format!("`{spec}`: expected `files:DIR` or `etcd`")),
    }
}

fn migrate(config: &GatewayConfig, from: &str, to: &str) -> Result<(), String> {
    let etcd = || EtcdStore::new(&config.state.etcd).map_err(|e| e.to_string());
    match (parse_spec(from)?, parse_spec(to)?) {
        (Spec::Files(dir), Spec::Etcd) => {
            let (objects, notes) = objects::read_dir(&dir).map_err(|e| e.to_string())?;
            for note in notes {
                eprintln!("note: {note}");
            }
            let store = etcd()?;
            let _lock = store.lock().map_err(|e| e.to_string())?;
            let base = store.load().map_err(|e| e.to_string())?;
            let revision = store
                .commit(&base, &objects)
                .map_err(|e| StoreError::from(e).to_string())?;
            println!(
                "migrated {} objects from {} to etcd {} (revision {})",
                objects.len(),
                dir.display(),
                config.state.etcd.prefix,
                revision.unwrap_or(base.revision)
            );
            Ok(())
        }
        (Spec::Etcd, Spec::Files(dir)) => {
            let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
            if !empty {
                return Err(format!(
                    "`{}` is not empty; migrate into a new directory",
                    dir.display()
                ));
            }
            let loaded = etcd()?.load().map_err(|e| e.to_string())?;
            objects::write_dir_canonical(&loaded.objects, &dir).map_err(|e| e.to_string())?;
            println!(
                "migrated {} objects from etcd {} (revision {}) to {}",
                loaded.objects.len(),
                config.state.etcd.prefix,
                loaded.revision,
                dir.display()
            );
            Ok(())
        }
        _ => {
            Err("migrate between files and etcd: one side `files:DIR`, the other `etcd`".to_owned())
        }
    }
}

fn status(config: &GatewayConfig) -> Result<(), String> {
    if config.state.backend == Backend::Files {
        println!("backend: files");
        println!("directory: {}", config.state.dir.display());
        return Ok(());
    }
    let store = EtcdStore::new(&config.state.etcd).map_err(|e| e.to_string())?;
    println!("backend: etcd");
    println!("prefix: {}", config.state.etcd.prefix);
    let (revision, serial) = store.serial().map_err(|e| e.to_string())?;
    println!("revision: {revision}");
    println!("last aclgate write: revision {serial}");
    let members = store.members().map_err(|e| e.to_string())?;
    let newest = members
        .iter()
        .filter_map(|m| m.status.as_ref().ok().map(|s| s.header.revision))
        .max()
        .unwrap_or(revision);
    println!("members: {}", members.len());
    for m in members {
        match m.status {
            Ok(s) => {
                let role = if s.leader == s.header.member_id {
                    "leader"
                } else {
                    "follower"
                };
                println!(
                    "  {} {} {role} version={} revision={} lag={} db_size={}",
                    m.name,
                    m.endpoint,
                    s.version,
                    s.header.revision,
                    newest - s.header.revision,
                    s.db_size
                );
            }
            Err(e) => println!("  {} {} unreachable: {e}", m.name, m.endpoint),
        }
    }
    Ok(())
}

/// The etcd store the management commands write through, when the settings file (found as
/// `serve` finds it) says `backend = "etcd"` and no `--state-dir` was given.
pub(super) fn management_store(explicit_state_dir: Option<&Path>) -> Result<Option<Store>, String> {
    if explicit_state_dir.is_some() {
        return Ok(None);
    }
    let env = std::env::var_os("ACLGATE_CONFIG").map(PathBuf::from);
    let Some(path) = find_config(env.as_deref()) else {
        return Ok(None);
    };
    let config = GatewayConfig::load(&path).map_err(|e| e.to_string())?;
    if config.state.backend != Backend::Etcd {
        return Ok(None);
    }
    Store::open(&config.state)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Run one management command through `store` ([`Store::change`]); what it printed into `out`
/// (a held printer) is shown only once its change is committed.
pub(super) fn run_through(
    store: &Store,
    out: &Printer,
    command: impl FnOnce(&StateDir) -> Result<(), StateError>,
) -> ExitCode {
    match store.change(command) {
        Ok(()) => {
            out.release();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(255)
        }
    }
}

/// The ticket keys of a fleet on etcd (`priv/authkey.ring`, `priv/csrf.key`): created once, and
/// the ring rotated [`ROTATE_AHEAD`] seconds before it is due, so every gateway has the new
/// ring from etcd before its own code would rotate it locally. (Here rather than in `store`,
/// which does not depend on `auth`.)
pub struct TicketKeys(pub Algorithm);

/// How early the fleet's ring is rotated.
const ROTATE_AHEAD: i64 = 600;

impl FleetKeys for TicketKeys {
    fn needed(&self, state: &StateDir, now: i64) -> bool {
        match KeyRing::read(state) {
            Ok(Some(ring)) => {
                ring.is_due(now.saturating_add(ROTATE_AHEAD)) || !CsrfSecret::path(state).exists()
            }
            _ => true,
        }
    }

    fn ensure(&self, state: &StateDir, now: i64) -> Result<(), StateError> {
        let refused = |e: crate::auth::ticket::TicketError| StateError::Rejected(e.to_string());
        let ring = match KeyRing::read(state).map_err(refused)? {
            Some(ring) if !ring.is_due(now.saturating_add(ROTATE_AHEAD)) => None,
            Some(ring) => Some(ring.rotated(self.0, now)),
            None => Some(KeyRing::generate(self.0, now)),
        };
        if let Some(ring) = ring {
            state.write_secret(&KeyRing::path(state), ring.write().as_bytes())?;
        }
        CsrfSecret::load_or_create(state).map_err(refused)?;
        Ok(())
    }
}
