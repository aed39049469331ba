//! The `aclgate` binary: parse the command line and hand over to [`aclgate::cli::run`].

fn main() -> std::process::ExitCode {
    aclgate::cli::run(std::env::args_os().collect())
}
