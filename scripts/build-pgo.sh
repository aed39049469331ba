#!/usr/bin/env bash
# A profile-guided (PGO) release build of aclgate, into target/pgo/aclgate:
#   1. build aclgate instrumented (rustc -Cprofile-generate);
#   2. run it under a short training load: API-token requests checked and forwarded over
#      HTTP/1.1 (wrk) and HTTP/2 with one and ten streams per connection (h2load), plus denied
#      ones, against the load-test upstream (benches/load/upstream.rs); then stop it with
#      SIGTERM, which writes its profile;
#   3. merge the profile (llvm-profdata, from rustup's llvm-tools component) and build again
#      with it (rustc -Cprofile-use).
# The compiler then lays out and inlines the request path by how it ran: 12-15% less CPU per
# request than the plain release build (docs/gateway.md, "Load, session 25"). From a fresh
# checkout, three release builds (the upstream example's, the instrumented one, the final one):
# 20-30 minutes on two cores (30 on a fresh machine, downloads included). A second run
# rebuilds what changed, trains again and builds what changed with the new profile.
#
# Needs: rustup (for llvm-tools), wrk and h2load (Debian: `apt-get install wrk nghttp2-client`),
# python3. Run from anywhere; the result is target/pgo/aclgate (or $CARGO_TARGET_DIR/pgo/aclgate).
# Use it like the release binary; `ACLGATE=target/pgo/aclgate benches/load/run.sh` measures it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET/pgo
PROFILES=$OUT/profiles
PORT_BASE=${PORT_BASE:-19500}

for tool in wrk h2load python3 rustup; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nghttp2-client python3)" >&2; exit 1; }
done
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    rustup component add llvm-tools
fi

# 1. Instrumented; in a target directory of its own, as RUSTFLAGS differ from the plain build.
# The upstream is an ordinary release build (its profile is not wanted).
rm -rf "$PROFILES"
mkdir -p "$PROFILES"
cargo build --release --locked -q --example load_upstream
RUSTFLAGS="-Cprofile-generate=$PROFILES" CARGO_TARGET_DIR=$OUT/generate \
    cargo build --release --locked -q --bin aclgate
GEN=$OUT/generate/release/aclgate

# 2. Training: the load test's state, policy and upstream (benches/load/common.sh), the token
# granted on /vms/100 only, so that /vms/200 gives 403s.
# shellcheck source=../benches/load/common.sh
. "$ROOT/benches/load/common.sh"
load_begin
load_state "$GEN" "$WORK/state" /vms/100
load_policy "$WORK/policies/train.toml"
P_UP=$((PORT_BASE + 1))
P_GW=$((PORT_BASE + 2))
"$TARGET/release/examples/load_upstream" "127.0.0.1:$P_UP" &
PIDS+=("$!")
wait_port "$P_UP"
(cd "$WORK" && LLVM_PROFILE_FILE="$PROFILES/gateway-%p.profraw" exec "$GEN" serve \
    --state-dir "$WORK/state" --policy "$WORK/policies/train.toml" \
    --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP" \
    --worker-threads 1 2>"$WORK/gateway.log") &
GW=$!
PIDS+=("$GW")
wait_port "$P_GW"
base=https://127.0.0.1:$P_GW/api2/json/nodes/n1/qemu
echo "training: HTTP/1.1, HTTP/2 (1 and 10 streams), denials" >&2
wrk -t2 -c64 -d6s -H "$AUTH" "$base/100/status/current" >/dev/null
h2load -c64 -t2 -m1 -D4 -H "$AUTH" "$base/100/status/current" >/dev/null
h2load -c64 -t2 -m10 -D4 -H "$AUTH" "$base/100/status/current" >/dev/null
# Not granted on /vms/200: 403s (a wrong secret would wait out the 3 s failure delay).
wrk -t2 -c16 -d2s -H "$AUTH" "$base/200/status/current" >/dev/null
kill -TERM "$GW"
wait "$GW" || true
ls "$PROFILES"/gateway-*.profraw >/dev/null 2>&1 || { echo "the gateway wrote no profile" >&2; exit 1; }

# 3. Merge and build with the profile.
"$profdata" merge -o "$OUT/aclgate.profdata" "$PROFILES"/gateway-*.profraw
RUSTFLAGS="-Cprofile-use=$OUT/aclgate.profdata" CARGO_TARGET_DIR=$OUT/use \
    cargo build --release --locked -q --bin aclgate
cp "$OUT/use/release/aclgate" "$OUT/aclgate"
echo "$OUT/aclgate"
