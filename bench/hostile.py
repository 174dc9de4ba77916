#!/usr/bin/env python3
"""The hostile clients of the app hardening, run against a real `app` binary, with the
instance's peak memory for each attack. Standard library only.

    bench/hostile.py target/release/app --json after.json       # every attack
    bench/hostile.py target/release/app --only a,d             # some of them
    bench/hostile.py --compare before.json after.json          # Markdown tables

Every attack gets a fresh instance: the script starts the binary on a free loopback port
with a temporary SQLite directory, a random JWT secret and `APP__DRAIN_SECS=0`, waits for
`/readyz`, attacks it, reads its peak RSS (`VmHWM` in /proc/PID/status) and stops it.
A sampler also follows VmRSS and the thread count every 50 ms and kills the instance if
its RSS passes --rss-cap-mib, so an old binary cannot take the machine down with it.

  a  200 concurrent registrations, each from its own X-Forwarded-For address
  b  100 concurrent wrong logins on one account from one address; then the right
     password from that address and from another one
  c  logins with a 2 MB email, repeated (--repeat): RSS and how much the database grows
  d  a 19.9 MB CSV whose second cell is one huge field of control characters; the size
     and time of its detail (GET /api/datasets/ID, three times)
  e  a CSV of 3 000 000 header-only columns
  f  300 uploads (--stalled) that send their head and 8 body bytes, then nothing; then
     three timed logins and one real upload
  g  40 000 requests with invented methods (--methods); then the size of /metrics

Every loop is bounded in count and time and every client call has a timeout. Traffic goes
to 127.0.0.1 only. A binary older than a fix simply shows the old behaviour.
"""

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter

from hostile_kit import MIB, Instance, call, burst

PASSWORD = "correct horse battery staple"


def statuses(answers):
    return dict(sorted(Counter(str(a.status) for a in answers).items()))


def register(app, email, address="192.0.2.1"):
    answer = call(app.port, "POST", "/api/auth/register",
                  {"email": email, "password": PASSWORD}, {"X-Forwarded-For": address})
    return answer.json().get("token", "")


def login(app, email, password, address, timeout=60):
    return call(app.port, "POST", "/api/auth/login", {"email": email, "password": password},
                {"X-Forwarded-For": address}, timeout=timeout)


def upload(app, token, csv, name, timeout=300, keep_body=True):
    return call(app.port, "POST", f"/api/datasets?name={name}&visibility=public", csv,
                {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                timeout=timeout, keep_body=keep_body)


def attack_registrations(app, args):
    answers = burst(args.registrations, lambda i: call(
        app.port, "POST", "/api/auth/register",
        {"email": f"user{i}@example.org", "password": PASSWORD},
        {"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"}, timeout=120), deadline_s=180)
    refused = [a for a in answers if a.status in (429, 503)]
    time.sleep(args.settle)
    now = app.status()
    return answers, {
        "429/503 without Retry-After": sum("retry-after" not in a.headers for a in refused),
        f"RSS {args.settle:g} s later (MiB)": mib(now["rss"]) if now else "gone",
    }


def attack_guesses(app, args):
    email = "owner@example.org"
    register(app, email)
    answers = burst(args.guesses, lambda i: login(
        app, email, f"wrong guess {i}", "203.0.113.66"), deadline_s=180)
    return answers, {
        "verified (401)": sum(a.status == 401 for a in answers),
        "right password, guesser's address": login(app, email, PASSWORD, "203.0.113.66").status,
        "right password, another address": login(app, email, PASSWORD, "198.51.100.20").status,
    }


def attack_long_email(app, args):
    before = app.db_bytes()
    answers = []
    for i in range(args.repeat):
        email = f"{i:04d}" + "a" * 2_000_000 + "@example.org"
        answers.append(login(app, email, "wrong password", f"198.51.100.{i % 250 + 1}"))
    rows, key_bytes = app.query("SELECT COUNT(*), COALESCE(SUM(LENGTH(key)), 0) FROM login_failures")
    return answers, {
        "database growth (MiB)": mib(app.db_bytes() - before),
        "login_failures rows": rows,
        "login_failures key bytes (MiB)": mib(key_bytes),
    }


def detail_figures(app):
    """Three GETs of the one stored dataset (found by listing: the upload's own answer
    carries the whole analysis, which an old binary made hundreds of MB)."""
    items = call(app.port, "GET", "/api/datasets").json().get("items", [])
    if not items:
        return {"detail": "nothing stored"}
    dataset = items[0]["id"]
    gets = [call(app.port, "GET", f"/api/datasets/{dataset}", timeout=120, keep_body=False)
            for _ in range(3)]
    return {
        "detail status": "/".join(str(g.status) for g in gets),
        "detail JSON (KiB)": round(gets[0].size / 1024, 1),
        "detail GET times (s)": "/".join(f"{g.seconds:.2f}" for g in gets),
    }


def attack_huge_cell(app, args):
    token = register(app, "bomb@example.org")
    csv = bytearray(b"id,note\n1,")
    csv.extend(b"\x01" * (19_900_000 - len(csv)))
    csv.extend(b"\n")
    answer = upload(app, token, bytes(csv), "bomb", keep_body=False)
    figures = {"upload time (s)": round(answer.seconds, 2),
               "upload answer (KiB)": round(answer.size / 1024, 1)}
    figures.update(detail_figures(app))
    figures["database (MiB)"] = mib(app.db_bytes())
    return [answer], figures


def attack_columns(app, args):
    token = register(app, "bomb@example.org")
    csv = (",".join(["x"] * 3_000_000) + "\n").encode()
    answer = upload(app, token, csv, "columns")
    listed = call(app.port, "GET", "/api/datasets").json().get("items", [])
    message = answer.json().get("error", {}).get("message", "")
    return [answer], {
        "upload time (s)": round(answer.seconds, 2),
        "answer": message[:80] or "-",
        "datasets stored": len(listed),
    }


def attack_stalls(app, args):
    email = "slow@example.org"
    token = register(app, email)
    head = (f"POST /api/datasets?name=stalled HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: 1000000\r\n\r\na,b\n1,2\n").encode()
    stalled, opened = [], time.monotonic()
    try:
        for _ in range(args.stalled):
            sock = socket.create_connection(("127.0.0.1", app.port), timeout=5)
            sock.sendall(head)
            stalled.append(sock)
        deadline = time.monotonic() + 30
        while app.fds() < args.stalled and time.monotonic() < deadline:
            time.sleep(0.05)
        held = app.fds()
        logins = [login(app, email, PASSWORD, "192.0.2.2", timeout=30) for _ in range(3)]
        real = upload(app, token, b"a,b\n1,2\n3,4\n", "real", timeout=10)
        now = app.status()
        return logins, {
            "stalled uploads held (fds)": held,
            "login times (s)": "/".join(f"{a.seconds:.2f}" for a in logins),
            "real upload": f"{real.status} in {real.seconds:.2f} s",
            "threads": now["threads"] if now else "gone",
            "seconds since the stalls began": round(time.monotonic() - opened, 1),
        }
    finally:
        for sock in stalled:
            sock.close()


def attack_methods(app, args):
    answers, lock, end = [], threading.Lock(), time.monotonic() + 300
    per_worker = args.methods // 4

    def worker(w):
        conn, mine = None, []
        for i in range(w * per_worker, (w + 1) * per_worker):
            if time.monotonic() > end:
                break
            conn = conn or http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
            answer = call(app.port, f"X{i:05d}", "/api/datasets", conn=conn, keep_body=False)
            conn = conn if isinstance(answer.status, int) else None
            mine.append(answer)
        if conn:
            conn.close()
        with lock:
            answers.extend(mine)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end + 5 - time.monotonic()))
    metrics = call(app.port, "GET", "/metrics", timeout=60, keep_body=False)
    return answers, {
        "/metrics": f"{metrics.status}, {metrics.size / 1024:.1f} KiB in {metrics.seconds:.2f} s",
    }


ATTACKS = {
    "a": ("200 concurrent registrations", attack_registrations),
    "b": ("100 concurrent wrong logins on one account", attack_guesses),
    "c": ("logins with a 2 MB email", attack_long_email),
    "d": ("a 19.9 MB CSV with one huge cell", attack_huge_cell),
    "e": ("a CSV with 3 000 000 header-only columns", attack_columns),
    "f": ("stalled uploads, then logins", attack_stalls),
    "g": ("requests with invented methods", attack_methods),
}


def mib(size):
    return round(size / MIB, 1)


def run(args):
    env = dict(pair.split("=", 1) for pair in args.env)
    results = {"binary": os.path.abspath(args.binary), "attacks": {}}
    for letter in args.only.split(","):
        title, attack = ATTACKS[letter]
        print(f"[{letter}] {title} ...", file=sys.stderr, flush=True)
        with Instance(args.binary, env, args.rss_cap_mib) as app:
            idle = app.status()
            started = time.monotonic()
            answers, figures = attack(app, args)
            wall = time.monotonic() - started
            app.status()
            alive = app.proc.poll() is None
            result = {
                "title": title,
                "peak RSS (MiB)": mib(app.peak["hwm"]),
                "idle RSS (MiB)": mib(idle["hwm"]),
                "statuses": statuses(answers),
                "wall time (s)": round(wall, 2),
                "peak threads": app.peak["threads"],
                **figures,
                "instance after": "alive" if alive else
                ("killed at the RSS cap" if app.capped else f"exited {app.proc.returncode}"),
            }
        results["attacks"][letter] = result
        print(json.dumps(result), file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1)
    return results


def cell(value):
    if isinstance(value, dict):
        return ", ".join(f"{k}×{v}" for k, v in value.items()) or "-"
    return str(value).replace("|", "\\|")


def compare(paths):
    """One Markdown table per attack, one column per results file."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as source:
            runs.append(json.load(source)["attacks"])
    names = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    for letter in ATTACKS:
        present = [r[letter] for r in runs if letter in r]
        if not present:
            continue
        print(f"\n**({letter}) {present[0]['title']}**\n")
        print("| | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        keys = [k for r in present for k in r if k != "title"]
        for key in dict.fromkeys(keys):
            row = [cell(r.get(letter, {}).get(key, "-")) for r in runs]
            print(f"| {key} | " + " | ".join(row) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", nargs="?", help="path of the app binary")
    parser.add_argument("--only", default=",".join(ATTACKS), help="attacks, e.g. a,d")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--compare", nargs="+", metavar="JSON", help="print tables and exit")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the app, e.g. APP__MAX_COLUMNS=500")
    parser.add_argument("--rss-cap-mib", type=int, default=10240)
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to wait after (a) before reading RSS again")
    parser.add_argument("--guesses", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20, help="logins with a 2 MB email")
    parser.add_argument("--stalled", type=int, default=300)
    parser.add_argument("--methods", type=int, default=40_000)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
    elif args.binary:
        run(args)
    else:
        parser.error("give the app binary, or --compare")


if __name__ == "__main__":
    main()
