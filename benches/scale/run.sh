#!/usr/bin/env bash
# Scale benchmark (issue 12, DESIGN.md §4 "At 1M ACL entries"): the real release binary on a
# generated state of USERS users, NGROUPS groups and ENTRIES ACL entries. Reports start time,
# resident memory after start and after RELOADS reloads, reload time, CLI write times and the
# revocation-to-refusal time through the gateway (measure.py says how each is taken).
#
# Knobs: ENTRIES (1000000; 10000000 needs ~ENTRIES*0.2 KiB of free memory at the peak of a reload),
#        USERS (10000), NGROUPS (1000; not GROUPS, which bash reserves), RELOADS (10), REVOCATIONS (10),
#        BIN (default: target/release/aclgate, built here), PORT_BASE (19000: +43, +44),
#        KEEP=1 keeps the work directory, USER_CFG=FILE uses a user.cfg generated before
#        (gen.py with the same sizes) instead of generating one, SETTLE (2: seconds waited
#        after start and after each reload before resident memory is read).
# Needs: python3.
set -euo pipefail

ENTRIES=${ENTRIES:-1000000}
USERS=${USERS:-10000}
NGROUPS=${NGROUPS:-1000}
RELOADS=${RELOADS:-10}
REVOCATIONS=${REVOCATIONS:-10}
PORT_BASE=${PORT_BASE:-19000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/benches/scale
WORK=$(mktemp -d)
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q --bin aclgate)
    BIN=$ROOT/target/release/aclgate
fi

mkdir -p "$WORK/state"
if [ -n "${USER_CFG:-}" ]; then
    cp "$USER_CFG" "$WORK/state/user.cfg"
else
    python3 "$HERE/gen.py" "$USERS" "$NGROUPS" "$ENTRIES" "$WORK/state/user.cfg"
fi
echo "state: $USERS users, $NGROUPS groups, $ENTRIES ACL entries," \
    "user.cfg $(($(stat -c %s "$WORK/state/user.cfg") / 1048576)) MiB"
"$BIN" --state-dir "$WORK/state" user add bench@pve >/dev/null

cat >"$WORK/aclgate.toml" <<TOML
listen = "127.0.0.1:$((PORT_BASE + 43))"
admin_listen = "127.0.0.1:$((PORT_BASE + 44))"
policies = ["$ROOT/policies/access.toml"]
[state]
dir = "$WORK/state"
[tls]
cert = "$WORK/certs/aclgate.crt"
key = "$WORK/certs/aclgate.key"
[auth]
failure_delay_ms = 0
TOML

cd "$WORK"
python3 "$HERE/measure.py" "$BIN" "$WORK" $((PORT_BASE + 43)) $((PORT_BASE + 44)) \
    "$RELOADS" "$REVOCATIONS"
