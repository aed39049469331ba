# What benches/load/run.sh and scripts/build-pgo.sh share: sourced, not run.
#
# load_begin                  a work directory in WORK, PIDS to stop on exit, and the trap
# wait_port PORT              until 127.0.0.1:PORT accepts (30 s at most)
# load_state GATEWAY STATE ACL_PATH
#                             the documentation's monitoring example in STATE: joe@pve (PVEVMAdmin
#                             on /vms), his privilege-separated token `monitoring` with PVEAuditor
#                             on ACL_PATH; sets AUTH to the token's Authorization header
# load_policy FILE            the one route both measure: GET .../qemu/{vmid}/status/current,
#                             VM.Audit on /vms/{vmid}

load_begin() {
    WORK=$(mktemp -d)
    PIDS=()
    trap load_cleanup EXIT
}

load_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

wait_port() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    exit 1
}

load_state() {
    local gateway=$1 state=$2 acl_path=$3 secret
    # An instrumented gateway (scripts/build-pgo.sh) would profile these set-up commands too.
    _load_cli() { LLVM_PROFILE_FILE=/dev/null "$gateway" --state-dir "$state" "$@"; }
    _load_cli useradd joe@pve >/dev/null
    _load_cli aclmod /vms -user joe@pve -role PVEVMAdmin >/dev/null
    secret=$(_load_cli user token add joe@pve monitoring -privsep 1 --output-format json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
    _load_cli aclmod "$acl_path" -token 'joe@pve!monitoring' -role PVEAuditor >/dev/null
    AUTH="Authorization: PVEAPIToken=joe@pve!monitoring=$secret"
}

load_policy() {
    mkdir -p "$(dirname "$1")"
    cat >"$1" <<'TOML'
prefix = "/api2/json"
[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/status/current"
check = ["perm", "/vms/{vmid}", ["VM.Audit"]]
TOML
}
