#!/usr/bin/env bash
# Load comparison (DESIGN.md §4): wrk -c64 keep-alive (HTTP/1.1) against
#   1. the bare upstream (1 KiB response body),
#   2. nginx as a TLS proxy without authentication (1 worker process; 2 beside aclgate's 2 workers),
#   3. aclgate over TLS with API-token authentication and a perm check (1 worker; 2 workers per
#      core, i.e. a single-threaded runtime each on SO_REUSEPORT sockets; 2 workers sharing one
#      multi-threaded runtime),
# and h2load -c64 (HTTP/2 over TLS, 1 and 10 streams per connection) against nginx's h2 TLS
# proxy and aclgate (1 and 2 workers).
# With CLUSTER=1 (the default) also aclgate with 1 worker in front of one `[[upstreams]]` of
# three endpoints (three upstream processes, round robin), measured beside the single-upstream
# runs: the balancer's cost per request, and the check that the single-upstream figures did
# not regress. (HTTP/1.1 keep-alive connections stay on one endpoint each; h2 streams are
# balanced one by one.)
# Reports req/s, p99 latency and the proxy's CPU time per request (from /proc/<pid>/stat),
# which is steadier than req/s when wrk, proxy and upstream share the cores.
#
# With INSTRUCTIONS=1 it instead counts user-space instructions per request under callgrind
# (gateway with 1 worker and nginx with 1 process, wrk -c8 for DUR seconds after a warm-up):
# independent of other load on the machine, so it is the figure to compare changes with.
#
# Needs: wrk, h2load and nginx (Debian packages `wrk`, `nghttp2-client`, `nginx-light`),
# python3; valgrind for INSTRUCTIONS=1. H2=0 skips the HTTP/2 runs.
# Knobs: DUR (seconds per run, default 10), CONNS (64), THREADS (wrk threads, 2),
#        ACLGATE_LOG (gateway log filter, default `info` = access log on, written to a file),
#        PORT_BASE (18000: ports PORT_BASE+6..11, +80..82, +443..448 on 127.0.0.1),
#        CLUSTER (1: the three-endpoint runs), PROFILE (release; `debug` only to check the
#        script itself quickly, e.g. `PROFILE=debug DUR=1 H2=0 benches/load/run.sh`),
#        ACLGATE (the gateway binary to measure instead of this build's, e.g. the PGO build:
#        `scripts/build-pgo.sh && ACLGATE=target/pgo/aclgate benches/load/run.sh`).
set -euo pipefail

DUR=${DUR:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
export ACLGATE_LOG=${ACLGATE_LOG:-info}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Relative to where the script was started (it changes directory below).
ACLGATE=${ACLGATE:+$(realpath "$ACLGATE")}
# shellcheck source=common.sh
. "$ROOT/benches/load/common.sh"
load_begin

PORT_BASE=${PORT_BASE:-18000}
P_UP=$((PORT_BASE + 80))
P_UP2=$((PORT_BASE + 81))
P_UP3=$((PORT_BASE + 82))
P_CLUSTER=$((PORT_BASE + 10))
P_CLUSTER_CG=$((PORT_BASE + 11))
CLUSTER=${CLUSTER:-1}
PROFILE=${PROFILE:-release}
P_NGINX=$((PORT_BASE + 443))
P_NGINX_LOG=$((PORT_BASE + 445))
P_NGINX_CG=$((PORT_BASE + 444))
INSTRUCTIONS=${INSTRUCTIONS:-0}
H2=${H2:-1}
TOOLS="wrk nginx python3"
[ "$H2" = 1 ] && TOOLS="$TOOLS h2load"
[ "$INSTRUCTIONS" = 1 ] && TOOLS="$TOOLS valgrind callgrind_control callgrind_annotate"
for tool in $TOOLS; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nghttp2-client nginx-light)" >&2; exit 1; }
done

cd "$ROOT"
if [ "$PROFILE" = release ]; then
    cargo build --release -q --bin aclgate --example load_upstream
else
    cargo build -q --bin aclgate --example load_upstream
fi
BIN=$ROOT/target/$PROFILE
# The gateway measured: this build's, or ACLGATE's (e.g. target/pgo/aclgate from
# scripts/build-pgo.sh); the upstream is always this build's example.
GATEWAY=${ACLGATE:-$BIN/aclgate}
[ -x "$GATEWAY" ] || { echo "no gateway binary at $GATEWAY" >&2; exit 1; }
STATE=$WORK/state

# --- state: the documentation's monitoring example -------------------------------------------
load_state "$GATEWAY" "$STATE" /vms
PATH_Q=/api2/json/nodes/n1/qemu/100/status/current
load_policy "$WORK/policies/load.toml"

# --- processes --------------------------------------------------------------------------------
"$BIN/examples/load_upstream" "127.0.0.1:$P_UP" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_port "$P_UP"
if [ "$CLUSTER" = 1 ]; then
    # Two more endpoints for the three-endpoint upstream (the first is $P_UP).
    for port in "$P_UP2" "$P_UP3"; do
        "$BIN/examples/load_upstream" "127.0.0.1:$port" &
        PIDS+=("$!")
        wait_port "$port"
    done
fi

# The `default` upstream as one `[[upstreams]]` table of three endpoints.
cluster_toml() {
    printf '[[upstreams]]\nname = "default"\nbalance = "round_robin"\n'
    printf 'endpoints = ["http://127.0.0.1:%s", "http://127.0.0.1:%s", "http://127.0.0.1:%s"]\n' \
        "$P_UP" "$P_UP2" "$P_UP3"
}

start_gateway() { # $1 = worker threads, $2 = port, $3 = runtime model (per_core, shared),
    # $4 = `cluster` for the three-endpoint upstream
    local model=${3:-per_core} kind=${4:-single}
    printf '[listeners]\nruntime = "%s"\n' "$model" >"$WORK/aclgate-$model-$kind.toml"
    [ "$kind" = cluster ] && cluster_toml >>"$WORK/aclgate-$model-$kind.toml"
    (cd "$WORK" && exec "$GATEWAY" serve --state-dir "$STATE" \
        --config "$WORK/aclgate-$model-$kind.toml" \
        --policy "$WORK/policies/load.toml" --listen "127.0.0.1:$2" \
        --upstream "http://127.0.0.1:$P_UP" --worker-threads "$1" 2>"$WORK/gateway-$1-$model-$kind.log") &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_port "$2"
}

start_gateway 1 $((PORT_BASE + 6))
GW1=$GW_PID
# The first start generated $WORK/certs/aclgate.{crt,key}; nginx uses the same pair.
nginx_server() { # port, extra directive
    cat <<SERVER
    server {
        listen 127.0.0.1:$1 ssl http2;
        $2
        ssl_certificate $WORK/certs/aclgate.crt;
        ssl_certificate_key $WORK/certs/aclgate.key;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
SERVER
}
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    # nginx closes a connection after 1,000 requests by default (HTTP/2 too, since 1.19.7);
    # h2load does not reconnect, so the runs would end early with failed streams.
    keepalive_requests 100000000;
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    fastcgi_temp_path $WORK/nginx-fcgi;
    uwsgi_temp_path $WORK/nginx-uwsgi;
    scgi_temp_path $WORK/nginx-scgi;
    upstream up { server 127.0.0.1:$P_UP; keepalive 64; }
$(nginx_server "$P_NGINX" "")
    # The same proxy with nginx's default access log (combined format, one write per request).
$(nginx_server "$P_NGINX_LOG" "access_log $WORK/nginx-access.log;")
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$P_NGINX"
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
# The yardstick for two workers: the same nginx with two worker processes (its own instance).
P_NGINX2=$((PORT_BASE + 447))
sed -e 's/^worker_processes 1;/worker_processes 2;/' -e "s/:$P_NGINX ssl/:$P_NGINX2 ssl/" \
    -e "s/:$P_NGINX_LOG ssl/:$((PORT_BASE + 448)) ssl/" -e "s#^pid .*#pid $WORK/nginx2.pid;#" \
    "$WORK/nginx.conf" >"$WORK/nginx2.conf"
nginx -c "$WORK/nginx2.conf" -p "$WORK" &
NGINX2_PID=$!
PIDS+=("$NGINX2_PID")
wait_port "$P_NGINX2"
NGINX2_WORKERS=$(pgrep -P "$NGINX2_PID" | tr '\n' ' ')

# --- measurement ------------------------------------------------------------------------------
ticks() { # total utime+stime of the given pids
    local total=0 p f
    for p in "$@"; do
        read -r -a f <"/proc/$p/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

check_status() { # url [header]
    local code
    code=$(python3 - "$@" <<'PY'
import ssl, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    k, v = sys.argv[2].split(": ", 1)
    req.add_header(k, v)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    print(urllib.request.urlopen(req, context=ctx).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
)
    [ "$code" = 200 ] || { echo "$1 answered $code, expected 200" >&2; exit 1; }
}

RESULTS=()
measure() { # name url header pid...
    local name=$1 url=$2 header=$3
    shift 3
    wrk -t"$THREADS" -c"$CONNS" -d2s -H "$header" "$url" >/dev/null # warm-up
    local t0 t1 out reqs rps p99 cpu
    t0=$(ticks "$@")
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency -H "$header" "$url")
    t1=$(ticks "$@")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$name: non-2xx answers:" >&2
        echo "$out" >&2
        exit 1
    fi
    cpu=$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / $reqs:.1f}')")
    RESULTS+=("$(printf '%-44s %10s req/s  p99 %8s  proxy CPU %6s us/req' "$name" "$rps" "$p99" "$cpu")")
}

measure_h2() { # name url header streams pid...
    local name=$1 url=$2 header=$3 streams=$4
    shift 4
    h2load -c"$CONNS" -t"$THREADS" -m"$streams" -D2 -H "$header" "$url" >/dev/null # warm-up
    local t0 t1 out reqs ok failed rps mean cpu
    t0=$(ticks "$@")
    out=$(h2load -c"$CONNS" -t"$THREADS" -m"$streams" -D"$DUR" -H "$header" "$url")
    t1=$(ticks "$@")
    reqs=$(awk '/^requests:/ {print $2}' <<<"$out")
    ok=$(awk '/^status codes:/ {print $3}' <<<"$out")
    rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
    mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
    failed=$(awk '/^requests:/ {print $10}' <<<"$out")
    # h2load may count one 2xx status more than requests done (a stream ending as the run
    # stops); a run is bad when a stream failed or fewer answers than requests were 2xx.
    if [ "${failed:-1}" != 0 ] || [ "${ok:-0}" -lt "${reqs:-1}" ] || [ "${reqs:-0}" = 0 ]; then
        echo "$name: not every answer was 2xx:" >&2
        echo "$out" >&2
        exit 1
    fi
    cpu=$(python3 -c "print(f'{($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / $reqs:.1f}')")
    RESULTS+=("$(printf '%-44s %10s req/s  mean %7s  proxy CPU %6s us/req' "$name" "$rps" "$mean" "$cpu")")
}

# --- instruction counts (INSTRUCTIONS=1) -------------------------------------------------------
callgrind_total() { # callgrind output file -> total instructions
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

count() { # name port header pid dump [streams] -> instructions per request of a process under
    # callgrind; dump = its dump number (1 for the first count of a process); with streams,
    # h2load -c8 -mSTREAMS (HTTP/2) instead of wrk
    local name=$1 port=$2 header=$3 pid=$4 dump=$5 streams=${6:-} out reqs ir label
    local url="https://127.0.0.1:$port$PATH_Q"
    wait_port "$port"
    if [ -z "$streams" ]; then
        wrk -t1 -c8 -d3s -H "$header" "$url" >/dev/null # warm-up
        callgrind_control -z "$pid" >/dev/null
        out=$(wrk -t1 -c8 -d"${DUR}s" -H "$header" "$url")
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        label="$name, HTTP/1.1"
    else
        h2load -c8 -t1 -m"$streams" -D3 -H "$header" "$url" >/dev/null # warm-up
        callgrind_control -z "$pid" >/dev/null
        out=$(h2load -c8 -t1 -m"$streams" -D"$DUR" -H "$header" "$url")
        reqs=$(awk '/^requests:/ {print $2}' <<<"$out")
        label="$name, h2 m$streams"
    fi
    callgrind_control -d "$pid" >/dev/null
    ir=$(callgrind_total "$WORK/callgrind.$name.$dump")
    RESULTS+=("$(printf '%-34s %10s requests  %8s instructions/request' "$label" "$reqs" $((ir / reqs)))")
}

count_all() { # name port header pid: HTTP/1.1, and with H2=1 h2 with 1 and 10 streams
    count "$@" 1
    if [ "$H2" = 1 ]; then
        count "$@" 2 1
        count "$@" 3 10
    fi
}

if [ "$INSTRUCTIONS" = 1 ]; then
    RESULTS=()
    sed -e 's/^worker_processes 1;/worker_processes 1; master_process off;/' \
        -e "s/:$P_NGINX ssl/:$P_NGINX_CG ssl/" -e "s/:$P_NGINX_LOG ssl/:$((PORT_BASE + 446)) ssl/" \
        -e "s#^pid .*#pid $WORK/nginx-cg.pid;#" \
        "$WORK/nginx.conf" >"$WORK/nginx-cg.conf"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.nginx" \
        nginx -c "$WORK/nginx-cg.conf" -p "$WORK" 2>"$WORK/nginx-cg.log" &
    CG=$!
    PIDS+=("$CG")
    count_all nginx "$P_NGINX_CG" "X-Nothing: 1" "$CG"
    kill "$CG"
    (cd "$WORK" && exec valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.aclgate" \
        "$GATEWAY" serve --state-dir "$STATE" --policy "$WORK/policies/load.toml" \
        --listen "127.0.0.1:$((PORT_BASE + 8))" --upstream "http://127.0.0.1:$P_UP" --worker-threads 1 \
        2>"$WORK/gateway-cg.log") &
    CG=$!
    PIDS+=("$CG")
    count_all aclgate $((PORT_BASE + 8)) "$AUTH" "$CG"
    if [ "$CLUSTER" = 1 ]; then
        kill "$CG"
        cluster_toml >"$WORK/aclgate-cg-cluster.toml"
        (cd "$WORK" && exec valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.aclgate-3-endpoints" \
            "$GATEWAY" serve --state-dir "$STATE" --policy "$WORK/policies/load.toml" \
            --config "$WORK/aclgate-cg-cluster.toml" \
            --listen "127.0.0.1:$P_CLUSTER_CG" --upstream "http://127.0.0.1:$P_UP" --worker-threads 1 \
            2>"$WORK/gateway-cg-cluster.log") &
        CG=$!
        PIDS+=("$CG")
        count_all aclgate-3-endpoints "$P_CLUSTER_CG" "$AUTH" "$CG"
    fi
    echo
    echo "callgrind, wrk -t1 -c8 (h2load -c8 -mN) -d${DUR}s keep-alive, 1 KiB response body; aclgate: token + decision"
    printf '%s\n' "${RESULTS[@]}"
    exit 0
fi

GW1_URL="https://127.0.0.1:$((PORT_BASE + 6))$PATH_Q"
check_status "http://127.0.0.1:$P_UP$PATH_Q"
check_status "https://127.0.0.1:$P_NGINX$PATH_Q"
check_status "https://127.0.0.1:$P_NGINX_LOG$PATH_Q"
check_status "$GW1_URL" "$AUTH"

measure "bare upstream (upstream CPU)" "http://127.0.0.1:$P_UP$PATH_Q" "X-Nothing: 1" "$UP_PID"
# shellcheck disable=SC2086
measure "nginx TLS proxy, no auth, no log" "https://127.0.0.1:$P_NGINX$PATH_Q" "X-Nothing: 1" $NGINX_WORKERS
# shellcheck disable=SC2086
measure "nginx TLS proxy, no auth, access log" "https://127.0.0.1:$P_NGINX_LOG$PATH_Q" "X-Nothing: 1" $NGINX_WORKERS
measure "aclgate TLS + token, 1 worker" "$GW1_URL" "$AUTH" "$GW1"
if [ "$H2" = 1 ]; then
    for m in 1 10; do
        # shellcheck disable=SC2086
        measure_h2 "h2 m$m nginx TLS proxy, no log" "https://127.0.0.1:$P_NGINX$PATH_Q" "X-Nothing: 1" "$m" $NGINX_WORKERS
        measure_h2 "h2 m$m aclgate, 1 worker" "$GW1_URL" "$AUTH" "$m" "$GW1"
    done
fi
kill "$GW1"
if [ "$CLUSTER" = 1 ]; then
    start_gateway 1 "$P_CLUSTER" per_core cluster
    GWC_URL="https://127.0.0.1:$P_CLUSTER$PATH_Q"
    check_status "$GWC_URL" "$AUTH"
    measure "aclgate TLS + token, 1 worker, 3 endpoints" "$GWC_URL" "$AUTH" "$GW_PID"
    if [ "$H2" = 1 ]; then
        for m in 1 10; do
            measure_h2 "h2 m$m aclgate, 1 worker, 3 endpoints" "$GWC_URL" "$AUTH" "$m" "$GW_PID"
        done
    fi
    kill "$GW_PID"
fi
# shellcheck disable=SC2086
measure "nginx TLS proxy, no auth, no log, 2 workers" "https://127.0.0.1:$P_NGINX2$PATH_Q" "X-Nothing: 1" $NGINX2_WORKERS
start_gateway 2 $((PORT_BASE + 7)) per_core
GW2_URL="https://127.0.0.1:$((PORT_BASE + 7))$PATH_Q"
check_status "$GW2_URL" "$AUTH"
measure "aclgate TLS + token, 2 workers per core" "$GW2_URL" "$AUTH" "$GW_PID"
if [ "$H2" = 1 ]; then
    for m in 1 10; do
        measure_h2 "h2 m$m aclgate, 2 workers per core" "$GW2_URL" "$AUTH" "$m" "$GW_PID"
    done
fi
kill "$GW_PID"
start_gateway 2 $((PORT_BASE + 9)) shared
check_status "https://127.0.0.1:$((PORT_BASE + 9))$PATH_Q" "$AUTH"
measure "aclgate TLS + token, 2 workers shared" "https://127.0.0.1:$((PORT_BASE + 9))$PATH_Q" "$AUTH" "$GW_PID"

echo
echo "wrk -t$THREADS -c$CONNS -d${DUR}s keep-alive (h2load -c$CONNS -mN -D$DUR), 1 KiB response body, $(nproc) cores"
printf '%s\n' "${RESULTS[@]}"
