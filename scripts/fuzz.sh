#!/usr/bin/env bash
# Build the coverage-guided fuzz targets in fuzz/ and run each for a bounded time
# (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to $ACLGATE_FUZZ_SECONDS, else 3; TARGETs default to every file in
# fuzz/fuzz_targets/. Each target starts from its committed seeds (fuzz/corpus/TARGET, read
# only) plus what earlier runs on this machine found (fuzz/corpus-run/TARGET, not committed).
# A crash, panic, failed assertion, out-of-memory or timeout is saved under fuzz/artifacts/TARGET/
# and fails the script after every target has run.
#
# Tooling: libFuzzer (built from source by the libfuzzer-sys crate, so only a C++ compiler is
# needed) driven by plain `cargo build` on the stable toolchain with the coverage flags
# `cargo fuzz build --sanitizer none` passes. Nothing to download but crates; no nightly.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${ACLGATE_FUZZ_SECONDS:-3}}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

# libFuzzer is C++: libfuzzer-sys's build script compiles it with the system C++ compiler.
if ! command -v c++ >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends g++
    else
        echo "fuzz: no C++ compiler (install g++)" >&2
        exit 1
    fi
fi

# The flags of `cargo fuzz build --sanitizer none`: SanitizerCoverage with inline 8-bit
# counters, a PC table and comparison tracing (libFuzzer's coverage feedback), stack depth, and
# `cfg(fuzzing)`. With `--target` they reach only target code, not build scripts or proc macros.
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"
unset CARGO_TARGET_DIR
bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
echo "fuzz: building ${#targets[@]} targets"
(cd fuzz && cargo build --locked --release --target "$triple" "${bin_args[@]}")

failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-run/$t" "fuzz/artifacts/$t" "fuzz/corpus/$t"
    log="fuzz/artifacts/$t/last-run.log"
    echo "fuzz: $t for ${seconds}s"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
    if "fuzz/target/$triple/release/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" "${dict[@]}" \
        "fuzz/corpus-run/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        tail -n 40 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/edges \1, features \2, corpus \3/p' \
        <<<"$done_line")
    summary+=("$(printf '%-16s %-6s runs %-10s %s' "$t" "$status" "${runs:-?}" "$cov")")
done

echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failing targets: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
fi
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
