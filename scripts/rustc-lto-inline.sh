#!/bin/sh
# rustc for aclgate's own crates: cargo's `build.rustc-workspace-wrapper` (.cargo/config.toml).
#
# When cargo links a binary with whole-program (fat) LTO, as the release profile does, this
# raises LLVM's inline threshold for that link (from 225 to 1000). That link is where hyper's,
# h2's, rustls' and tokio's request path meets ours; inlining more there takes about 7% of
# the instructions off every request, over HTTP/1.1 and HTTP/2 alike (callgrind;
# docs/gateway.md, "Load, session 27"), for about 3 more minutes of release build. Raising it
# for every crate (RUSTFLAGS) saved 3% more but made the build 2.5 times as long. The
# dependencies and every other build (dev, test, bench) are compiled as cargo asks.
rustc=$1
shift
fat_lto=false
bin=false
prev=
for arg in "$@"; do
    case "$prev $arg" in
        "-C lto=fat" | *" -Clto=fat") fat_lto=true ;;
        "--crate-type bin") bin=true ;;
    esac
    prev=$arg
done
if [ "$fat_lto" = true ] && [ "$bin" = true ]; then
    exec "$rustc" "$@" -C llvm-args=-inline-threshold=1000
fi
exec "$rustc" "$@"
