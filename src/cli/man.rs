//! `aclgate man [--dir DIR]`: the manual pages, generated from the command definition
//! (`clap_mangen`): `aclgate.1` on stdout, or one page per command written into DIR
//! (`aclgate.1`, `aclgate-serve.1`, `aclgate-user-token-add.1` ...), as the Debian package
//! installs them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// `aclgate man` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write every page into this directory instead of printing `aclgate.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print or write the manual pages.
pub fn run(args: &ManArgs, command: clap::Command) -> ExitCode {
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        if let Err(e) = clap_mangen::Man::new(command).render(&mut page) {
            eprintln!("aclgate man: {e}");
            return ExitCode::FAILURE;
        }
        return write_stdout("man", &page);
    };
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(command, dir));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aclgate man: cannot write into `{}`: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Write generated text to stdout; a closed pipe or full disk is an error exit.
pub(super) fn write_stdout(command: &str, bytes: &[u8]) -> ExitCode {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aclgate {command}: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}
