//! The one immutable [`Snapshot`] every request reads, and the read side of its `ArcSwap`.
//!
//! Everything that must change together (users, tokens, routes, certificate, settings) lives in
//! one snapshot, so a reload is a single atomic pointer swap. Requests call
//! [`SnapshotReader::load`] once and use that `Arc` for every later step. The write side exists
//! only in `reload.rs`. Runtime state that is not configuration (metrics, rate-limit buckets,
//! the access log) is not part of a snapshot: it is the [`Runtime`] beside it.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use http::HeaderName;
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use crate::access::Engine;
use crate::auth::verified::VerifiedTokens;
use crate::config::gateway::GatewayConfig;
use crate::config::logout_cfg::LogoutList;
use crate::config::state_dir::refuse_skipped_acl;
use crate::config::user_cfg::{AclTable, AuthIndex};
use crate::config::{DomainsConfig, StateDir, StateError, TokenOptions, TokenShadow, UserConfig};
use crate::observe::Metrics;
use crate::policy::RouteTable;
use crate::runtime::Runtime;
use crate::upstream::Upstreams;

/// Building a snapshot failed; the message names the file (and line where known).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read `{file}`: {message}")]
    Read { file: String, message: String },
    #[error("`{file}`:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("policy: {0}")]
    Policy(String),
    #[error("invalid identity header name `{0}`")]
    Config(String),
    #[error("tls: `{file}`: {message}")]
    Tls { file: String, message: String },
    /// A route names an unknown upstream, or a service credential cannot be read.
    #[error("upstreams: {0}")]
    Upstreams(String),
}

/// Everything the request path reads, built once from files.
#[derive(Debug)]
pub struct Snapshot {
    /// Counts successful loads, starting at 1.
    pub generation: u64,
    /// The gateway settings this snapshot was built with.
    pub config: Arc<GatewayConfig>,
    /// `user.cfg` without its ACL entries: those live only in `engine` (see
    /// [`Engine::acl_nodes`]), so a million entries are held once, compactly.
    pub user_cfg: UserConfig,
    /// `user_cfg`'s users and tokens hashed by id text, for authentication.
    pub auth_index: AuthIndex,
    /// The permission engine compiled from `user_cfg`.
    pub engine: Engine,
    /// `priv/token.shadow`.
    pub tokens: TokenShadow,
    /// `token-options.cfg`: per-token `allowed-ips` and rate limits (of existing tokens only).
    pub token_options: TokenOptions,
    /// `domains.cfg` (realms; `pam` and `pve` always present).
    pub domains: DomainsConfig,
    /// `logout.cfg`: tickets revoked by `aclgate user logout`.
    pub logout: LogoutList,
    /// The compiled policy routes.
    pub routes: RouteTable,
    /// The server certificate and key, picked per TLS handshake.
    pub tls: Arc<CertifiedKey>,
    /// Lines the lenient readers skipped, as `file:line: message`.
    pub warnings: Vec<String>,
    /// `auth.identity_header`, parsed once.
    pub identity_header: HeaderName,
    /// The upstreams' service credentials, read from their files or environment variables.
    pub service_credentials: crate::config::upstreams::ServiceCredentials,
    /// Token credentials that verified against this snapshot; starts empty in every snapshot
    /// (so a revocation, which makes a new one, bites at once).
    pub verified_tokens: VerifiedTokens,
    /// The upstreams' clients (unchanged endpoints carried over from the previous snapshot).
    pub upstreams: Upstreams,
}

/// The read side: cheap to clone, one per task. A handle to the current snapshot and, beside
/// it, the gateway's [`Runtime`] (metrics, rate-limit buckets, access log: reached through
/// [`SnapshotReader::runtime`] only), which a reload never replaces.
#[derive(Clone)]
pub struct SnapshotReader {
    swap: Arc<ArcSwap<Snapshot>>,
    generation: watch::Receiver<u64>,
    runtime: Arc<Runtime>,
}

// === impl Snapshot ===

impl Snapshot {
    /// Read the state directory, the policies and the TLS files named by `config`.
    pub fn load(config: Arc<GatewayConfig>, generation: u64) -> Result<Snapshot, LoadError> {
        Snapshot::load_with(config, generation, &Metrics::new())
    }

    /// [`Snapshot::load`], the upstreams' metrics in `metrics` (the gateway's).
    pub fn load_with(
        config: Arc<GatewayConfig>,
        generation: u64,
        metrics: &Metrics,
    ) -> Result<Snapshot, LoadError> {
        Snapshot::load_keeping(config, generation, None, &|c| Upstreams::new(c, metrics))
    }

    /// Load the successor of `previous`: as [`Snapshot::load`], except that a damaged
    /// `token-options.cfg` keeps `previous`'s token options (see [`State::load_keeping`]).
    pub fn reload(
        config: Arc<GatewayConfig>,
        generation: u64,
        previous: &Snapshot,
    ) -> Result<Snapshot, LoadError> {
        let upstreams = |c: &GatewayConfig| previous.upstreams.next(c);
        Snapshot::load_keeping(
            config,
            generation,
            Some(&previous.token_options),
            &upstreams,
        )
    }

    fn load_keeping(
        config: Arc<GatewayConfig>,
        generation: u64,
        previous: Option<&TokenOptions>,
        upstreams: &dyn Fn(&GatewayConfig) -> Result<Upstreams, crate::upstream::SetupError>,
    ) -> Result<Snapshot, LoadError> {
        let (
            State {
                user_cfg,
                tokens,
                token_options,
                domains,
                logout,
                warnings,
            },
            acl,
        ) = State::read(&config.state.dir, previous, true, config.state.strict)?;
        let routes =
            RouteTable::load(&config.policies).map_err(|e| LoadError::Policy(e.to_string()))?;
        let tls = crate::config::tls_files::load_certified_key(&config.tls.cert, &config.tls.key)
            .map_err(|e| LoadError::Tls {
            file: e.file,
            message: e.message,
        })?;
        let engine = Engine::build_with(&user_cfg, &acl);
        drop(acl);
        let auth_index = AuthIndex::build(&user_cfg);
        let identity_header = HeaderName::from_bytes(config.auth.identity_header.as_bytes())
            .map_err(|_| LoadError::Config(config.auth.identity_header.clone()))?;
        let named = routes
            .routes()
            .iter()
            .map(|r| (&*r.target.upstream, &*r.source));
        let service_credentials =
            crate::config::upstreams::load_checked(&config, named).map_err(LoadError::Upstreams)?;
        // Last: nothing after it fails, so endpoints it retires are really gone.
        let upstreams = upstreams(&config).map_err(|e| LoadError::Upstreams(e.to_string()))?;
        Ok(Snapshot {
            generation,
            config,
            user_cfg,
            auth_index,
            engine,
            tokens,
            token_options,
            domains,
            logout,
            routes,
            tls: Arc::new(tls),
            warnings,
            identity_header,
            service_credentials,
            verified_tokens: VerifiedTokens::new(),
            upstreams,
        })
    }

    /// Tokens (of enabled users) whose effective expiry falls within the next 7 days.
    pub fn tokens_expiring_soon(&self, now: u64) -> usize {
        let horizon = now + 7 * 24 * 3600;
        let soon = |t: u64| t != 0 && t >= now && t <= horizon;
        self.user_cfg
            .users
            .values()
            .filter(|u| u.enable)
            .flat_map(|u| u.tokens.values().map(move |t| (u.expire, t.expire)))
            .filter(|&(ue, te)| {
                let effective = match (ue, te) {
                    (0, t) | (t, 0) => t,
                    (a, b) => a.min(b),
                };
                soon(effective)
            })
            .count()
    }
}

/// The state directory's contents, without routes or TLS (for `explain` and `check-config`).
#[derive(Debug)]
pub struct State {
    /// `user.cfg` (only `root@pam` if the file is missing).
    pub user_cfg: UserConfig,
    /// `priv/token.shadow` (empty if missing).
    pub tokens: TokenShadow,
    /// `token-options.cfg` (empty if missing). Read strictly: a damaged file refuses the load,
    /// so a reload keeps the previous options rather than dropping restrictions.
    pub token_options: TokenOptions,
    /// `domains.cfg` (the defaults if missing).
    pub domains: DomainsConfig,
    /// `logout.cfg` (empty if missing). A damaged file refuses the load: a reload then keeps
    /// the previous list rather than forgetting logouts.
    pub logout: LogoutList,
    /// Skipped lines as `file:line: message`.
    pub warnings: Vec<String>,
}

impl State {
    /// Read `user.cfg`, `priv/token.shadow`, `token-options.cfg`, `domains.cfg` and
    /// `logout.cfg` from `dir`.
    pub fn load(dir: &Path) -> Result<State, LoadError> {
        State::load_keeping(dir, None, false)
    }

    /// As [`State::load`], but a damaged `token-options.cfg` keeps `previous` (the running
    /// snapshot's options, of tokens that still exist) and adds a warning instead of failing:
    /// everything else, above all a revoked or deleted token, must still take effect. With
    /// `strict`, skipped `acl` lines in `user.cfg` refuse the state (`state.strict`).
    pub fn load_keeping(
        dir: &Path,
        previous: Option<&TokenOptions>,
        strict: bool,
    ) -> Result<State, LoadError> {
        State::read(dir, previous, false, strict).map(|(state, _)| state)
    }

    /// [`State::load_keeping`]; with `split`, user.cfg's ACL entries are answered in compact
    /// form beside the state instead of in `user_cfg.acl` (the gateway's load).
    fn read(
        dir: &Path,
        previous: Option<&TokenOptions>,
        split: bool,
        strict: bool,
    ) -> Result<(State, AclTable), LoadError> {
        let state_dir = StateDir::new(dir);
        let read = if split {
            state_dir.load_split()
        } else {
            state_dir.load().map(|l| (l, AclTable::default()))
        };
        let (loaded, acl) = read
            .and_then(|(l, acl)| {
                if strict {
                    refuse_skipped_acl(&state_dir.user_cfg_path(), &l.skipped_acl)?;
                }
                Ok((l, acl))
            })
            .map_err(|e| LoadError::Read {
                file: dir.display().to_string(),
                message: e.to_string(),
            })?;
        let read_error = |file: std::path::PathBuf, message: String| LoadError::Read {
            file: file.display().to_string(),
            message,
        };
        let (domains, domain_warnings) = state_dir
            .load_domains()
            .map_err(|e| read_error(state_dir.domains_cfg_path(), e.to_string()))?;
        let logout = LogoutList::read(&state_dir)
            .map_err(|e| read_error(LogoutList::path(&state_dir), e.to_string()))?;
        let mut warnings = Vec::new();
        let (token_options, option_warnings) = match state_dir.load_token_options(&loaded.user_cfg)
        {
            Ok(read) => read,
            Err(e) => {
                let err = match e {
                    StateError::Invalid {
                        path,
                        line,
                        message,
                    } => LoadError::Invalid {
                        file: path.display().to_string(),
                        line,
                        message,
                    },
                    other => read_error(state_dir.token_options_path(), other.to_string()),
                };
                let Some(previous) = previous else {
                    return Err(err);
                };
                tracing::error!(error = %err, "keeping the previous token options until the file is fixed");
                warnings.push(format!(
                    "{err} (the previous token options stay in force until the file is fixed)"
                ));
                let mut kept = previous.clone();
                kept.retain(|id| loaded.user_cfg.token(id).is_some());
                (kept, Vec::new())
            }
        };
        let domains_file = state_dir.domains_cfg_path();
        let domains_file = domains_file.display();
        warnings.extend(
            domain_warnings
                .iter()
                .map(|w| format!("{domains_file}:{}: {}", w.line, w.message)),
        );
        let user_file = state_dir.user_cfg_path();
        let shadow_file = state_dir.token_shadow_path();
        let options_file = state_dir.token_options_path();
        for (file, list) in [
            (&user_file, &loaded.user_cfg_warnings),
            (&shadow_file, &loaded.token_warnings),
            (&options_file, &option_warnings),
        ] {
            let file = file.display();
            warnings.extend(
                list.iter()
                    .map(|w| format!("{file}:{}: {}", w.line, w.message)),
            );
        }
        let state = State {
            user_cfg: loaded.user_cfg,
            tokens: loaded.tokens,
            token_options,
            domains,
            logout,
            warnings,
        };
        Ok((state, acl))
    }
}

// === impl SnapshotReader ===

impl SnapshotReader {
    /// Pair a swap with its generation channel (called by `reload.rs` only).
    pub(crate) fn new(
        swap: Arc<ArcSwap<Snapshot>>,
        generation: watch::Receiver<u64>,
        runtime: Arc<Runtime>,
    ) -> SnapshotReader {
        SnapshotReader {
            swap,
            generation,
            runtime,
        }
    }

    /// The current snapshot. Call once per request and keep the `Arc`.
    pub fn load(&self) -> Arc<Snapshot> {
        self.swap.load_full()
    }

    /// The generation of the current snapshot.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Wait until the generation is at least `generation`.
    pub async fn wait_for_generation(&self, generation: u64) {
        let mut rx = self.generation.clone();
        // A closed channel means the reload task ended: nothing will change any more.
        let _ = rx.wait_for(|g| *g >= generation).await;
    }

    /// The gateway's runtime state (shared by every clone of this reader).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expiring_soon_table() {
        let now = 1_000_000;
        let day = 24 * 3600;
        // (user enable, user expire, token expire, counted)
        let cases = [
            (true, 0, 0, false),
            (true, 0, now + day, true),
            (true, 0, now + 8 * day, false),
            (true, now + day, 0, true),
            (true, now + 30 * day, now + 2 * day, true),
            (true, now + 2 * day, now + 30 * day, true),
            (true, 0, now - 1, false),
            (false, 0, now + day, false),
        ];
        for (enable, user_expire, token_expire, want) in cases {
            let text = format!(
                "user:joe@pve:{}:{user_expire}:::::\ntoken:joe@pve!t1:{token_expire}:1::\n",
                u8::from(enable)
            );
            let (user_cfg, _) = UserConfig::parse(&text);
            let snapshot = Snapshot {
                generation: 1,
                config: Arc::new(GatewayConfig::default()),
                engine: Engine::build(&user_cfg),
                auth_index: AuthIndex::build(&user_cfg),
                user_cfg,
                tokens: TokenShadow::default(),
                token_options: TokenOptions::default(),
                domains: DomainsConfig::parse("").0,
                logout: LogoutList::default(),
                routes: RouteTable::from_str("empty", "").unwrap(),
                tls: Arc::new(test_key()),
                warnings: Vec::new(),
                identity_header: HeaderName::from_static("x-aclgate-authid"),
                service_credentials: Default::default(),
                verified_tokens: VerifiedTokens::new(),
                upstreams: Upstreams::new(&GatewayConfig::default(), &Metrics::new()).unwrap(),
            };
            assert_eq!(
                snapshot.tokens_expiring_soon(now) == 1,
                want,
                "enable={enable} user_expire={user_expire} token_expire={token_expire}"
            );
        }
    }

    fn test_key() -> CertifiedKey {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der =
            rustls::pki_types::PrivateKeyDer::try_from(generated.key_pair.serialize_der()).unwrap();
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
        CertifiedKey::new(vec![generated.cert.der().clone()], signer)
    }
}
