#!/usr/bin/env python3
"""Cross-file checks for monitoring and deployment, run by .ci/ops-checks.

Each check names the file and the thing that disagrees. With --list-queries, prints
instead a JSON list of every PromQL expression the dashboards and recording rules use
(Grafana variables replaced by match-all values), for a test that asserts each returns
data against a live Prometheus.

Needs Python 3.11+ (tomllib) and PyYAML.
"""

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "monitoring/prometheus"
DASHBOARDS = sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json"))
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
METRICS_RS = ROOT / "shared/src/metrics.rs"

# Grafana variables, replaced by what "All" means in these dashboards.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$upstream": ".+",
             "$instance": ".+", "$route": ".+"}
# Series Prometheus makes itself.
BUILTIN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "offset", "bool", "inf", "nan"}

errors = []


def fail(message):
    errors.append(message)


def substitute(expr):
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def dashboard_queries(paths=None):
    """(source, expr) for every panel target, nested rows included."""
    out = []
    for path in paths or DASHBOARDS:
        board = json.loads(path.read_text())

        def walk(panels):
            for panel in panels:
                for target in panel.get("targets", []):
                    if target.get("expr"):
                        out.append((f"{path.name}: {panel.get('title')}", target["expr"]))
                walk(panel.get("panels", []))

        walk(board.get("panels", []))
    return out


def rules():
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield path, rule


def contract_metrics():
    return set(re.findall(r'pub const \w+: &str =\s*"(\w+)";', METRICS_RS.read_text()))


def series_names(expr):
    """Metric and recording-rule names an expression reads (a lexical approximation)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)          # strings
    text = re.sub(r"\{[^}]*\}", " ", text)                  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                 # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def check_exprs_parse(queries):
    """Every dashboard expression is valid PromQL: promtool parses it as a rule."""
    doc = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:check_{i}:expr", "expr": substitute(expr)}
        for i, (_, expr) in enumerate(queries)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(doc, f)
    result = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    Path(f.name).unlink()
    if result.returncode != 0:
        bad = sorted({int(i) for i in re.findall(r"dashboard:check_(\d+):expr", result.stdout + result.stderr)})
        where = "".join(f"\n  {queries[i][0]}: {queries[i][1]}" for i in bad)
        fail(f"dashboard expressions do not parse:{where}\n" + result.stdout + result.stderr)


def check_dashboards(recorded, known):
    """Every panel reads the `${datasource}` variable (so a board imports into a Grafana
    whose datasource uid differs), and a board with an `instance` variable applies it to
    every per-route panel."""
    uids = {}
    for path in DASHBOARDS:
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            fail(f"{path.name}: invalid JSON: {e}")
            continue
        if board.get("uid") in uids:
            fail(f"{path.name}: uid {board.get('uid')} also used by {uids[board['uid']]}")
        uids[board.get("uid")] = path.name
        variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
        ds_var = variables.get("datasource", {})
        if ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
            fail(f"{path.name}: no `datasource` variable of type datasource (prometheus)")
        for ds in re.findall(r'"datasource": \{[^}]*"uid": "([^"]+)"', json.dumps(board, indent=1)):
            if ds != "${datasource}":
                fail(f"{path.name}: datasource uid {ds!r}; use the variable ${{datasource}}")
        if "instance" in variables:
            for source, expr in dashboard_queries([path]):
                per_route = "route" in expr and re.search(r"\bapp_|:app_", expr)
                if per_route and "$instance" not in expr:
                    fail(f"{source}: {expr} is per route but ignores the instance variable")
    queries = dashboard_queries()
    if not queries:
        fail("no dashboard expressions found")
    check_exprs_parse(queries)
    uses_recorded = 0
    for source, expr in queries:
        names = series_names(substitute(expr))
        uses_recorded += any(":" in n for n in names)
        for name in names:
            check_name(f"{source}: {expr}", name, recorded, known)
    print(f"{len(DASHBOARDS)} dashboards, {len(queries)} expressions, "
          f"{uses_recorded} of them on recording rules")


def check_name(where, name, recorded, known):
    if ":" in name:
        if name not in recorded:
            fail(f"{where}: {name} is not a recording rule")
    elif re.sub(r"_(bucket|sum|count)$", "", name) not in known and name not in known:
        fail(f"{where}: {name} is not in the metric contract ({METRICS_RS.relative_to(ROOT)})")


def check_rules(known):
    recorded, alerts = [], []
    for path, rule in rules():
        if "record" in rule:
            recorded.append(rule["record"])
        else:
            alerts.append((path, rule))
    for name in {n for n in recorded if recorded.count(n) > 1}:
        fail(f"recording rule {name} is defined twice")
    recorded = set(recorded)
    for path, rule in rules():
        where = f"{path.name}: {rule.get('record') or rule.get('alert')}"
        for name in series_names(rule["expr"]):
            check_name(where, name, recorded, known)
    runbook_base = "https://github.com/flotilla-lb/flotilla/blob/main/"
    tested = set()
    for test_file in (PROM / "tests").glob("*.yml"):
        for test in yaml.safe_load(test_file.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    tested.add(case["alertname"])
    for path, rule in alerts:
        name, notes = rule["alert"], rule.get("annotations", {})
        if not notes.get("summary"):
            fail(f"{path.name}: alert {name} has no summary")
        url = notes.get("runbook_url") or notes.get("runbook")
        if not url:
            fail(f"{path.name}: alert {name} has no runbook_url")
        elif not re.fullmatch(re.escape(runbook_base) + r"docs/runbooks/[\w-]+\.md", url):
            fail(f"{path.name}: alert {name}: runbook_url {url} is not {runbook_base}docs/runbooks/<file>.md")
        elif not (ROOT / url.removeprefix(runbook_base)).is_file():
            fail(f"{path.name}: alert {name}: {url.removeprefix(runbook_base)} does not exist")
        if name not in tested:
            fail(f"alert {name} has no promtool test in which it fires")
    print(f"{len(recorded)} recording rules, {len(alerts)} alerts, {len(tested)} alerts tested")
    return recorded


def build_commands(text):
    return [" ".join(c.split()) for c in re.findall(r"^\s*(?:RUN|- run:|run:)\s*(cargo build [^\n]*)", text, re.M)]


def check_build_commands():
    """The images build with exactly the commands CI runs, and cook the same profile."""
    workflow = (ROOT / ".github/workflows/ci.yml").read_text()
    ci = set(build_commands(workflow))
    for package in ("proxy", "app"):
        dockerfile = (ROOT / f"Dockerfile.{package}").read_text()
        commands = build_commands(dockerfile)
        if len(commands) != 1:
            fail(f"Dockerfile.{package}: expected one `cargo build` in the builder, found {commands}")
            continue
        command = commands[0]
        if f"-p {package}" not in command or "--locked" not in command or "--release" not in command:
            fail(f"Dockerfile.{package}: `{command}` should build -p {package} --release --locked")
        if command not in ci:
            fail(f"Dockerfile.{package} runs `{command}`, which .github/workflows/ci.yml does not "
                 f"(it runs {sorted(ci)})")
        cook = re.search(r"cargo chef cook ([^\n]*)", dockerfile)
        flags = command.removeprefix("cargo build ").split()
        if cook and not all(flag in cook.group(1).split() for flag in flags):
            fail(f"Dockerfile.{package}: `cargo chef cook` lacks flags of `{command}`; "
                 "the dependency layer would be built for another profile")
        print(f"Dockerfile.{package}: {command} (also in CI)")


def check_deploy_configs():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    prom_local = (PROM / "prometheus.yml").read_text()
    configs = {}
    for name in ("compose", "compose-split", "compose-https", "render"):
        path = ROOT / f"proxy/config/{name}.toml"
        try:
            configs[name] = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            fail(f"{path.relative_to(ROOT)}: {e}")
    for name, config in configs.items():
        for upstream, spec in config.get("upstreams", {}).items():
            path = spec.get("health", {}).get("path")
            if path != "/readyz":
                fail(f"proxy/config/{name}.toml: upstreams.{upstream}.health.path is {path!r}; "
                     "use /readyz so draining instances leave the rotation")
    if "compose" in configs:
        config = configs["compose"]
        dns = config["upstreams"]["app"]["dns"]
        if dns["name"] not in services:
            fail(f"compose.toml: dns name {dns['name']!r} is not a service in docker-compose.yml")
        if "ports" in services.get(dns["name"], {}):
            fail(f"docker-compose.yml: {dns['name']} publishes ports; replicas must be reached through the proxy")
        if f"APP_LISTEN" in services["app"]["environment"] and \
                not services["app"]["environment"]["APP_LISTEN"].endswith(f":{dns['port']}"):
            fail("docker-compose.yml: app APP_LISTEN port differs from compose.toml's dns port")
        admin_port = config["admin"]["addr"].rsplit(":", 1)[1]
        if f"proxy:{admin_port}" not in prom_local:
            fail(f"monitoring/prometheus/prometheus.yml does not scrape proxy:{admin_port}")
        listen_port = config["listeners"][0]["addr"].rsplit(":", 1)[1]
        if not any(str(p).endswith(f":{listen_port}") for p in services["proxy"].get("ports", [])):
            fail(f"docker-compose.yml: proxy does not publish container port {listen_port}")
    if "compose-split" in configs:
        split = yaml.safe_load((ROOT / "docker-compose.split.yml").read_text())["services"]
        groups = {r["upstream"] for r in configs["compose-split"]["routes"]}
        if groups != {"auth", "app"}:
            fail(f"compose-split.toml: routes go to {sorted(groups)}, want auth and app")
        for upstream, spec in configs["compose-split"]["upstreams"].items():
            if spec["dns"]["name"] not in services and spec["dns"]["name"] not in split:
                fail(f"compose-split.toml: upstreams.{upstream} resolves {spec['dns']['name']!r}, "
                     "no service of docker-compose.yml + docker-compose.split.yml")
        if "compose-split.toml" not in " ".join(split["proxy"]["command"]):
            fail("docker-compose.split.yml: the proxy does not start with compose-split.toml")
    render = yaml.safe_load((ROOT / "render.yaml").read_text())
    proxy_dockerfile = (ROOT / "Dockerfile.proxy").read_text()
    for service in render["services"]:
        check_render_service(service)
    private = [s["name"] for s in render["services"] if s["type"] == "pserv"]
    if "render" in configs:
        name = configs["render"]["upstreams"]["app"]["dns"]["name"]
        if name not in {f"{p}-discovery" for p in private}:
            fail(f"render.toml: dns name {name!r} is not the discovery name of a private "
                 f"service in render.yaml ({private})")


def image_start(dockerfile):
    """The exec-form ENTRYPOINT and CMD of a Dockerfile's last stage."""
    last = dockerfile.split("\nFROM ")[-1]
    found = {}
    for key in ("ENTRYPOINT", "CMD"):
        match = re.findall(rf"^{key} (\[.*\])$", last, re.M)
        found[key] = json.loads(match[-1]) if match else []
    return found["ENTRYPOINT"], found["CMD"]


def check_render_service(service):
    """An image-backed service runs the image CI pushed for it, and its docker command
    starts the binary whether Render replaces the image's CMD only, or its entrypoint too."""
    name = service["name"]
    package = name.removeprefix("flotilla-")
    dockerfile_path = ROOT / f"Dockerfile.{package}"
    if service.get("runtime") != "image":
        fail(f"render.yaml: {name} is runtime {service.get('runtime')!r}; use `image` so "
             "Render runs the image CI tested")
    url = service.get("image", {}).get("url", "")
    if not re.fullmatch(rf"ghcr\.io/[\w.-]+/[\w.-]+-{package}(:[\w.-]+|@sha256:[0-9a-f]{{64}})", url):
        fail(f"render.yaml: {name} image {url!r} is not the {package} image the Images workflow pushes")
    if not dockerfile_path.exists():
        fail(f"render.yaml: {name}: {dockerfile_path.name} does not exist")
        return
    dockerfile = dockerfile_path.read_text()
    entrypoint, cmd = image_start(dockerfile)
    command = service.get("dockerCommand", "").split()
    readings = {"CMD replaced": entrypoint + (command or cmd),
                "entrypoint and CMD replaced": command or entrypoint + cmd}
    for reading, argv in readings.items():
        if not argv or Path(argv[0]).name != package or \
                (len(argv) > 1 and not argv[1].startswith("-")):
            fail(f"render.yaml: {name} would run {argv} ({reading}); "
                 f"it must start {package} with its options")
    config = re.search(r"--config (\S+)", " ".join(command))
    if config and Path(config.group(1)).name not in dockerfile:
        fail(f"render.yaml: {name} starts with {config.group(1)}, "
             f"which {dockerfile_path.name} does not copy in")
    print(f"render.yaml: {name} starts {' '.join(readings['CMD replaced'])} either way")


def check_license():
    """The images' licence label, the crates' licence and the LICENSE file agree."""
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    spdx = cargo["workspace"]["package"]["license"]
    license_file = ROOT / "LICENSE"
    titles = {"Apache-2.0": "Apache License", "MIT": "MIT License"}
    if not license_file.is_file():
        fail("LICENSE does not exist; the images' licence label refers to one")
    elif titles.get(spdx, spdx) not in license_file.read_text()[:500]:
        fail(f"LICENSE is not the {spdx} text that Cargo.toml names")
    for package in ("proxy", "app"):
        label = re.search(r'org\.opencontainers\.image\.licenses="([^"]+)"',
                          (ROOT / f"Dockerfile.{package}").read_text())
        if not label or label.group(1) != spdx:
            fail(f"Dockerfile.{package}: licence label {label and label.group(1)!r}, "
                 f"Cargo.toml says {spdx}")
    if not (ROOT / "SECURITY.md").is_file():
        fail("SECURITY.md does not exist")


def list_queries():
    queries = [{"source": src, "expr": substitute(expr)} for src, expr in dashboard_queries()]
    queries += [{"source": f"{path.name}: {rule['record']}", "record": rule["record"],
                 "expr": " ".join(rule["expr"].split())}
                for path, rule in rules() if "record" in rule]
    json.dump(queries, sys.stdout, indent=2)
    print()


def main():
    if sys.argv[1:] == ["--list-queries"]:
        list_queries()
        return 0
    known = contract_metrics() | BUILTIN_SERIES
    if len(known) < 10:
        fail(f"found only {len(known)} metric names in {METRICS_RS}")
    recorded = check_rules(known)
    check_dashboards(recorded, known)
    check_build_commands()
    check_deploy_configs()
    check_license()
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
