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

With `--syscalls` it counts system calls per request instead, under `strace -c` attached
to every thread after the warm-up, and can also run nginx and HAProxy (`--targets
floor,flotilla,nginx,haproxy`) with the benchmark's templates: the kernel's share of a
request on loopback is mostly in these calls, which callgrind does not see.

Usage: cargo build --release -p proxy -p test-origin -p pingora-floor
       python3 bench/instructions.py [--requests 2000] [--out DIR] [--targets floor,flotilla]
       python3 bench/instructions.py --syscalls [--targets floor,flotilla,nginx,haproxy]
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


def stop(proc, sig, timeout_s):
    """Asks `proc` to stop with `sig`, and kills it if it has not within `timeout_s`."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def render_template(name, run_dir, ports):
    """bench/templates/NAME with every origin placeholder on the one origin."""
    with open(os.path.join(ROOT, "bench/templates", name)) as f:
        text = f.read()
    for key, value in ports.items():
        text = text.replace(f"@{key}@", str(value))
    path = os.path.join(run_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def syscalls(name, command, env, port, args, out_dir):
    """Runs one target, attaches strace to all its threads (and children) after the warm-up,
    and returns {path: {syscall: calls per request}}."""
    results = {}
    for path_name, path in PATHS.items():
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(out_dir, f"{name}.{path_name}.log"), "w"))
        try:
            wait_port(port)
            time.sleep(1.0)
            send(port, path, args.warmup)
            pids = [proc.pid] + [int(p) for p in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()]
            tids = [t for pid in pids for t in os.listdir(f"/proc/{pid}/task")]
            summary = os.path.join(out_dir, f"strace.{name}.{path_name}")
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", summary, "-p", ",".join(tids)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            send(port, path, args.requests, expect_hit=path == HIT_PATH)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        finally:
            stop(proc, signal.SIGTERM, 30)
        calls = {}
        for line in open(summary):
            fields = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(fields) >= 5 and fields[-1] != "total" and fields[3].isdigit():
                calls[fields[-1]] = int(fields[3]) / args.requests
        results[path_name] = calls
    return results


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
            stop(proc, signal.SIGINT, 60)
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
    parser.add_argument("--syscalls", action="store_true")
    args = parser.parse_args()

    for tool in ("strace",) if args.syscalls else ("valgrind", "callgrind_control"):
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
            elif name in ("nginx", "haproxy") and args.syscalls:
                ports = {"RUN": run_dir, "SHM": run_dir, "NGINX_PORT": port, "HAPROXY_PORT": port,
                         **{f"ORIGIN{i}_PORT": origin_port for i in (1, 2, 3)}}
                os.makedirs(os.path.join(run_dir, "nginx-tmp"), exist_ok=True)
                if name == "nginx":
                    os.chmod(run_dir, 0o711)  # its worker, an unprivileged user, keeps its cache here
                    config = render_template("nginx.conf", run_dir, ports)
                    command = ["nginx", "-p", run_dir, "-c", config, "-e", os.path.join(run_dir, "nginx-error.log")]
                else:
                    command = ["haproxy", "-db", "-f", render_template("haproxy.cfg", run_dir, ports)]
            else:
                raise SystemExit(f"unknown target {name}")
            if args.syscalls:
                table[name] = syscalls(name, command, env, port, args, out_dir)
                continue
            table[name] = measure(name, command, env, port, args, out_dir)
            print(f"{name}: " + ", ".join(f"{p} {v:,.0f}" for p, v in table[name].items()), file=sys.stderr)
    finally:
        origin.terminate()
        origin.wait()

    if args.syscalls:
        print_syscalls(table, args)
        return
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


def print_syscalls(table, args):
    print(f"system calls per request ({args.requests} requests, 4 keep-alive connections, after {args.warmup} warm-up)")
    for path in ("pass", "hit"):
        names = sorted({n for row in table.values() for n in row[path]},
                       key=lambda n: -max(row[path].get(n, 0) for row in table.values()))
        names = [n for n in names if max(row[path].get(n, 0) for row in table.values()) >= 0.05]
        print()
        print(f"{'pass-through' if path == 'pass' else 'cache hit'}:")
        print()
        print("| syscall | " + " | ".join(table) + " |")
        print("|---|" + "---|" * len(table))
        for n in names:
            print(f"| {n} | " + " | ".join(f"{row[path].get(n, 0):.2f}" for row in table.values()) + " |")
        print("| **all** | " + " | ".join(f"**{sum(row[path].values()):.2f}**" for row in table.values()) + " |")


if __name__ == "__main__":
    main()
