//! `aclgate policy`: `list` and `show NAME` print the built-in policies (an operator's starting
//! point for their own), `import-pve FILE [-o OUT]` turns Proxmox's API permission dump into a
//! policy file.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::policy::builtin::{self, BUILTINS};
use crate::policy::{ImportFilter, RouteTable, import_pve_filtered};

/// `aclgate policy ...`
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// List the policies built into the binary (`builtin:NAME`).
    List,
    /// Print a built-in policy's file, e.g. to start your own from it.
    Show {
        /// `pve`, `access`, `example` (or `builtin:pve` ...).
        name: String,
    },
    /// Turn a Proxmox VE API permission dump (JSON) into a policy file.
    ImportPve {
        /// The dump: a JSON array of {method, path, permissions, allowtoken, parameters}.
        file: PathBuf,
        /// Write the policy here (atomically) instead of to standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Import only endpoints under this path (relative to /api2/json; repeatable).
        #[arg(long = "only", value_name = "PREFIX")]
        only: Vec<String>,
        /// Skip endpoints under this path (relative to /api2/json; repeatable), e.g. `/access`
        /// and `/pools`, which aclgate answers itself (policies/access.toml).
        #[arg(long = "exclude", value_name = "PREFIX")]
        exclude: Vec<String>,
    },
}

/// Run `aclgate policy ...`.
pub fn run(args: PolicyArgs) -> ExitCode {
    match args.command {
        PolicyCommand::List => list(),
        PolicyCommand::Show { name } => match builtin::find(&name) {
            Some(b) => print(b.text),
            None => {
                eprintln!(
                    "aclgate policy show: no built-in policy `{name}` (there are: {})",
                    builtin::names()
                );
                ExitCode::FAILURE
            }
        },
        PolicyCommand::ImportPve {
            file,
            output,
            only,
            exclude,
        } => match import(&file, output.as_deref(), &ImportFilter { only, exclude }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("aclgate policy import-pve: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// One line per built-in policy: name, routes, what it covers, where its source lives.
fn list() -> ExitCode {
    let mut text = String::new();
    for b in BUILTINS {
        // The embedded policies are compiled by the tests; a count is only missing if one broke.
        let routes = RouteTable::from_str(b.name, b.text).map_or(0, |t| t.len());
        text.push_str(&format!(
            "builtin:{:<8} {routes:>4} routes  {} ({})\n",
            b.name, b.summary, b.source
        ));
    }
    print(&text)
}

fn print(text: &str) -> ExitCode {
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aclgate policy: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(
    file: &std::path::Path,
    output: Option<&std::path::Path>,
    filter: &ImportFilter,
) -> Result<(), String> {
    let json = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    let text = import_pve_filtered(&json, filter).map_err(|e| e.to_string())?;
    // Never write a file the gateway would refuse to load.
    let table = RouteTable::from_str("generated policy", &text).map_err(|e| e.to_string())?;
    match output {
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}"))?,
        Some(out) => write_atomically(out, &text)
            .map_err(|e| format!("cannot write `{}`: {e}", out.display()))?,
    }
    eprintln!("imported {} routes", table.len());
    Ok(())
}

/// Temp file in the same directory, then rename: readers never see half a policy.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
