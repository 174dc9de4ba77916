#!/usr/bin/env bash
# Flotilla's soak: the stack (the proxy with its response cache in front of three app
# instances, SQLite) under mixed traffic for DURATION seconds: reads, cache hits, uploads,
# SSE clients, idle connections and stalled request bodies (bench/soak_traffic.py).
# Every 10 s it samples each process's RSS and open file descriptors and the error
# counts; at the end it prints the table and whether RSS and fds stayed flat.
# Not part of CI: it takes half an hour by default.
#
# Knobs (environment): DURATION (1800 s), BASE_PORT (19500: public; +1 admin; +10.. the
# instances), PROFILE (release; `debug` uses debug binaries), OUT (results directory;
# default a fresh temporary directory), and the traffic mix READS (4), HITS (4),
# UPLOADS (1), SSE (20), IDLE (50), STALLED (10), each a number of concurrent clients.
# Flat means: after a warm-up (the first fifth of the samples), the median of the last
# quarter is within 10% (+8 MiB) of the first quarter's for RSS, and within 10% (+20)
# for fds, for every process.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-1800}
BASE_PORT=${BASE_PORT:-19500}
PROFILE=${PROFILE:-release}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$PROFILE" = release ]; then
    (cd "$ROOT" && cargo build --release --quiet -p stack)
else
    (cd "$ROOT" && cargo build --quiet -p stack)
fi
STACK=$TARGET_DIR/$PROFILE/stack

RUN=$(mktemp -d -t flotilla-soak.XXXXXX)
OUT=${OUT:-$RUN/out}
mkdir -p "$OUT"
PUBLIC=$BASE_PORT
ADMIN=$((BASE_PORT + 1))
FIRST_INSTANCE=$((BASE_PORT + 10))
echo "run directory: $RUN; results: $OUT" >&2

STACK_PID=
TRAFFIC_PID=
cleanup() {
    [ -n "$TRAFFIC_PID" ] && kill "$TRAFFIC_PID" 2>/dev/null || true
    if [ -n "$STACK_PID" ]; then
        kill -TERM "$STACK_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$STACK_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

"$STACK" --port "$PUBLIC" --admin-port "$ADMIN" --instance-port "$FIRST_INSTANCE" \
    --data-dir "$RUN/data" >"$OUT/stack.log" 2>&1 &
STACK_PID=$!
for _ in $(seq 600); do
    grep -q "ready at" "$OUT/stack.log" && break
    kill -0 "$STACK_PID" 2>/dev/null || { cat "$OUT/stack.log" >&2; exit 1; }
    sleep 0.2
done
grep -q "ready at" "$OUT/stack.log" || { echo "the stack did not become ready" >&2; exit 1; }

# `  proxy   http://127.0.0.1:19500  pid 1234` and one such line per instance.
declare -A PIDS
while read -r name _ _ pid; do PIDS[$name]=$pid; done < <(
    grep -E '^  (proxy|app-[0-9]+) +http://[^ ]+ +pid [0-9]+' "$OUT/stack.log" |
        awk '{print $1, $2, $3, $4}')
NAMES=$(printf '%s\n' "${!PIDS[@]}" | sort)
echo "processes: $(for n in $NAMES; do printf '%s=%s ' "$n" "${PIDS[$n]}"; done)" >&2

python3 "$ROOT/bench/soak_traffic.py" --port "$PUBLIC" --seconds "$DURATION" \
    --stats "$OUT/traffic.jsonl" --reads "${READS:-4}" --hits "${HITS:-4}" \
    --uploads "${UPLOADS:-1}" --sse "${SSE:-20}" --idle "${IDLE:-50}" \
    --stalled "${STALLED:-10}" 2>"$OUT/traffic.err" &
TRAFFIC_PID=$!

# One line per sample: t name rss_kib fds
SAMPLES=$OUT/samples.tsv
: >"$SAMPLES"
START=$(date +%s)
while :; do
    now=$(( $(date +%s) - START ))
    for name in $NAMES; do
        pid=${PIDS[$name]}
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        printf '%s\t%s\t%s\t%s\n' "$now" "$name" "${rss:-0}" "$fds" >>"$SAMPLES"
    done
    curl -s "http://127.0.0.1:$ADMIN/metrics" >"$OUT/metrics.last" || true
    printf '%s\t%s\n' "$now" "$(grep -E '^proxy_requests_total\{.*code="5xx"' "$OUT/metrics.last" |
        awk '{s += $2} END {print s + 0}')" >>"$OUT/proxy_5xx.tsv"
    kill -0 "$TRAFFIC_PID" 2>/dev/null || break
    [ "$now" -ge "$DURATION" ] && break
    sleep 10
done
wait "$TRAFFIC_PID" 2>/dev/null || true
TRAFFIC_PID=

python3 - "$SAMPLES" "$OUT/traffic.jsonl" "$OUT/proxy_5xx.tsv" "$OUT/metrics.last" <<'PY'
import json, statistics, sys
samples, traffic, fivexx, metrics = sys.argv[1:5]
rows = {}
for line in open(samples):
    t, name, rss, fds = line.split()
    rows.setdefault(name, []).append((int(t), int(rss), int(fds)))
print("| t (s) | " + " | ".join(f"{n} RSS MiB | {n} fds" for n in sorted(rows)) + " |")
print("|---|" + "---|---|" * len(rows))
times = [t for t, _, _ in next(iter(rows.values()))]
for i, t in enumerate(times):
    cells = []
    for name in sorted(rows):
        if i < len(rows[name]):
            _, rss, fds = rows[name][i]
            cells += [f"{rss / 1024:.1f}", str(fds)]
    print(f"| {t} | " + " | ".join(cells) + " |")
print()
verdict = True
for name in sorted(rows):
    series = rows[name]
    warm = series[max(2, len(series) // 5):] or series
    quarter = max(1, len(warm) // 4)
    first, last = warm[:quarter], warm[-quarter:]
    rss0, rss1 = statistics.median(r for _, r, _ in first), statistics.median(r for _, r, _ in last)
    fd0, fd1 = statistics.median(f for _, _, f in first), statistics.median(f for _, _, f in last)
    rss_flat = rss1 <= rss0 * 1.10 + 8 * 1024
    fds_flat = fd1 <= fd0 * 1.10 + 20
    verdict &= rss_flat and fds_flat
    print(f"{name}: RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB ({'flat' if rss_flat else 'GROWING'}), "
          f"fds {fd0:.0f} -> {fd1:.0f} ({'flat' if fds_flat else 'GROWING'}), "
          f"peak RSS {max(r for _, r, _ in series) / 1024:.1f} MiB, peak fds {max(f for _, _, f in series)}")
last = {}
for line in open(traffic):
    last = json.loads(line)
print()
print(f"traffic after {last.get('t', 0)} s:")
print("  ok:     " + ", ".join(f"{k}={v}" for k, v in sorted(last.get("ok", {}).items())))
print("  errors: " + (", ".join(f"{k}={v}" for k, v in sorted(last.get("errors", {}).items())) or "none"))
lines = [l.split() for l in open(fivexx) if l.strip()]
print(f"  proxy 5xx answers (proxy_requests_total, code 5xx): {lines[-1][1] if lines else 'n/a'}")
for line in open(metrics):
    if line.startswith(("proxy_connections_rejected_total", "proxy_client_faults_total")):
        print("  " + line.strip())
print()
print("RSS and fds stayed flat" if verdict else "RSS or fds GREW: see the table above")
sys.exit(0 if verdict else 1)
PY
