//! `aclgate serve`: resolve the settings (config file, then flags), prepare the certificate,
//! build the runtime, bind the listeners and run the gateway until SIGTERM / Ctrl-C.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{check_config, sd_notify};
use crate::access_api::ApiServices;
use crate::config::gateway::{GatewayConfig, GatewayConfigError, LogFormat, find_config};
use crate::config::listeners::RuntimeModel;
use crate::config::reloadable::ConfigSource;
use crate::observe::{AccessLog, FlushGuard, LogWriter, Metrics};
use crate::reload;
use crate::runtime::Runtime;
use crate::server::{self, Listeners, ShardListeners, bind_reuseport, tls};

/// Where the settings come from; shared by `serve`, `check-config` and `explain`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Gateway settings file (default: `./aclgate.toml`, else `/etc/aclgate/aclgate.toml`,
    /// whichever exists, else built-in defaults).
    #[arg(long, env = "ACLGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Policy file, or a built-in policy `builtin:NAME` (repeatable; replaces the configured
    /// list; see `aclgate policy list`).
    #[arg(long = "policy", value_name = "FILE|builtin:NAME")]
    pub policies: Vec<PathBuf>,
}

/// `aclgate serve` options; each overrides the config file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// HTTPS listen address (default 127.0.0.1:8006).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Plain-HTTP listen address (for use behind a TLS-terminating load balancer).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// Admin listen address for `/metrics`.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Upstream base URL (default http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Server certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Worker threads (each a runtime of its own unless `listeners.runtime = "shared"`).
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<usize>,
}

/// Run `aclgate serve`. `state_dir` is the global `--state-dir` flag if given (it overrides
/// `state.dir` from the config file).
pub fn serve(args: ServeArgs, state_dir: Option<PathBuf>) -> ExitCode {
    // Every reload reads the settings again, the same way (see `config::reloadable`).
    let source: ConfigSource = {
        let (args, state_dir) = (args.clone(), state_dir.clone());
        Arc::new(move || settings(&args, state_dir.clone()))
    };
    let config = match prepare(&args, state_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aclgate serve: {e}");
            return ExitCode::from(2);
        }
    };
    // Flushed when dropped at the end of `serve`.
    let (_log_guard, access_log) = init_logging(config.log_format);
    // Per core: this thread's runtime is the first worker; `server` starts the others.
    let runtime = if config.worker_threads == 1 || per_core(&config) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aclgate serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, source, access_log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("aclgate serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolve the settings: config file ([`find_config`]), then the flags; generate the
/// self-signed certificate if needed, once everything else has loaded.
pub fn prepare(args: &ServeArgs, state_dir: Option<PathBuf>) -> Result<GatewayConfig, String> {
    let config = settings(args, state_dir).map_err(|e| e.to_string())?;
    if !config.tls.self_signed || config.tls.cert.exists() || config.tls.key.exists() {
        return Ok(config);
    }
    // First start: nothing is written before the configuration is known to be valid, so load
    // everything against a throwaway pair before generating the real one.
    check_config::preflight(&config)?;
    if tls::ensure_self_signed(&config.tls.cert, &config.tls.key)
        .map_err(|e| format!("cannot write a self-signed certificate: {e}"))?
    {
        eprintln!(
            "aclgate: generated a self-signed certificate `{}` (key `{}`)",
            config.tls.cert.display(),
            config.tls.key.display()
        );
    }
    Ok(config)
}

/// The settings `serve` runs with: the config file and the command-line overrides, validated.
/// Read again on every reload (the reloadable ones take effect).
fn settings(
    args: &ServeArgs,
    state_dir: Option<PathBuf>,
) -> Result<GatewayConfig, GatewayConfigError> {
    let mut config = resolve(&args.config, state_dir)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if args.http_listen.is_some() {
        config.http_listen = args.http_listen;
    }
    if args.admin_listen.is_some() {
        config.admin_listen = args.admin_listen;
    }
    if let Some(u) = &args.upstream {
        config.upstream.url = u.clone();
    }
    if let Some(c) = &args.tls_cert {
        config.tls.cert = c.clone();
    }
    if let Some(k) = &args.tls_key {
        config.tls.key = k.clone();
    }
    if let Some(n) = args.worker_threads {
        config.worker_threads = n;
    }
    config.validate()?;
    Ok(config)
}

/// Load the config file named by `args` (or found by [`find_config`]) and apply `--policy` and
/// the state-dir flag.
pub fn resolve(
    args: &ConfigArgs,
    state_dir: Option<PathBuf>,
) -> Result<GatewayConfig, GatewayConfigError> {
    let mut config = match find_config(args.config.as_deref()) {
        Some(p) => GatewayConfig::load(&p)?,
        None => GatewayConfig::default(),
    };
    if !args.policies.is_empty() {
        config.policies = args.policies.clone();
    }
    if let Some(d) = state_dir {
        config.state.dir = d;
    }
    Ok(config)
}

async fn run(
    config: GatewayConfig,
    source: ConfigSource,
    access_log: AccessLog,
) -> Result<(), String> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    // backend = "etcd": state.dir becomes the local mirror of etcd (src/store/follow.rs).
    let mirror = match config.state.backend {
        crate::config::store::Backend::Etcd => Some(
            crate::store::follow::Mirror::prepare(
                &config,
                Arc::new(super::store::TicketKeys(config.tickets.algorithm)),
            )
            .map_err(|e| format!("cannot load the state from etcd: {e}"))?,
        ),
        crate::config::store::Backend::Files => None,
    };
    let runtime = Runtime::new(metrics.clone()).with_access_log(access_log);
    let (reader, handle) = reload::start_with_source(config.clone(), runtime, Some(source))
        .map_err(|e| format!("cannot start: {e}"))?;
    let fleet = match mirror {
        Some(mirror) => Some(
            mirror
                .follow(handle.clone(), tokio::runtime::Handle::current(), metrics)
                .map_err(|e| format!("cannot follow etcd: {e}"))?,
        ),
        None => None,
    };
    // The watcher needs the directory to exist, so that `aclgate user ...` run later on a fresh
    // state directory is picked up.
    std::fs::create_dir_all(&config.state.dir).map_err(|e| {
        format!(
            "cannot create state directory `{}`: {e}",
            config.state.dir.display()
        )
    })?;
    // On etcd the mirror changes only through the follower, which reloads itself (a file
    // event would only add a debounce delay to every change).
    let _watcher = match config.state.backend {
        crate::config::store::Backend::Files => Some(
            reload::watch_files(handle.clone(), &config)
                .map_err(|e| format!("cannot watch files: {e}"))?,
        ),
        crate::config::store::Backend::Etcd => None,
    };
    // CLI writes on this host hand their changes over here (docs/scale.md); without it (say, a
    // read-only state directory) the file watch still loads every change.
    let _control = reload::control::listen(
        handle.clone(),
        &crate::config::StateDir::new(&config.state.dir),
    )
    .map_err(|e| tracing::warn!(error = %e, "no control socket; CLI changes arrive through the file watch"))
    .ok();
    let services = Arc::new(
        ApiServices::open(&config, handle.clone(), fleet)
            .map_err(|e| format!("cannot open the ticket keys: {e}"))?,
    );
    let weak = Arc::downgrade(&services);
    handle.on_reload(move || {
        if let Some(services) = weak.upgrade() {
            services.refresh();
        }
    });
    let _scheduler = crate::access_api::admin::sync_task::spawn_scheduler(services.clone());
    #[cfg(unix)]
    reload::spawn_sighup(handle).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;

    let (listeners, more) = bind_listeners(&config).await?;
    // The addresses as bound: a configured port 0 is the port the kernel chose.
    let serving = serving_on(&listeners);
    tracing::info!(
        on = %serving,
        upstream = %config.upstream.url,
        generation = reader.generation(),
        "aclgate serving"
    );
    // Once every worker runs, Type=notify units start their dependents (`systemctl status`
    // shows the STATUS line); outside systemd this does nothing.
    let ready = || sd_notify::notify(&format!("READY=1\nSTATUS=serving on {serving}"));
    let shutdown = async {
        shutdown_signal().await;
        sd_notify::notify("STOPPING=1");
    };
    server::run_per_core(listeners, more, reader, Some(services), ready, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// `https://ADDR` of the TLS listener, then `http://ADDR` and `admin http://ADDR` of the
/// others that are configured, comma-separated.
fn serving_on(listeners: &Listeners) -> String {
    let kinds = [
        ("https://", &listeners.tls),
        ("http://", &listeners.http),
        ("admin http://", &listeners.admin),
    ];
    let on: Vec<String> = kinds
        .into_iter()
        .filter_map(|(kind, l)| {
            let addr = l.as_ref()?.local_addr().ok()?;
            Some(format!("{kind}{addr}"))
        })
        .collect();
    on.join(", ")
}

/// Whether `worker_threads` are single-threaded runtimes of their own ([`RuntimeModel`]).
fn per_core(config: &GatewayConfig) -> bool {
    config.worker_threads > 1 && config.listeners.runtime == RuntimeModel::PerCore
}

/// The listeners of this runtime, and per core those of each further worker (`SO_REUSEPORT`
/// sockets for the same addresses).
async fn bind_listeners(
    config: &GatewayConfig,
) -> Result<(Listeners, Vec<ShardListeners>), String> {
    let cannot = |addr: SocketAddr| move |e| format!("cannot listen on {addr}: {e}");
    let admin = match config.admin_listen {
        Some(a) => Some(TcpListener::bind(a).await.map_err(cannot(a))?),
        None => None,
    };
    if !per_core(config) {
        let bind =
            |addr: SocketAddr| async move { TcpListener::bind(addr).await.map_err(cannot(addr)) };
        let http = match config.http_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let tls = Some(bind(config.listen).await?);
        return Ok((Listeners { tls, http, admin }, Vec::new()));
    }
    let n = config.worker_threads;
    let mut more: Vec<ShardListeners> = (1..n).map(|_| ShardListeners::default()).collect();
    let (tls, tls_more) = bind_reuseport(config.listen, n).map_err(cannot(config.listen))?;
    for (shard, l) in more.iter_mut().zip(tls_more) {
        shard.tls = Some(l);
    }
    let http = match config.http_listen {
        Some(a) => {
            let (first, others) = bind_reuseport(a, n).map_err(cannot(a))?;
            for (shard, l) in more.iter_mut().zip(others) {
                shard.http = Some(l);
            }
            Some(first)
        }
        None => None,
    };
    let listeners = Listeners {
        tls: Some(tls),
        http,
        admin,
    };
    Ok((listeners, more))
}

/// Completes on SIGTERM or Ctrl-C (the handlers are installed on the first poll).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Log to stderr through [`LogWriter`]: lines are batched, so a request never waits for a
/// `write` syscall. Answers where access lines go.
fn init_logging(format: LogFormat) -> (FlushGuard, AccessLog) {
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = LogWriter::start();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = writer.clone();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(move || lines.clone());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A subscriber set by the caller (e.g. main) wins and gets the access events too. Else the
    // access lines skip tracing (same text, a fraction of the cost), except coloured ones.
    let access_log = if installed.is_ok() && !(ansi && format == LogFormat::Text) {
        AccessLog::direct(writer, format)
    } else {
        AccessLog::tracing()
    };
    (guard, access_log)
}
