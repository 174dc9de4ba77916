#!/usr/bin/env bash
# Access log on vs off: the proxy's CPU per request (its writer thread included) at a fixed
# open-loop rate, one worker thread pinned to CPU 0, origin and load on CPU 1, rounds
# interleaved. Build first: cargo build --release -p proxy -p test-origin -p loadgen
# Usage: RATE=2000 SECS=15 ROUNDS=3 bench/access_log.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
RATE=${RATE:-2000}; SECS=${SECS:-10}; ROUNDS=${ROUNDS:-3}
W=$(mktemp -d)
taskset -c 1 $BIN/proxy-test-origin --listen 127.0.0.1:19101 --id a >/dev/null 2>&1 & O=$!
trap 'kill $O 2>/dev/null || true' EXIT
sleep 0.5
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for round in $(seq 1 $ROUNDS); do
  for mode in on off; do
    cat > $W/p.toml <<TOML
[server]
threads = 1
upgrade_sock = "$W/up.sock"
[[listeners]]
addr = "127.0.0.1:19100"
[admin]
addr = "127.0.0.1:19102"
[upstreams.app]
backends = [{ addr = "127.0.0.1:19101" }]
TOML
    if [ $mode = on ]; then F="info,pingora_proxy=warn,pingora_core=warn"; else F="info,pingora_proxy=warn,pingora_core=warn,proxy::access=off"; fi
    RUST_LOG=$F taskset -c 0 $BIN/proxy --config $W/p.toml 2> $W/log-$mode.txt & P=$!
    for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:19102/healthz && break; sleep 0.1; done
    taskset -c 1 $BIN/loadgen --url http://127.0.0.1:19100/ --rate 500 --duration-secs 2 >/dev/null
    c0=$(cpu $P)
    taskset -c 1 $BIN/loadgen --url http://127.0.0.1:19100/ --rate $RATE --duration-secs $SECS > $W/lg.json
    c1=$(cpu $P)
    sent=$(python3 -c "import json;d=json.load(open('$W/lg.json'));print(d.get('sent') or d.get('requests') or 0)")
    tck=$(getconf CLK_TCK)
    python3 -c "print('round $round $mode', 'cpu_us_per_req=%.1f' % (($c1-$c0)/$tck*1e6/max(1,$sent)), 'sent=$sent', 'log_lines=' + str(sum(1 for _ in open('$W/log-$mode.txt'))))"
    kill $P; wait $P 2>/dev/null || true
  done
done
