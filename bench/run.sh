#!/usr/bin/env bash
# Flotilla's side-by-side benchmark: the same three origins on loopback behind Flotilla,
# nginx, HAProxy and a bare Pingora proxy (the floor), each proxy alone on CPU 1, load
# generator and origins on CPU 0.
# Prints a Markdown report (also written to $OUT/report.md). See docs/benchmarks.md.
#
# Knobs (environment): ROUNDS (5), DURATION (10 s per measurement), CONNS (32 wrk
# connections), RATE (5000 req/s for the fixed-rate run), FO_RATE (2000 req/s),
# FO_SECS (12; the fault comes at a third of it, see `lab compare`), FO_CONNS (1000 client
# connections at most; a request waits for a free one, and one unanswered after 5 s counts as
# failed), SCENARIOS (the five below; `drain`, `rolling` and `slow` are failover runs too),
# DF_RATE (500 req/s), DF_SECS (16), DF_AT (4), DF_HANG (6 s the origin stays stopped) for
# the `defaults` scenario, which is not in the default list, `shipped` (pass-through
# through each proxy as shipped, logs on, beside the tuned run) and `scaling` (two threads
# each on both cores, SC_RATE req/s, default RATE, the generator at nice 19 beside them),
# both in the default list,
# BASE_PORT (18400), OUT (results directory; default a fresh temporary directory), NICE
# (0; on a shared machine a negative value, as root, shields every benchmark process alike
# from other work), CACHE_BYTES (1024: the cached response's body size for `cache`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
RATE=${RATE:-5000}
FO_RATE=${FO_RATE:-2000}
FO_SECS=${FO_SECS:-12}
FO_CONNS=${FO_CONNS:-1000}
SCENARIOS=${SCENARIOS:-"saturation fixed_rate cache shipped scaling kill hang"}
CACHE_BYTES=${CACHE_BYTES:-1024}
BASE_PORT=${BASE_PORT:-18400}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}

NICE=${NICE:-0}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Everything this script starts inherits the priority, proxies, origins and generators alike.
if [ "$NICE" != 0 ]; then renice -n "$NICE" -p $$ >/dev/null; fi
for tool in wrk nginx haproxy taskset python3 curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (see docs/benchmarks.md)" >&2; exit 1; }
done

# --- build -------------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --quiet -p proxy -p test-origin -p loadgen -p pingora-floor -p lab)
BIN=$TARGET_DIR/release

RUN=$(mktemp -d -t flotilla-bench.XXXXXX)
# nginx's cache directory lives in memory, as Flotilla's and HAProxy's caches do.
SHM=$(mktemp -d -p /dev/shm flotilla-bench.XXXXXX)
chmod 711 "$SHM" # nginx's worker runs as an unprivileged user
OUT=${OUT:-$RUN/out}
mkdir -p "$OUT" "$RUN/nginx-tmp"
echo "run directory: $RUN; results: $OUT" >&2

ORIGIN_PORTS=($((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)))
FLOTILLA_PORT=$((BASE_PORT + 10))
FLOTILLA_ADMIN_PORT=$((BASE_PORT + 11))
NGINX_PORT=$((BASE_PORT + 20))
HAPROXY_PORT=$((BASE_PORT + 30))
FLOOR_PORT=$((BASE_PORT + 40))
FLOTILLA_DEFAULTS_PORT=$((BASE_PORT + 50))
FLOTILLA_DEFAULTS_ADMIN_PORT=$((BASE_PORT + 51))
NGINX_DEFAULTS_PORT=$((BASE_PORT + 60))
HAPROXY_DEFAULTS_PORT=$((BASE_PORT + 70))
SC_PORT=$((BASE_PORT + 80)) # the scaling run's four proxies: SC_PORT + 0, 2, 4, 6
SC_RATE=${SC_RATE:-$RATE}
DF_RATE=${DF_RATE:-500}
DF_SECS=${DF_SECS:-16}
DF_AT=${DF_AT:-4}
DF_HANG=${DF_HANG:-6}

declare -A PID PORT
ORIGIN_PIDS=()

cleanup() {
    set +e
    for pid in "${ORIGIN_PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null; done
    for pid in "${ORIGIN_PIDS[@]}" "${PID[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }

# Polls until something accepts on 127.0.0.1:$1, for at most 10 s.
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1 after 10 s" >&2
    return 1
}

# CPU ticks (1/100 s) used so far by a process and its children (nginx's worker).
cpu_ticks() {
    local total=0 pid
    for pid in $1 $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        total=$((total + $(sed 's/^.*) //' /proc/"$pid"/stat | awk '{print $12 + $13}')))
    done
    echo "$total"
}

render() {
    sed -e "s|@RUN@|$RUN|g" \
        -e "s|@SHM@|$SHM|g" \
        -e "s|@ORIGIN1_PORT@|${ORIGIN_PORTS[0]}|g" \
        -e "s|@ORIGIN2_PORT@|${ORIGIN_PORTS[1]}|g" \
        -e "s|@ORIGIN3_PORT@|${ORIGIN_PORTS[2]}|g" \
        -e "s|@FLOTILLA_PORT@|$FLOTILLA_PORT|g" \
        -e "s|@FLOTILLA_ADMIN_PORT@|$FLOTILLA_ADMIN_PORT|g" \
        -e "s|@NGINX_PORT@|$NGINX_PORT|g" \
        -e "s|@HAPROXY_PORT@|$HAPROXY_PORT|g" \
        -e "s|@NGINX_DEFAULTS_PORT@|$NGINX_DEFAULTS_PORT|g" \
        -e "s|@HAPROXY_DEFAULTS_PORT@|$HAPROXY_DEFAULTS_PORT|g" \
        "$ROOT/bench/templates/$1" >"$RUN/$1"
}

start_origin() { # index (0-based)
    local i=$1
    taskset -c "$LOAD_CPU" "$BIN/proxy-test-origin" --listen "127.0.0.1:${ORIGIN_PORTS[$i]}" \
        --id "o$((i + 1))" >>"$RUN/origin$((i + 1)).log" 2>&1 &
    ORIGIN_PIDS[$i]=$!
    wait_port "${ORIGIN_PORTS[$i]}"
}

# --- start everything --------------------------------------------------------------------
for i in 0 1 2; do start_origin "$i"; done
render flotilla.toml
render nginx.conf
render haproxy.cfg
"$BIN/proxy" check --config "$RUN/flotilla.toml" >&2
haproxy -c -q -f "$RUN/haproxy.cfg"
nginx -t -q -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log"

# Access logs are off for all three (nginx access_log off, no HAProxy log target); health
# changes still go to each proxy's log.
RUST_LOG=${FLOTILLA_LOG:-info,proxy::access=off} taskset -c "$PROXY_CPU" \
    "$BIN/proxy" --config "$RUN/flotilla.toml" >"$RUN/flotilla.log" 2>&1 &
PID[flotilla]=$!
taskset -c "$PROXY_CPU" nginx -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" &
PID[nginx]=$!
taskset -c "$PROXY_CPU" haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 &
PID[haproxy]=$!
# The floor: bare Pingora forwarding round robin, to tell Pingora's own cost from Flotilla's.
taskset -c "$PROXY_CPU" "$BIN/pingora-floor" --listen "127.0.0.1:$FLOOR_PORT" \
    --backend "127.0.0.1:${ORIGIN_PORTS[0]}" --backend "127.0.0.1:${ORIGIN_PORTS[1]}" \
    --backend "127.0.0.1:${ORIGIN_PORTS[2]}" --answer-bytes "$CACHE_BYTES" >"$RUN/pingora.log" 2>&1 &
PID[pingora]=$!
PID[direct]=${ORIGIN_PIDS[0]}
PORT=([direct]=${ORIGIN_PORTS[0]} [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT [pingora]=$FLOOR_PORT [flotilla]=$FLOTILLA_PORT)
# Pass-through targets. The floor has no health checks or retries, so it sits out the
# failover scenarios; in the cache scenario it answers from memory, a cache hit's floor.
PASS_TARGETS="direct nginx haproxy pingora flotilla"
for t in nginx haproxy pingora flotilla; do wait_port "${PORT[$t]}"; done
# Every proxy must see every origin healthy (Flotilla and HAProxy need `rise` checks).
sleep 3
for t in $PASS_TARGETS; do
    curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$t]}/" || { echo "$t does not answer" >&2; exit 1; }
done

# Machine and noise context for the report.
{
    echo "date=$(date -u +%FT%TZ)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "nginx=$(nginx -v 2>&1 | cut -d/ -f2)"
    echo "haproxy=$(haproxy -v | head -1 | awk '{print $3}')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "rounds=$ROUNDS"
    echo "duration=$DURATION"
    echo "settings=nice $NICE, rounds $ROUNDS, $DURATION s per measurement, wrk -t1 -c$CONNS, fixed rate $RATE/s, cached body $CACHE_BYTES B, failover at $FO_RATE/s for $FO_SECS s (at most $FO_CONNS connections, 5 s client timeout) with the fault at a third of the run, undone at two thirds"
    echo "flotilla_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/meta.txt"

# Appends one JSON line describing a measurement to results.jsonl.
record() { echo "$1" >>"$OUT/results.jsonl"; }

# --- scenarios ---------------------------------------------------------------------------
# Each scenario is a function; add one and name it in SCENARIOS.

# Closed-loop saturation with wrk: requests/s, p50, p99 and CPU per request.
scenario_saturation() {
    log "warm-up"
    for t in $PASS_TARGETS; do
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$t]}/" >/dev/null
    done
    for r in $(seq "$ROUNDS"); do
        for t in $PASS_TARGETS; do
            log "saturation round $r: $t"
            local file="$OUT/sat_${t}_$r.txt" c0 c1 load
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
                "http://127.0.0.1:${PORT[$t]}/" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            load=$(cut -d' ' -f1 /proc/loadavg)
            # wrk stops by closing its connections with requests in flight, as impatient
            # clients do. A proxy must not blame its backends for that: probe it at once.
            local probe_failed
            probe_failed=$(for _ in 1 2 3 4 5; do
                curl -s -o /dev/null -m 2 -w '%{http_code}\n' "http://127.0.0.1:${PORT[$t]}/"
            done | grep -vc '^200$' || true)
            record "{\"scenario\":\"saturation\",\"round\":$r,\"target\":\"$t\",\"wrk\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0)),\"loadavg\":$load,\"probe_failed\":$probe_failed}"
        done
    done
}

# Open loop at the same fixed rate for everyone: CO-corrected p50/p99, and CPU per request
# compared at equal load (CPU per request falls as load rises, so only this is fair).
scenario_fixed_rate() {
    for r in $(seq "$ROUNDS"); do
        for t in $PASS_TARGETS; do
            log "fixed rate $RATE/s round $r: $t"
            local file="$OUT/rate_${t}_$r.json" c0 c1 load
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" "$BIN/loadgen" --url "http://127.0.0.1:${PORT[$t]}/" \
                --rate "$RATE" --duration-secs "$DURATION" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            load=$(cut -d' ' -f1 /proc/loadavg)
            record "{\"scenario\":\"fixed_rate\",\"round\":$r,\"target\":\"$t\",\"loadgen\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0)),\"loadavg\":$load}"
        done
    done
}

# Failover: `lab compare` starts its own three origins and each proxy with this script's
# configs (bench/templates), one at a time, and runs scenario $1 through each at FO_RATE for
# FO_SECS, the fault at a third of the run and undone at two thirds; every proxy pinned to
# PROXY_CPU, the lab and its origins to LOAD_CPU. Its report, timelines and per-request CSVs
# land in $OUT/failover_$1/; report.py reads its compare.json.
failover() {
    local name=$1
    log "failover ($name): nginx, haproxy, flotilla"
    "$BIN/lab" compare --proxies nginx,haproxy,flotilla --scenarios "$name" \
        --rate "$FO_RATE" --scenario-duration "${FO_SECS}s" --connections "$FO_CONNS" \
        --timeout 5s --proxy-cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU" \
        --proxy-bin "$BIN/proxy" --origin-bin "$BIN/proxy-test-origin" \
        --out "$OUT/failover_$name" 2>>"$RUN/lab.log"
    record "{\"scenario\":\"$name\",\"compare\":\"failover_$name/compare.json\"}"
}
# Requests the origins have answered for the cache scenario's path, all three summed.
origin_cache_hits() {
    local port
    for port in "${ORIGIN_PORTS[@]}"; do
        curl -fsS "http://127.0.0.1:$port/__stats"
        echo
    done | python3 -c 'import json, sys
print(sum(json.loads(l)["paths"].get("/cache/bench", 0) for l in sys.stdin if l.strip()))'
}

# Cache hits: a response every proxy may store for an hour, requested over and over.
# `direct` is the origin answering each request itself, for scale; `pingora` answers
# from memory with no cache logic at all, the floor for a hit on Pingora. The origins
# count every request they answer, so the report can show that every proxy served its
# runs from memory (0 origin requests).
scenario_cache() {
    local path="/cache/bench?cc=public%2Cmax-age%3D3600&size=$CACHE_BYTES" t
    for t in $PASS_TARGETS; do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$t]}$path"
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$t]}$path" >/dev/null
    done
    # Both say so in X-Cache; HAProxy does not, and the origin counts below cover it.
    for t in nginx flotilla; do
        curl -fsS -D - -o /dev/null "http://127.0.0.1:${PORT[$t]}$path" | grep -qi '^x-cache: HIT' \
            || { echo "$t does not answer the cache path from its cache" >&2; exit 1; }
    done
    for r in $(seq "$ROUNDS"); do
        for t in $PASS_TARGETS; do
            local url="http://127.0.0.1:${PORT[$t]}$path" file c0 c1 h0 h1
            log "cache hits round $r: $t"
            file="$OUT/cache_sat_${t}_$r.txt"
            h0=$(origin_cache_hits)
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            h1=$(origin_cache_hits)
            record "{\"scenario\":\"cache_saturation\",\"round\":$r,\"target\":\"$t\",\"wrk\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0)),\"origin_requests\":$((h1 - h0))}"

            file="$OUT/cache_rate_${t}_$r.json"
            h0=$(origin_cache_hits)
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" "$BIN/loadgen" --url "$url" --rate "$RATE" \
                --duration-secs "$DURATION" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            h1=$(origin_cache_hits)
            record "{\"scenario\":\"cache_rate\",\"round\":$r,\"target\":\"$t\",\"loadgen\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0)),\"origin_requests\":$((h1 - h0))}"
        done
    done
}

# A syslog daemon's stand-in for the shipped HAProxy's log lines: a datagram socket in the
# run directory, read on LOAD_CPU and appended to a file. Started once.
syslog_sink() {
    [ -n "${PID[syslog]:-}" ] && return 0
    taskset -c "$LOAD_CPU" python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as log:
    while True:
        log.write(s.recv(65536) + b"\n")' "$RUN/syslog.sock" "$RUN/haproxy-shipped-access.log" &
    PID[syslog]=$!
    for _ in $(seq 50); do [ -S "$RUN/syslog.sock" ] && return 0; sleep 0.1; done
    echo "the syslog sink did not start" >&2
    return 1
}

# Defaults: each proxy as shipped (Flotilla quick mode, nginx and HAProxy with their package
# defaults plus the same backends), origin 2 SIGSTOPped DF_AT s into an open-loop run for
# DF_HANG s, then resumed. Each proxy is started for its run alone and stopped after it;
# each logs as shipped (see `shipped`).
scenario_defaults() {
    syslog_sink
    render nginx-defaults.conf
    render haproxy-defaults.cfg
    haproxy -c -q -f "$RUN/haproxy-defaults.cfg"
    nginx -t -q -p "$RUN" -c "$RUN/nginx-defaults.conf" -e "$RUN/nginx-defaults-error.log"
    local t port pid file t0 t1 t2 window
    window="$((DF_AT * 1000))-$(((DF_AT + DF_HANG) * 1000))"
    for t in nginx haproxy flotilla; do
        case $t in
        flotilla)
            port=$FLOTILLA_DEFAULTS_PORT
            taskset -c "$PROXY_CPU" "$BIN/proxy" \
                --listen "127.0.0.1:$port" --admin "127.0.0.1:$FLOTILLA_DEFAULTS_ADMIN_PORT" \
                --backend "127.0.0.1:${ORIGIN_PORTS[0]}" --backend "127.0.0.1:${ORIGIN_PORTS[1]}" \
                --backend "127.0.0.1:${ORIGIN_PORTS[2]}" >"$RUN/flotilla-defaults.log" 2>&1 &
            ;;
        nginx)
            port=$NGINX_DEFAULTS_PORT
            taskset -c "$PROXY_CPU" nginx -p "$RUN" -c "$RUN/nginx-defaults.conf" \
                -e "$RUN/nginx-defaults-error.log" &
            ;;
        haproxy)
            port=$HAPROXY_DEFAULTS_PORT
            taskset -c "$PROXY_CPU" haproxy -db -f "$RUN/haproxy-defaults.cfg" \
                >"$RUN/haproxy-defaults.log" 2>&1 &
            ;;
        esac
        pid=$!
        wait_port "$port"
        sleep 5 # every proxy sees every origin healthy (HAProxy: rise 2 × inter 2 s)
        log "defaults: $t"
        file="$OUT/defaults_${t}.json"
        t0=$(date +%s.%N)
        taskset -c "$LOAD_CPU" "$BIN/loadgen" --url "http://127.0.0.1:$port/" \
            --rate "$DF_RATE" --duration-secs "$DF_SECS" --connections "$FO_CONNS" \
            --timeout-ms 5000 --bucket-ms 250 --window-ms "$window" >"$file" &
        local gen=$!
        sleep "$DF_AT"
        kill -STOP "${ORIGIN_PIDS[1]}"
        t1=$(date +%s.%N)
        sleep "$DF_HANG"
        kill -CONT "${ORIGIN_PIDS[1]}"
        t2=$(date +%s.%N)
        wait "$gen"
        record "{\"scenario\":\"defaults\",\"target\":\"$t\",\"loadgen\":\"$(basename "$file")\",\"fault_at_ms\":$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }'),\"resumed_at_ms\":$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%d", (b - a) * 1000 }')}"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        sleep 2
    done
}

# Shipped: pass-through at saturation and at the fixed rate through each proxy as its users
# get it, all on PROXY_CPU and interleaved by round: Flotilla's quick mode with its access
# log (to a file), nginx and HAProxy with the package defaults' logging (nginx's combined
# access log to a file; HAProxy's httplog to a syslog socket, read by a small sink on
# LOAD_CPU the way syslogd would). Beside the tuned runs above, which log nothing.
scenario_shipped() {
    render nginx-defaults.conf
    render haproxy-defaults.cfg
    haproxy -c -q -f "$RUN/haproxy-defaults.cfg"
    nginx -t -q -p "$RUN" -c "$RUN/nginx-defaults.conf" -e "$RUN/nginx-defaults-error.log"
    syslog_sink
    # Each proxy's users get: its own defaults, its own logging, its own thread count on the
    # one core it may use.
    taskset -c "$PROXY_CPU" "$BIN/proxy" --listen "127.0.0.1:$FLOTILLA_DEFAULTS_PORT" \
        --admin "127.0.0.1:$FLOTILLA_DEFAULTS_ADMIN_PORT" \
        --backend "127.0.0.1:${ORIGIN_PORTS[0]}" --backend "127.0.0.1:${ORIGIN_PORTS[1]}" \
        --backend "127.0.0.1:${ORIGIN_PORTS[2]}" >"$RUN/flotilla-shipped.log" 2>&1 &
    PID[flotilla_shipped]=$!
    taskset -c "$PROXY_CPU" nginx -p "$RUN" -c "$RUN/nginx-defaults.conf" \
        -e "$RUN/nginx-defaults-error.log" &
    PID[nginx_shipped]=$!
    taskset -c "$PROXY_CPU" haproxy -db -f "$RUN/haproxy-defaults.cfg" \
        >"$RUN/haproxy-defaults.log" 2>&1 &
    PID[haproxy_shipped]=$!
    PORT[flotilla_shipped]=$FLOTILLA_DEFAULTS_PORT
    PORT[nginx_shipped]=$NGINX_DEFAULTS_PORT
    PORT[haproxy_shipped]=$HAPROXY_DEFAULTS_PORT
    local shipped="nginx_shipped haproxy_shipped flotilla_shipped" t
    for t in $shipped; do wait_port "${PORT[$t]}"; done
    sleep 5 # every proxy sees every origin healthy (HAProxy: rise 2 × inter 2 s)
    for t in $shipped; do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$t]}/" || { echo "$t does not answer" >&2; exit 1; }
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$t]}/" >/dev/null
    done
    for r in $(seq "$ROUNDS"); do
        for t in $shipped; do
            local file c0 c1
            log "shipped round $r: $t"
            file="$OUT/shipped_sat_${t}_$r.txt"
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
                "http://127.0.0.1:${PORT[$t]}/" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            record "{\"scenario\":\"shipped_saturation\",\"round\":$r,\"target\":\"${t%_shipped}\",\"wrk\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0))}"
            file="$OUT/shipped_rate_${t}_$r.json"
            c0=$(cpu_ticks "${PID[$t]}")
            taskset -c "$LOAD_CPU" "$BIN/loadgen" --url "http://127.0.0.1:${PORT[$t]}/" \
                --rate "$RATE" --duration-secs "$DURATION" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            record "{\"scenario\":\"shipped_rate\",\"round\":$r,\"target\":\"${t%_shipped}\",\"loadgen\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0))}"
        done
    done
    # Each proxy really logged: the report says how many lines each wrote.
    {
        echo "shipped_log_lines_flotilla=$(grep -c 'proxy::access' "$RUN/flotilla-shipped.log" || true)"
        echo "shipped_log_lines_nginx=$(wc -l <"$RUN/nginx-shipped-access.log" 2>/dev/null || echo 0)"
        echo "shipped_log_lines_haproxy=$(wc -l <"$RUN/haproxy-shipped-access.log" 2>/dev/null || echo 0)"
    } >>"$OUT/meta.txt"
    for t in $shipped; do kill "${PID[$t]}" 2>/dev/null || true; wait "${PID[$t]}" 2>/dev/null || true; unset "PID[$t]"; done
}

# New connections the three origins have accepted so far, summed (health checks' included).
origin_connections() {
    local port
    for port in "${ORIGIN_PORTS[@]}"; do
        curl -fsS "http://127.0.0.1:$port/__stats"
        echo
    done | python3 -c 'import json, sys
print(sum(json.loads(l)["connections"] for l in sys.stdin if l.strip()))'
}

# Two-thread scaling: each proxy with two workers (nginx worker_processes 2, HAProxy
# nbthread 2, Flotilla and the floor threads 2) on both cores, the open-loop generator at
# nice 19 on the same cores, SC_RATE req/s for everyone, interleaved by round. Besides CPU
# and latency it counts the upstream connections each proxy opened per 1,000 requests:
# a pool shared by the threads reuses what another thread opened.
scenario_scaling() {
    local both="0,1" t
    sed -e 's/^threads = 1 .*/threads = 2/' -e "s/:$FLOTILLA_PORT\"/:$SC_PORT\"/" \
        -e "s/:$FLOTILLA_ADMIN_PORT\"/:$((SC_PORT + 1))\"/" -e 's/flotilla-upgrade.sock/flotilla-2t.sock/' \
        "$RUN/flotilla.toml" >"$RUN/flotilla-2t.toml"
    sed -e 's/^worker_processes 1;/worker_processes 2;/' -e "s/:$NGINX_PORT;/:$((SC_PORT + 2));/" \
        -e 's/nginx\.pid/nginx-2t.pid/' -e 's|nginx-tmp/|nginx-tmp/2t-|' -e 's|nginx-cache |nginx-cache-2t |' \
        "$RUN/nginx.conf" >"$RUN/nginx-2t.conf"
    sed -e 's/nbthread 1/nbthread 2/' -e "s/:$HAPROXY_PORT\$/:$((SC_PORT + 4))/" \
        "$RUN/haproxy.cfg" >"$RUN/haproxy-2t.cfg"
    "$BIN/proxy" check --config "$RUN/flotilla-2t.toml" >&2
    haproxy -c -q -f "$RUN/haproxy-2t.cfg"
    nginx -t -q -p "$RUN" -c "$RUN/nginx-2t.conf" -e "$RUN/nginx-2t-error.log"
    RUST_LOG=${FLOTILLA_LOG:-info,proxy::access=off} taskset -c "$both" \
        "$BIN/proxy" --config "$RUN/flotilla-2t.toml" >"$RUN/flotilla-2t.log" 2>&1 &
    PID[flotilla_2t]=$!
    taskset -c "$both" nginx -p "$RUN" -c "$RUN/nginx-2t.conf" -e "$RUN/nginx-2t-error.log" &
    PID[nginx_2t]=$!
    taskset -c "$both" haproxy -db -f "$RUN/haproxy-2t.cfg" >"$RUN/haproxy-2t.log" 2>&1 &
    PID[haproxy_2t]=$!
    taskset -c "$both" "$BIN/pingora-floor" --listen "127.0.0.1:$((SC_PORT + 6))" --threads 2 \
        --backend "127.0.0.1:${ORIGIN_PORTS[0]}" --backend "127.0.0.1:${ORIGIN_PORTS[1]}" \
        --backend "127.0.0.1:${ORIGIN_PORTS[2]}" >"$RUN/pingora-2t.log" 2>&1 &
    PID[pingora_2t]=$!
    PORT[flotilla_2t]=$SC_PORT
    PORT[nginx_2t]=$((SC_PORT + 2))
    PORT[haproxy_2t]=$((SC_PORT + 4))
    PORT[pingora_2t]=$((SC_PORT + 6))
    local two="nginx_2t haproxy_2t pingora_2t flotilla_2t"
    for t in $two; do wait_port "${PORT[$t]}"; done
    sleep 3
    for t in $two; do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$t]}/" || { echo "$t does not answer" >&2; exit 1; }
    done
    for r in $(seq "$ROUNDS"); do
        # What the origins accept with no traffic (every running proxy's health checks, this
        # script's own /__stats requests), subtracted from each measurement by the report.
        local n0 n1
        n0=$(origin_connections)
        sleep "$DURATION"
        n1=$(origin_connections)
        record "{\"scenario\":\"scaling_idle\",\"round\":$r,\"origin_connections\":$((n1 - n0))}"
        for t in $two; do
            local file c0 c1
            log "scaling round $r: $t"
            file="$OUT/scaling_${t}_$r.json"
            n0=$(origin_connections)
            c0=$(cpu_ticks "${PID[$t]}")
            nice -n 19 taskset -c "$both" "$BIN/loadgen" --url "http://127.0.0.1:${PORT[$t]}/" \
                --rate "$SC_RATE" --duration-secs "$DURATION" >"$file"
            c1=$(cpu_ticks "${PID[$t]}")
            n1=$(origin_connections)
            record "{\"scenario\":\"scaling\",\"round\":$r,\"target\":\"${t%_2t}\",\"loadgen\":\"$(basename "$file")\",\"cpu_ticks\":$((c1 - c0)),\"origin_connections\":$((n1 - n0))}"
        done
    done
    for t in $two; do kill "${PID[$t]}" 2>/dev/null || true; wait "${PID[$t]}" 2>/dev/null || true; unset "PID[$t]"; done
}

scenario_kill() { failover kill; }
scenario_hang() { failover hang; }
scenario_drain() { failover drain; }
scenario_rolling() { failover rolling; }
scenario_slow() { failover slow; }

for s in $SCENARIOS; do "scenario_$s"; done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
for t in nginx haproxy pingora flotilla; do cp "$RUN/$t"*.log "$OUT/" 2>/dev/null || true; done
cp "$RUN/nginx-error.log" "$OUT/" 2>/dev/null || true

python3 "$ROOT/bench/report.py" "$OUT" | tee "$OUT/report.md"
