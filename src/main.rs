//! The `aclgate` binary: parse the command line and hand over to [`aclgate::cli::run`].

/// mimalloc rather than glibc's malloc: 2–4% less CPU per proxied request in the load run
/// (docs/gateway.md). Set here, not in the library, so that the benches may count allocations
/// with an allocator of their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aclgate::cli::run(std::env::args_os().collect())
}
