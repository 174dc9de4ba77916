"""The pieces bench/hostile.py attacks with: an `app` process on a free loopback port whose
memory is sampled, and an HTTP client that never raises and always has a timeout.
Standard library only."""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

SAMPLE_EVERY_S = 0.05
MIB = 1024 * 1024


def free_port():
    """A loopback port nobody holds right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status(pid):
    """VmRSS, VmHWM (bytes) and Threads of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None
    kib = lambda key: int(fields.get(key, "0 kB").split()[0]) * 1024
    return {"rss": kib("VmRSS"), "hwm": kib("VmHWM"), "threads": int(fields["Threads"])}


class Instance:
    """One `app` process on a free port with its own data directory; a context manager."""

    def __init__(self, binary, env, rss_cap_mib):
        self.dir = tempfile.mkdtemp(prefix="flotilla-hostile-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.cap = rss_cap_mib * MIB
        self.peak = {"rss": 0, "hwm": 0, "threads": 0}
        self.capped = False
        base = {k: v for k, v in os.environ.items() if not k.startswith("APP")}
        base.update(
            JWT_SECRET=secrets.token_urlsafe(48),
            DATABASE_URL=f"sqlite://{self.data}/app.db",
            APP__DRAIN_SECS="0",
            RUST_LOG="error",
        )
        base.update(env)
        self.log = open(os.path.join(self.dir, "app.log"), "w+b")
        self.proc = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{self.port}"],
            env=base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
        )
        self.stopped = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()
        try:
            self._wait_ready(30)
        except BaseException:
            self.__exit__()
            raise

    def _wait_ready(self, within_s):
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}: {self.log_tail()}")
            if call(self.port, "GET", "/readyz", timeout=2).status == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the app was not ready within {within_s} s: {self.log_tail()}")

    def _sample(self):
        while not self.stopped.is_set():
            now = proc_status(self.proc.pid)
            if now is None or self.proc.poll() is not None:
                return
            for key in self.peak:
                self.peak[key] = max(self.peak[key], now[key])
            if now["rss"] > self.cap:
                self.capped = True
                self.proc.kill()
                return
            time.sleep(SAMPLE_EVERY_S)

    def status(self):
        """Current figures, or the last sampled peaks once the process is gone."""
        now = proc_status(self.proc.pid) if self.proc.poll() is None else None
        if now:
            self.peak["hwm"] = max(self.peak["hwm"], now["hwm"])
        return now

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except FileNotFoundError:
            return 0

    def db_bytes(self):
        """The SQLite file with its WAL and SHM, in bytes."""
        if not os.path.isdir(self.data):
            return 0
        return sum(os.path.getsize(os.path.join(self.data, n)) for n in os.listdir(self.data))

    def query(self, sql):
        """One row from the instance's database, read-only, beside the running app."""
        uri = f"file:{self.data}/app.db?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as db:
            return db.execute(sql).fetchone()

    def log_tail(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:].decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stopped.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Answer:
    """What one request got: a status (or `error:Kind`), body length, a few headers, time."""

    def __init__(self, status, body=b"", headers=None, seconds=0.0, size=None):
        self.status, self.body, self.seconds = status, body, seconds
        self.headers = headers or {}
        self.size = len(body) if size is None else size

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


def call(port, method, path, body=None, headers=None, timeout=30, keep_body=True, conn=None):
    """One request on a new connection (or on `conn`, kept open); never raises."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        kept, size = [], 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if keep_body:
                kept.append(chunk)
        picked = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, b"".join(kept), picked, time.monotonic() - started, size)
    except (OSError, http.client.HTTPException) as error:
        if not own:
            conn.close()
        return Answer(f"error:{type(error).__name__}", seconds=time.monotonic() - started)
    finally:
        if own:
            conn.close()


def burst(count, one, deadline_s):
    """Runs `one(i)` for i < count in threads released together; unfinished ones are `hung`."""
    results = [Answer("hung")] * count
    gate = threading.Barrier(count + 1)

    def worker(i):
        gate.wait()
        results[i] = one(i)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    gate.wait()
    end = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    return results
