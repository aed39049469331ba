#!/usr/bin/env bash
# Build the Debian package into target/debian/ (or `-o DIR`): the binary, then the man pages
# and shell completions generated from it, then cargo-deb (`cargo install --locked cargo-deb`).
#
#   bash packaging/build-deb.sh                  # release build + package
#   bash packaging/build-deb.sh --no-build --profile dev --fast   # package an existing build
#   bash packaging/build-deb.sh --pgo            # profile-guided build (scripts/build-pgo.sh)
#                                                # + package, into target/pgo/use/debian/
#
# Every other option goes to cargo-deb. CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=1
pgo=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="$2"; args+=(--profile "$2"); shift 2 ;;
        --no-build) build=; shift ;;
        --pgo) pgo=1; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
cargo deb --version >/dev/null 2>&1 || { echo "cargo-deb missing: cargo install --locked cargo-deb" >&2; exit 1; }

if [ -n "$pgo" ]; then
    # build-pgo.sh's last build is an ordinary release layout in target/pgo/use.
    bash scripts/build-pgo.sh
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/pgo/use"
    build=
fi
if [ -n "$build" ]; then
    cargo build --locked --profile "$profile" --bin aclgate
fi
case "$profile" in dev) profile_dir=debug ;; *) profile_dir=$profile ;; esac
out="${CARGO_TARGET_DIR:-target}/$profile_dir"
bin="$out/aclgate"
[ -x "$bin" ] || { echo "no binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

# cargo-deb reads these as target/release/packaging/... (its name for the profile's directory).
gen="$out/packaging"
rm -rf "$gen"
mkdir -p "$gen/completions"
"$bin" man --dir "$gen/man"
gzip -9n "$gen"/man/*.1
"$bin" completions bash > "$gen/completions/aclgate"
"$bin" completions zsh > "$gen/completions/_aclgate"
"$bin" completions fish > "$gen/completions/aclgate.fish"

cargo deb --locked --no-build "${args[@]}"
