//! The `aclgate` command line: the gateway (`serve`, `check-config`, `explain`, `policy`),
//! `import-pve`, operator conveniences (`completions`, `man`), and the pveum-compatible
//! management commands (`user`, `user token`, `group`,
//! `role`, `acl`, `pool`, `realm`, `passwd` and pveum's aliases).
//!
//! Like pveum, options may be written `-name` as well as `--name`, and any unambiguous prefix
//! of an option works (`-user` for `--users`), so Proxmox documentation examples run verbatim.
//! Every change goes through [`StateDir::modify`]: lock, re-read, validate, write atomically;
//! bad input gets a message on stderr, a non-zero exit and no change.

mod acl;
mod cert;
mod completions;
mod group;
mod import;
mod man;
mod oathkeygen;
mod output;
mod passwd;
mod permissions;
mod pool;
mod prompt;
mod realm;
mod role;
mod sd_notify;
mod store;
mod syntax;
mod table;
mod tfa;
mod ticket;
mod token;
mod user;
mod user_logout;
mod value;
mod yaml;

pub mod check_config;
pub mod explain;
pub mod policy;
pub mod serve;

/// What `serve` hands the etcd mirror to keep the fleet's ticket keys (tests start fleets
/// in-process with it).
pub use store::TicketKeys;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::gateway::{GatewayConfig, find_config};
use crate::config::{StateDir, StateError};
use output::{FormatArgs, Printer};

/// `aclgate --version`: the package version and, for a build from a git checkout, the commit
/// (`build.rs`).
pub const VERSION: &str = env!("ACLGATE_VERSION");

/// Run the command line given by `args` (including the program name).
pub fn run(args: Vec<OsString>) -> ExitCode {
    let command = with_prefix_inference(Cli::command());
    let matches = match command.try_get_matches_from(value::join_repeated_lists(pveum_style(args)))
    {
        Ok(m) => m,
        Err(e) => {
            // Help and version go to stdout with success; syntax errors to stderr in pveum's
            // words with its exit code 255.
            if let Some(message) = syntax::pveum_message(&e) {
                eprint!("{message}");
                return ExitCode::from(255);
            }
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    // The gateway commands let `state.dir` in aclgate.toml apply unless a flag or env gave one.
    let explicit_state_dir = matches!(
        matches.value_source("state_dir"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
    .then(|| cli.state_dir.clone());
    let command = match cli.command {
        // `serve` sets up its own (buffered) logging.
        Command::Serve(args) => return serve::serve(args, explicit_state_dir),
        Command::CheckConfig(args) => {
            init_tracing();
            return check_config::check_config(args, explicit_state_dir);
        }
        Command::Explain(args) => {
            init_tracing();
            return explain::explain(args, explicit_state_dir);
        }
        Command::Policy(args) => {
            init_tracing();
            return policy::run(args);
        }
        Command::Cert(args) => return cert::run(args),
        Command::Completions(args) => return completions::run(&args, Cli::command()),
        Command::Man(args) => return man::run(&args, Cli::command()),
        Command::Store(args) => {
            init_tracing();
            return store::run(args);
        }
        other => other,
    };
    init_tracing();
    // On `backend = "etcd"` every management command runs on a copy of the state read at one
    // revision and commits what it changed (src/store/mod.rs).
    match store::management_store(explicit_state_dir.as_deref()) {
        Ok(None) => {}
        Ok(Some(etcd)) => {
            let out = Printer::held(cli.format);
            let committed = out.clone();
            return store::run_through(&etcd, &committed, |state| {
                dispatch(
                    command,
                    &Ctx {
                        state: state.clone(),
                        out,
                    },
                )
            });
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(255);
        }
    }
    let state_dir = match management_state_dir(explicit_state_dir, cli.state_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(255);
        }
    };
    if let Err(e) = act_as_state_owner(&state_dir) {
        eprintln!("{e}");
        return ExitCode::from(255);
    }
    let ctx = Ctx {
        // Writes are handed to the running gateways as well (reload/control.rs).
        state: {
            let state = StateDir::new(state_dir);
            let notifier = crate::reload::control::notifier(&state);
            state.with_notifier(notifier)
        },
        out: Printer::new(cli.format),
    };
    match dispatch(command, &ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            // pveum dies with Perl's exit code 255.
            ExitCode::from(255)
        }
    }
}

/// What every command needs: where the state is and how to print.
pub(crate) struct Ctx {
    pub state: StateDir,
    pub out: Printer,
}

#[derive(Debug, Parser)]
#[command(
    name = "aclgate",
    version = VERSION,
    about = "Proxmox VE access control in front of any HTTP API",
    propagate_version = true
)]
struct Cli {
    /// The state directory (user.cfg, domains.cfg, priv/).
    #[arg(
        long,
        global = true,
        env = "ACLGATE_STATE_DIR",
        default_value = "./state",
        value_name = "DIR"
    )]
    state_dir: PathBuf,
    #[command(flatten)]
    format: FormatArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(serve::ServeArgs),
    /// Load everything (state, policies, config, TLS); print every warning; exit 1 on errors.
    CheckConfig(check_config::CheckConfigArgs),
    /// Show the route, the check and the decision for one request, and what decided it.
    Explain(explain::ExplainArgs),
    /// Built-in policies (`policy list`, `policy show NAME`) and `policy import-pve FILE`.
    Policy(policy::PolicyArgs),
    /// Generate the self-signed TLS pair without starting the gateway (`cert self-signed`).
    Cert(cert::CertArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print the manual page, or write all of them into a directory (`--dir`).
    Man(man::ManArgs),
    /// The state store: `migrate` between files and etcd, `status`.
    Store(store::StoreArgs),
    /// Manage users and their API tokens.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Manage groups.
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// Manage roles.
    Role {
        #[command(subcommand)]
        command: role::RoleCommand,
    },
    /// Manage access control lists.
    Acl {
        #[command(subcommand)]
        command: acl::AclCommand,
    },
    /// Manage resource pools.
    Pool {
        #[command(subcommand)]
        command: pool::PoolCommand,
    },
    /// Manage authentication realms (domains.cfg).
    Realm {
        #[command(subcommand)]
        command: Box<realm::RealmCommand>,
    },
    /// Change a `pve` realm user's password.
    Passwd(passwd::PasswdArgs),
    /// Log in (password from the terminal or stdin) and print a ticket.
    Ticket(ticket::TicketArgs),
    /// Import a copy of a Proxmox `/etc/pve` into the state directory.
    ImportPve(import::ImportArgs),
    /// Print a new random TOTP secret (16 base32 characters).
    Oathkeygen,
    /// Alias of `user add`.
    Useradd(user::AddArgs),
    /// Alias of `user modify`.
    Usermod(user::ModifyArgs),
    /// Alias of `user delete`.
    Userdel(user::DeleteArgs),
    /// Alias of `group add`.
    Groupadd(group::GroupArgs),
    /// Alias of `group modify`.
    Groupmod(group::GroupArgs),
    /// Alias of `group delete`.
    Groupdel(group::DeleteArgs),
    /// Alias of `role add`.
    Roleadd(role::AddArgs),
    /// Alias of `role modify`.
    Rolemod(role::ModifyArgs),
    /// Alias of `role delete`.
    Roledel(role::DeleteArgs),
    /// Alias of `acl modify`.
    Aclmod(acl::AclArgs),
    /// Alias of `acl delete`.
    Acldel(acl::AclArgs),
}

fn dispatch(command: Command, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        Command::Serve(_)
        | Command::CheckConfig(_)
        | Command::Explain(_)
        | Command::Policy(_)
        | Command::Cert(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Store(_) => {
            unreachable!("gateway commands return from run() before dispatch")
        }
        Command::User { command } => user::run(command, ctx),
        Command::Group { command } => group::run(command, ctx),
        Command::Role { command } => role::run(command, ctx),
        Command::Acl { command } => acl::run(command, ctx),
        Command::Pool { command } => pool::run(command, ctx),
        Command::Realm { command } => realm::run(*command, ctx),
        Command::Ticket(args) => ticket::run(args, ctx),
        Command::Passwd(args) => passwd::run(args, ctx),
        Command::ImportPve(args) => import::run(args, ctx),
        Command::Oathkeygen => oathkeygen::run(),
        Command::Useradd(args) => user::add(args, ctx),
        Command::Usermod(args) => user::modify(args, ctx),
        Command::Userdel(args) => user::delete(args, ctx),
        Command::Groupadd(args) => group::add(args, ctx),
        Command::Groupmod(args) => group::modify(args, ctx),
        Command::Groupdel(args) => group::delete(args, ctx),
        Command::Roleadd(args) => role::add(args, ctx),
        Command::Rolemod(args) => role::modify(args, ctx),
        Command::Roledel(args) => role::delete(args, ctx),
        Command::Aclmod(args) => acl::update(args, false, ctx),
        Command::Acldel(args) => acl::update(args, true, ctx),
    }
}

/// The management commands' state directory: `--state-dir` or `ACLGATE_STATE_DIR`, else
/// `state.dir` of the configuration file `serve` would use (`ACLGATE_CONFIG`, `./aclgate.toml`,
/// `/etc/aclgate/aclgate.toml`), else `default` (`./state`). So on an installed gateway
/// `aclgate useradd ...` changes the state the service serves, as `pveum` does.
fn management_state_dir(explicit: Option<PathBuf>, default: PathBuf) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    let env = std::env::var_os("ACLGATE_CONFIG").map(PathBuf::from);
    match find_config(env.as_deref()) {
        Some(path) => GatewayConfig::load(&path)
            .map(|c| c.state.dir)
            .map_err(|e| e.to_string()),
        None => Ok(default),
    }
}

/// Root managing a state directory owned by another user (the installed package's
/// `aclgate`, mode 0700) acts as that user, so that every file it writes stays readable by the
/// service. Anyone else, or a directory root owns, changes nothing.
fn act_as_state_owner(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 || meta.uid() == 0 {
        return Ok(());
    }
    let (uid, gid) = (meta.uid(), meta.gid());
    // SAFETY: plain system calls on integers; the group list is emptied before the ids change
    // (gid first: after setuid the process may no longer change its group).
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
    };
    if failed {
        return Err(format!(
            "cannot act as uid {uid}, the owner of `{}`: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// pveum accepts `-name` for `--name`: rewrite single-dash words (two or more letters) before
/// clap sees them. Values that themselves start with `-` and a letter are the one casualty, as
/// with pveum; `--` ends the rewriting.
fn pveum_style(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = false;
    for (i, arg) in args.into_iter().enumerate() {
        let rewrite = match arg.to_str() {
            Some("--") => {
                rest = true;
                false
            }
            Some(s) => {
                let b = s.as_bytes();
                i > 0
                    && !rest
                    && b.len() > 2
                    && b[0] == b'-'
                    && b[1].is_ascii_alphabetic()
                    && b[2] != b'='
            }
            None => false,
        };
        if rewrite {
            let mut long = OsString::from("-");
            long.push(&arg);
            out.push(long);
        } else {
            out.push(arg);
        }
    }
    out
}

/// Let every (sub)command accept unambiguous prefixes of long options, as pveum does.
fn with_prefix_inference(command: clap::Command) -> clap::Command {
    command
        .infer_long_args(true)
        .mut_subcommands(with_prefix_inference)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], want: &[&str]) {
        let args = input.iter().map(OsString::from).collect();
        let got: Vec<OsString> = pveum_style(args);
        let want: Vec<OsString> = want.iter().map(OsString::from).collect();
        assert_eq!(got, want, "pveum_style({input:?})");
    }

    #[test]
    fn single_dash_words_become_long_options() {
        check(
            &["aclgate", "-privsep", "1"],
            &["aclgate", "--privsep", "1"],
        );
        check(&["aclgate", "-h", "-V"], &["aclgate", "-h", "-V"]);
        check(&["aclgate", "--users", "-1"], &["aclgate", "--users", "-1"]);
        check(&["aclgate", "-user=x"], &["aclgate", "--user=x"]);
        check(
            &["aclgate", "--", "-comment"],
            &["aclgate", "--", "-comment"],
        );
    }

    #[test]
    fn the_command_definition_is_consistent() {
        with_prefix_inference(Cli::command()).debug_assert();
    }
}
