//! `aclgate completions SHELL`: print the shell completion script for bash, zsh, fish (and
//! the other shells `clap_complete` knows), generated from the command definition.

use std::process::ExitCode;

use clap_complete::Shell;

/// `aclgate completions` options.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish, powershell.
    pub shell: Shell,
}

/// Print the completion script for `args.shell` to stdout.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "aclgate", &mut script);
    super::man::write_stdout("completions", &script)
}
