#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: Flotilla beside the bare Pingora floor.

Wall-clock CPU time on a shared machine moves by 20% from one run to the next; the number
of instructions a process executes for the same requests does not. This script runs each
proxy under `valgrind --tool=callgrind`, warms it up, zeroes the counters, sends exactly
N keep-alive GETs, dumps the counters and divides. It reports, per target and path, the
instructions per request and the ratio to the floor, and writes each dump so
`callgrind_annotate` can show where the instructions went.

Targets (all one worker thread, the same origin):
  floor          bench/pingora-floor: Pingora with nothing in it
  flotilla       the benchmark's config (bench/templates/flotilla.toml), access log on
  flotilla-nolog the same with the access log filtered off (RUST_LOG)
Paths: `pass` (GET / forwarded to the origin) and `hit` (a stored 1 KiB response).

Usage: cargo build --release -p proxy -p test-origin -p pingora-floor
       python3 bench/instructions.py [--requests 2000] [--out DIR] [--targets floor,flotilla]
"""

import argparse
import glob
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIT_PATH = "/cache/bench?cc=public%2Cmax-age%3D3600&size=1024"
PATHS = {"pass": "/", "hit": HIT_PATH}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {deadline_s} s")


def send(port, path, count, connections=4, expect_hit=False):
    """Sends `count` GETs over `connections` keep-alive connections, round robin.

    Every answer must be a 200; on the hit path every one must come from the cache, or
    the count would be measuring the origin's round trip instead.
    """
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(connections)]
    for i in range(count):
        conn = conns[i % connections]
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: status {response.status}")
        if expect_hit and (response.getheader("x-cache") or "").upper() not in ("HIT", ""):
            raise SystemExit(f"{path}: X-Cache {response.getheader('x-cache')}, not a hit")
    for conn in conns:
        conn.close()


def render_flotilla(run_dir, port, admin_port, origin_port):
    with open(os.path.join(ROOT, "bench/templates/flotilla.toml")) as f:
        text = f.read()
    for name, value in {
        "RUN": run_dir,
        "FLOTILLA_PORT": port,
        "FLOTILLA_ADMIN_PORT": admin_port,
        "ORIGIN1_PORT": origin_port,
        "ORIGIN2_PORT": origin_port,
        "ORIGIN3_PORT": origin_port,
    }.items():
        text = text.replace(f"@{name}@", str(value))
    # One origin, named once: the template lists three.
    text = re.sub(r"backends = \[[^\]]*\]", f'backends = [{{ addr = "127.0.0.1:{origin_port}" }}]', text)
    path = os.path.join(run_dir, "flotilla.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def callgrind_total(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {dump}")


def measure(name, command, env, port, args, out_dir):
    """Runs one target under callgrind and returns {path: instructions per request}."""
    results = {}
    for path_name, path in PATHS.items():
        prefix = os.path.join(out_dir, f"callgrind.{name}.{path_name}")
        for old in glob.glob(prefix + "*"):
            os.remove(old)
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={prefix}.%p", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(out_dir, f"{name}.{path_name}.log"), "w"),
        )
        try:
            wait_port(port)
            send(port, path, args.warmup)
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            send(port, path, args.requests, expect_hit=path == HIT_PATH)
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The first dump is the window (callgrind_control --dump); the last is at exit.
        dumps = sorted(glob.glob(f"{prefix}.*"), key=lambda p: (len(p), p))
        window = [d for d in dumps if re.search(r"\.\d+\.1$", d)]
        if not window:
            raise SystemExit(f"no window dump for {name} {path_name}: {dumps}")
        results[path_name] = callgrind_total(window[0]) / args.requests
        shutil.copy(window[0], f"{prefix}.window")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--targets", default="floor,flotilla,flotilla-nolog")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            raise SystemExit(f"missing: {tool} (Debian package valgrind)")
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    bin_dir = os.path.join(target_dir, "release")
    run_dir = tempfile.mkdtemp(prefix="flotilla-instructions.")
    out_dir = args.out or os.path.join(run_dir, "out")
    os.makedirs(out_dir, exist_ok=True)

    origin_port = free_port()
    origin = subprocess.Popen(
        [os.path.join(bin_dir, "proxy-test-origin"), "--listen", f"127.0.0.1:{origin_port}", "--id", "o1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(origin_port)
        table = {}
        for name in args.targets.split(","):
            port = free_port()
            env = dict(os.environ)
            if name == "floor":
                command = [os.path.join(bin_dir, "pingora-floor"), "--listen", f"127.0.0.1:{port}",
                           "--backend", f"127.0.0.1:{origin_port}"]
            elif name in ("flotilla", "flotilla-nolog"):
                config = render_flotilla(run_dir, port, free_port(), origin_port)
                command = [os.path.join(bin_dir, "proxy"), "--config", config]
                env["RUST_LOG"] = "info" if name == "flotilla" else "info,proxy::access=off"
            else:
                raise SystemExit(f"unknown target {name}")
            table[name] = measure(name, command, env, port, args, out_dir)
            print(f"{name}: " + ", ".join(f"{p} {v:,.0f}" for p, v in table[name].items()), file=sys.stderr)
    finally:
        origin.terminate()
        origin.wait()

    print(f"instructions per request ({args.requests} requests, 4 keep-alive connections, after {args.warmup} warm-up)")
    print()
    print("| target | pass-through | ÷ floor | cache hit | ÷ floor |")
    print("|---|---|---|---|---|")
    floor = table.get("floor")
    for name, row in table.items():
        cells = []
        for path in ("pass", "hit"):
            cells.append(f"{row[path]:,.0f}")
            cells.append(f"{row[path] / floor[path]:.3f}" if floor else "")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print(f"dumps: {out_dir} (callgrind_annotate --inclusive=no FILE.window)")


if __name__ == "__main__":
    main()
