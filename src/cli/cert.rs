//! `aclgate cert self-signed`: generate the self-signed pair at the configured `tls.cert` and
//! `tls.key` if neither exists, without starting the gateway. The Debian package runs it at
//! install time, so the hardened service never writes below `/etc`.

use std::process::ExitCode;

use super::serve::{ConfigArgs, resolve};
use crate::server::tls::ensure_self_signed;

/// `aclgate cert` options.
#[derive(Debug, Clone, clap::Args)]
pub struct CertArgs {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
enum CertCommand {
    /// Generate a self-signed pair at `tls.cert` / `tls.key` unless one of them exists.
    SelfSigned {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Run `aclgate cert ...`.
pub fn run(args: CertArgs) -> ExitCode {
    let CertCommand::SelfSigned { config } = args.command;
    let config = match resolve(&config, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aclgate cert: {e}");
            return ExitCode::from(2);
        }
    };
    let (cert, key) = (&config.tls.cert, &config.tls.key);
    match ensure_self_signed(cert, key) {
        Ok(true) => {
            println!(
                "generated `{}` (key `{}`, mode 0600)",
                cert.display(),
                key.display()
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "`{}` or `{}` exists: left alone",
                cert.display(),
                key.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aclgate cert: cannot write `{}`: {e}", cert.display());
            ExitCode::FAILURE
        }
    }
}
