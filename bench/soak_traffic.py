#!/usr/bin/env python3
"""Mixed traffic for bench/soak.sh, against the proxy at http://HOST:PORT, until killed
or for --seconds. Standard library only; raw sockets, so it can be the hostile clients too.

Workers (counts are flags):
  reads     GET /api/datasets with `Cache-Control: no-cache` (every one reaches an instance)
  hits      GET /api/datasets/ID of a public dataset (answered by the cache)
  uploads   POST /api/datasets, a small CSV (the CPU-heavy work)
  sse       GET /api/events as an event stream, held 5-20 s, then reconnect
  idle      connections that send nothing (the proxy closes them after client_header_ms)
  stalled   POSTs that send 10 of 1000 body bytes, then stop (408 after client_body_idle_ms)

Every 10 s (and at the end) it writes one JSON line of cumulative counts to --stats:
{"t": seconds, "ok": {...}, "errors": {...}}. An error is a status or outcome a worker
did not expect (a 5xx on a read, a refused connection, a 200 to a stalled body...).
"""

import argparse
import asyncio
import json
import random
import time

OK = {}
ERRORS = {}


def count(table, key):
    table[key] = table.get(key, 0) + 1


async def request(host, port, raw, timeout=15.0):
    """Sends raw bytes, reads one response; returns (status, head, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        text = head.decode("latin-1")
        status = int(text.split(" ", 2)[1])
        length = 0
        for line in text.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        return status, text, body
    finally:
        writer.close()


def get(path, token=None, extra=""):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: soak.test\r\n{auth}{extra}Connection: close\r\n\r\n".encode()


def post(path, body, content_type, token=None):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: soak.test\r\n{auth}Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def setup(host, port):
    email = f"soak-{int(time.time())}-{random.randrange(1 << 30)}@example.com"
    creds = json.dumps({"email": email, "password": "soak-password-1"}).encode()
    status, _, body = await request(host, port, post("/api/auth/register", creds, "application/json"))
    if status not in (200, 201):
        raise SystemExit(f"register failed: {status} {body[:200]!r}")
    token = json.loads(body)["token"]
    csv = b"n,label\n" + b"".join(f"{i},x{i % 7}\n".encode() for i in range(200))
    status, _, body = await request(
        host, port, post("/api/datasets?name=soak-public&visibility=public", csv, "text/csv", token)
    )
    if status not in (200, 201):
        raise SystemExit(f"upload failed: {status} {body[:200]!r}")
    return token, json.loads(body)["id"]


async def forever(name, one, pause):
    while True:
        try:
            await one()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            count(ERRORS, f"{name}:{type(error).__name__}")
        await asyncio.sleep(pause)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--stats", required=True)
    for worker, default in [("reads", 4), ("hits", 4), ("uploads", 1), ("sse", 20), ("idle", 50), ("stalled", 10)]:
        parser.add_argument(f"--{worker}", type=int, default=default)
    args = parser.parse_args()
    host, port = args.host, args.port
    token, dataset = await setup(host, port)

    async def read():
        status, _, _ = await request(host, port, get("/api/datasets", extra="Cache-Control: no-cache\r\n"))
        count(OK if status == 200 else ERRORS, f"read:{status}")

    async def hit():
        status, head, _ = await request(host, port, get(f"/api/datasets/{dataset}"))
        cached = "x-cache: hit" in head.lower()
        count(OK if status == 200 else ERRORS, f"hit:{status}")
        count(OK, "hit:cache" if cached else "hit:origin")

    async def upload():
        csv = b"a,b\n" + b"".join(f"{random.random()},{i}\n".encode() for i in range(500))
        name = f"soak-{random.randrange(1 << 30)}"
        status, _, _ = await request(host, port, post(f"/api/datasets?name={name}&visibility=private", csv, "text/csv", token))
        count(OK if status in (200, 201) else ERRORS, f"upload:{status}")

    async def sse():
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        try:
            writer.write(get("/api/events", extra="Accept: text/event-stream\r\n"))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
            status = int(head.split(b" ", 2)[1])
            count(OK if status == 200 else ERRORS, f"sse:{status}")
            until = time.monotonic() + random.uniform(5, 20)
            while time.monotonic() < until:
                chunk = await asyncio.wait_for(reader.read(4096), 30)
                if not chunk:
                    count(ERRORS, "sse:closed_early")
                    return
        finally:
            writer.close()

    async def idle():
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        started = time.monotonic()
        try:
            data = await asyncio.wait_for(reader.read(1), 120)
            # Closed by the proxy's header deadline: expected.
            count(OK if not data else ERRORS, "idle:closed" if not data else "idle:data")
            count(OK, f"idle:held_{min(int(time.monotonic() - started) // 5 * 5, 60)}s")
        finally:
            writer.close()

    async def stalled():
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        try:
            # Signed in, so the instance waits for the body instead of answering 401 at once.
            writer.write(f"POST /api/datasets?name=stall HTTP/1.1\r\nHost: soak.test\r\n"
                         f"Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n"
                         f"Content-Length: 1000\r\n\r\na,b\n1,2\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 120)
            status = int(head.split(b" ", 2)[1])
            # 408 from the proxy (client_body_idle_ms), or the instance's own body timeout.
            count(OK if status in (400, 408) else ERRORS, f"stalled:{status}")
        finally:
            writer.close()

    workers = []
    for name, one, n, pause in [
        ("read", read, args.reads, 0.02),
        ("hit", hit, args.hits, 0.01),
        ("upload", upload, args.uploads, 0.5),
        ("sse", sse, args.sse, 0.5),
        ("idle", idle, args.idle, 0.1),
        ("stalled", stalled, args.stalled, 0.1),
    ]:
        workers += [asyncio.create_task(forever(name, one, pause)) for _ in range(n)]

    started = time.monotonic()
    with open(args.stats, "a", buffering=1) as stats:
        while True:
            left = args.seconds - (time.monotonic() - started)
            await asyncio.sleep(max(0.0, min(10.0, left)))
            stats.write(json.dumps({"t": round(time.monotonic() - started), "ok": OK, "errors": ERRORS}) + "\n")
            if left <= 10:
                break
    for worker in workers:
        worker.cancel()


if __name__ == "__main__":
    asyncio.run(main())
