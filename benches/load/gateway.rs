//! Runs `aclgate serve` for the load script until the lead wires `serve` into the binary:
//! `load_gateway [--state-dir DIR] [serve options]`.

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    serve: aclgate::cli::serve::ServeArgs,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    aclgate::cli::serve::serve(args.serve, args.state_dir)
}
