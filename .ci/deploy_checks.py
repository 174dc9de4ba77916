#!/usr/bin/env python3
"""Deployment checks that run real things, for .ci/ops-checks.

  deploy_checks.py render-health PROXY_BIN   the proxy, started with render.toml, answers
                                             Render's healthCheckPath 200 on its port
  deploy_checks.py compose COMPOSE...        the Compose files' guards, run for real
  deploy_checks.py alertmanager              every receiver renders to a valid config
  deploy_checks.py render-deploy             deploy/render-deploy.sh against a stand-in
                                             for Render's API: live, failed, timed out

COMPOSE is the command that prints the merged Compose config (`docker compose` or
`docker-compose`). Each failure names the file and what is wrong; exit status 1 if any.
Needs Python 3.11+ (tomllib) and PyYAML.
"""

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_SECS = 30
errors = []


def fail(message):
    errors.append(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def poll_status(url, proc):
    """The first HTTP status `url` answers within the deadline, or None."""
    deadline = time.monotonic() + DEADLINE_SECS
    while time.monotonic() < deadline and proc.poll() is None:
        status = status_of(url)
        if status is not None:
            return status
        time.sleep(0.1)
    return None


def render_health(proxy_bin):
    """Starts the proxy with render.toml (its ports moved to free ones) and asks for the
    path render.yaml's health check uses, as Render would, on the public port."""
    render = yaml.safe_load((ROOT / "render.yaml").read_text())
    proxy = next(s for s in render["services"] if s["name"] == "flotilla-proxy")
    path = proxy["healthCheckPath"]
    text = (ROOT / "proxy/config/render.toml").read_text()
    config = tomllib.loads(text)
    expected = config.get("public", {}).get("health_path", "/.flotilla/health")
    if path != expected:
        fail(f"render.yaml: healthCheckPath {path} is not render.toml's health_path {expected}")
    public, admin = free_port(), free_port()
    text = text.replace('addr = "0.0.0.0:8080"', f'addr = "127.0.0.1:{public}"')
    text = text.replace('addr = "127.0.0.1:8081"', f'addr = "127.0.0.1:{admin}"')
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "render.toml"
        conf.write_text(text)
        env = dict(os.environ, PROXY__SERVER__UPGRADE_SOCK=str(Path(tmp) / "upgrade.sock"))
        log = open(Path(tmp) / "proxy.log", "w+")
        proc = subprocess.Popen([proxy_bin, "--config", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            status = poll_status(f"http://127.0.0.1:{public}{path}", proc)
            denied = status_of(f"http://127.0.0.1:{public}/healthz")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.seek(0)
        output = log.read()
    if status != 200:
        fail(f"proxy with render.toml answered {status} on {path} (want 200):\n{output[-2000:]}")
    else:
        print(f"render.toml: {path} answers 200 on the public port, with no app reachable")
    if denied != 404:
        fail(f"proxy with render.toml answered {denied} on /healthz; the app's internals "
             "must stay private (404)")


def compose_config(compose, files, env, profiles=()):
    args = [*compose]
    for name in files:
        args += ["-f", str(ROOT / name)]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run([*args, "--env-file", str(ROOT / ".env.example"), "config"],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        fail(f"{' + '.join(files)}: config failed: {result.stderr.strip()}")
        return None
    return yaml.safe_load(result.stdout)


def listener_ports(config):
    """`[[listeners]]` of a proxy config by port."""
    return {int(l["addr"].rsplit(":", 1)[1]): l for l in config.get("listeners", [])}


def check_https_profile(services):
    """`--profile https`: proxy-https publishes 80 and 443 with compose-https.toml's
    listeners behind them, keeps [tls.acme] storage_dir on a volume, checks its health over
    plain HTTP, and refuses to start without a real DOMAIN and ACME_EMAIL."""
    name = "proxy-https"
    service = services.get(name)
    if service is None:
        fail("docker-compose.yml: no proxy-https service in the https profile")
        return
    command = " ".join(service.get("command") or [])
    if "/etc/flotilla/compose-https.toml" not in command:
        fail(f"docker-compose.yml: proxy-https runs {command!r}, not compose-https.toml")
    config = tomllib.loads((ROOT / "proxy/config/compose-https.toml").read_text())
    listeners = listener_ports(config)
    if not listeners.get(80, {}).get("redirect_to_https"):
        fail("compose-https.toml: the listener on port 80 does not redirect to HTTPS")
    https = listeners.get(443, {})
    if https.get("tls") != {"acme": True} or not https.get("hsts_max_age_secs"):
        fail("compose-https.toml: the listener on port 443 lacks tls = { acme = true } or HSTS")
    published = {int(p["target"]) if isinstance(p, dict) else int(str(p).rsplit(":", 1)[1])
                 for p in service.get("ports", [])}
    if not {80, 443} <= published:
        fail(f"docker-compose.yml: proxy-https publishes {sorted(published)}, want 80 and 443")
    acme = config.get("tls", {}).get("acme", {})
    storage = acme.get("storage_dir")
    # `docker compose config` writes mounts as mappings, Debian's docker-compose as strings.
    mounts = [v.get("target") if isinstance(v, dict) else v.split(":")[1]
              for v in service.get("volumes", [])]
    if storage not in mounts:
        fail(f"docker-compose.yml: proxy-https mounts {mounts}, not [tls.acme] storage_dir "
             f"{storage!r}; certificates would be lost on every restart")
    environment = service.get("environment", {})
    for key in ("DOMAINS", "CONTACT_EMAIL", "DIRECTORY_URL"):
        if f"PROXY__TLS__ACME__{key}" not in environment:
            fail(f"docker-compose.yml: proxy-https does not set PROXY__TLS__ACME__{key}")
    path = config.get("public", {}).get("health_path", "/.flotilla/health")
    test = " ".join(service.get("healthcheck", {}).get("test", []))
    if f"http://127.0.0.1:80{path}" not in test:
        fail(f"docker-compose.yml: proxy-https's healthcheck ({test!r}) is not "
             f"http://127.0.0.1:80{path}")
    entrypoint = service.get("entrypoint") or []
    real = {"DOMAIN": "flotilla.app.test", "ACME_EMAIL": "ops@app.test"}
    cases = [
        ({}, False),
        (dict(real, DOMAIN="flotilla.example.com"), False),
        (dict(real, ACME_EMAIL="ops@example.com"), False),
        (real, True),
    ]
    for env, starts in cases:
        ran = run_guard(name, entrypoint, ["true"], env)
        if (ran.returncode == 0) != starts:
            fail(f"docker-compose.yml: proxy-https {'refuses' if starts else 'starts with'} "
                 f"{env}: {ran.stderr.strip()}")
    print("proxy-https: 80 redirects, 443 is ACME with HSTS, storage on a volume, "
          "refuses a missing or placeholder DOMAIN/ACME_EMAIL")


def run_guard(service, entrypoint, command, env):
    """Runs a service's entrypoint script as its container would, with `env`, on a
    PATH where the real program is a stub that exits 0: the guard's own verdict."""
    with tempfile.TemporaryDirectory() as tmp:
        for stub in ("docker-entrypoint.sh", "run.sh"):
            path = Path(tmp) / stub
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(0o755)
        # `config` prints the file's escaped form; the container sees `$`.
        script = [part.replace("$$", "$").replace("/run.sh", "run.sh") for part in entrypoint]
        env = dict(env, PATH=f"{tmp}:{os.environ['PATH']}")
        return subprocess.run([*script, *command], capture_output=True, text=True, env=env)


def compose(compose_cmd):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("POSTGRES_", "GRAFANA_", "JWT_", "APP_", "IMAGE_", "ALERT")):
            del env[key]
    base = compose_config(compose_cmd, ["docker-compose.yml"], env)
    compose_config(compose_cmd, ["docker-compose.yml", "docker-compose.split.yml"], env)
    images = compose_config(compose_cmd, ["docker-compose.yml", "docker-compose.images.yml"],
                            dict(env, IMAGE_TAG="0123abc"))
    if images:
        for name in ("app", "proxy"):
            if not images["services"][name]["image"].endswith(f"-{name}:0123abc"):
                fail(f"docker-compose.images.yml: {name} runs {images['services'][name]['image']}")
    https = compose_config(compose_cmd, ["docker-compose.yml"], env, profiles=["https"])
    if https:
        check_https_profile(https["services"])
    if base is None:
        return
    services = base["services"]
    # Debian's docker-compose lists every profile's services in `config`: read the file.
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    if raw.get("proxy-https", {}).get("profiles") != ["https"]:
        fail("docker-compose.yml: proxy-https is not in the https profile alone")
    # Placeholders refused, real secrets accepted, by the entrypoints themselves.
    guards = {"postgres": "POSTGRES_PASSWORD", "grafana": "GF_SECURITY_ADMIN_PASSWORD"}
    for name, var in guards.items():
        service = services[name]
        entrypoint = service.get("entrypoint")
        if not entrypoint:
            fail(f"docker-compose.yml: {name} has no entrypoint guard against placeholders")
            continue
        command = service.get("command") or []
        placeholder = run_guard(name, entrypoint, command, {var: "CHANGE-ME-x"})
        real = run_guard(name, entrypoint, command, {var: "s3cret-from-a-vault"})
        if placeholder.returncode == 0 or "placeholder" not in placeholder.stderr:
            fail(f"docker-compose.yml: {name} starts with {var}=CHANGE-ME-x")
        elif real.returncode != 0:
            fail(f"docker-compose.yml: {name} refuses a real {var}: {real.stderr}")
        else:
            print(f"{name}: refuses the .env.example placeholder ({placeholder.stderr.strip()})")
    # The connection budget: ten replicas fit in Postgres's max_connections.
    command = " ".join(services["postgres"].get("command") or [])
    limit = re.search(r"max_connections=(\d+)", command)
    pool = services["app"]["environment"].get("APP__DB_MAX_CONNECTIONS")
    if not limit or not pool:
        fail("docker-compose.yml: postgres max_connections or the app's APP__DB_MAX_CONNECTIONS is unset")
    elif 10 * int(pool) + 5 > int(limit.group(1)):
        fail(f"docker-compose.yml: 10 replicas x {pool} connections + 5 exceeds "
             f"max_connections={limit.group(1)}")
    else:
        print(f"connections: 10 replicas x {pool} + 5 reserved <= {limit.group(1)}")
    # The proxy's health check is its public health path on its public port.
    config = tomllib.loads((ROOT / "proxy/config/compose.toml").read_text())
    path = config.get("public", {}).get("health_path", "/.flotilla/health")
    port = config["listeners"][0]["addr"].rsplit(":", 1)[1]
    test = " ".join(services["proxy"].get("healthcheck", {}).get("test", []))
    if f"127.0.0.1:{port}{path}" not in test:
        fail(f"docker-compose.yml: the proxy's healthcheck ({test!r}) is not "
             f"http://127.0.0.1:{port}{path}")
    if "alertmanager" not in services:
        fail("docker-compose.yml: no alertmanager service")


def alertmanager():
    amtool = shutil.which("amtool")
    if not amtool:
        fail("amtool is not on PATH (Debian: prometheus-alertmanager)")
        return
    settings = {"ALERT_EMAIL_TO": "ops@example.com",
                "ALERT_EMAIL_FROM": "Flotilla alerts <alerts@example.com>",
                "ALERT_SMTP_SMARTHOST": "smtp.example.com:465",
                "ALERT_SMTP_PASSWORD": "p&ss|word\\",
                "ALERT_WEBHOOK_URL": "https://hooks.example.com/a?b=1&c=2"}
    start = ROOT / "monitoring/alertmanager/start.sh"
    for receiver in ("none", "email", "webhook"):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, ALERTMANAGER_RECEIVER=receiver, **settings)
            rendered = subprocess.run(["sh", str(start), "--render", tmp], env=env,
                                      capture_output=True, text=True)
            if rendered.returncode != 0:
                fail(f"alertmanager start.sh ({receiver}): {rendered.stderr}")
                continue
            check = subprocess.run([amtool, "check-config", f"{tmp}/alertmanager.yml"],
                                   capture_output=True, text=True)
            if check.returncode != 0:
                fail(f"alertmanager config ({receiver}) is invalid: {check.stdout}{check.stderr}")
                continue
            config = yaml.safe_load(Path(f"{tmp}/alertmanager.yml").read_text())
            if config["route"]["receiver"] != receiver:
                fail(f"alertmanager: receiver {receiver} rendered as {config['route']['receiver']}")
            if (Path(tmp) / "smtp_password").read_text() != settings["ALERT_SMTP_PASSWORD"]:
                fail("alertmanager: the SMTP password file differs from ALERT_SMTP_PASSWORD")
            print(f"alertmanager: receiver {receiver} renders a valid config")
    missing = subprocess.run(["sh", str(start), "--render", tempfile.gettempdir()],
                             env=dict(os.environ, ALERTMANAGER_RECEIVER="email"),
                             capture_output=True, text=True)
    if missing.returncode == 0:
        fail("alertmanager: receiver email starts without ALERT_EMAIL_TO")


class FakeRender(BaseHTTPRequestHandler):
    """Render's deploy hook and deploys API, as far as render-deploy.sh uses them. The
    deploy's statuses come from `server.statuses`, one per poll, the last one repeated."""

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path != "/deploy/srv-abc123" or query.get("key") != ["k"]:
            return self.reply(404, {"message": "not found"})
        self.server.images.append(query.get("imgURL", [""])[0])
        # Render's form, fractional seconds included.
        self.server.created = time.strftime("%Y-%m-%dT%H:%M:%S.123456Z", time.gmtime())
        self.reply(200, {"deploy": {"id": "dep-1"}} if self.server.hook_answers else None)

    def do_GET(self):
        if self.headers.get("authorization") != "Bearer test-key":
            return self.reply(401, {"message": "unauthorized"})
        url = urlparse(self.path)
        deploy = {"id": "dep-1", "createdAt": self.server.created,
                  "image": {"ref": self.server.images[-1] if self.server.images else ""}}
        if url.path == "/v1/services/srv-abc123/deploys":
            return self.reply(200, [{"deploy": dict(deploy, status="created")}])
        if url.path == "/v1/services/srv-abc123/deploys/dep-1":
            statuses = self.server.statuses
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            return self.reply(200, dict(deploy, status=status))
        self.reply(404, {"message": "not found"})


def render_deploy():
    script = ROOT / "deploy/render-deploy.sh"
    image = "ghcr.io/flotilla-lb/flotilla-app@sha256:" + "ab" * 32
    cases = [
        ("goes live", True, ["build_in_progress", "update_in_progress", "live"], image, 0),
        ("hook without a body", False, ["update_in_progress", "live"], image, 0),
        ("update fails", True, ["update_in_progress", "update_failed"], image, 1),
        ("never goes live", True, ["update_in_progress"], image, 3),
        ("a tag, not a digest", True, ["live"], "ghcr.io/flotilla-lb/flotilla-app:latest", 2),
    ]
    for name, hook_answers, statuses, ref, want in cases:
        server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRender)
        server.hook_answers, server.statuses, server.images = hook_answers, list(statuses), []
        server.created = "1970-01-01T00:00:00Z"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        env = dict(os.environ, RENDER_API_KEY="test-key", RENDER_API_URL=f"{base}/v1",
                   POLL_SECS="0.1", TIMEOUT_SECS="2")
        result = subprocess.run(["bash", str(script), "flotilla-app",
                                 f"{base}/deploy/srv-abc123?key=k", ref],
                                capture_output=True, text=True, env=env, timeout=60)
        server.shutdown()
        output = result.stdout + result.stderr
        if result.returncode != want:
            fail(f"render-deploy.sh, {name}: exit {result.returncode}, want {want}:\n{output}")
        elif want == 0 and (server.images != [ref] or "is live" not in output):
            fail(f"render-deploy.sh, {name}: deployed {server.images}, said:\n{output}")
        else:
            print(f"render-deploy.sh, {name}: exit {want}")


def main():
    match sys.argv[1:]:
        case ["render-health", proxy_bin]:
            render_health(proxy_bin)
        case ["compose", *compose_cmd] if compose_cmd:
            compose(compose_cmd)
        case ["alertmanager"]:
            alertmanager()
        case ["render-deploy"]:
            render_deploy()
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
