#!/usr/bin/env python3
"""Kubernetes manifest checks, for .ci/ops-checks, offline.

  k8s_checks.py VERSION [PROXY_BIN]

Renders each overlay of deploy/kubernetes with `kubectl kustomize`, validates the output
with `kubernetes-validate --strict` against Kubernetes VERSION (its schemas ship inside
the package), then checks what a schema cannot: the proxy's config hash annotation
matches its ConfigMap, `proxy check` accepts that config, each `dns` upstream is a
headless Service, the admin port is in no Service, every app group drains, is bounded,
non-root and read-only, with a PodDisruptionBudget and an autoscaler, the autoscalers'
maxima fit Postgres's connections, and the NetworkPolicies deny by default.
"""

import hashlib
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy/kubernetes"
OVERLAYS = ("dev", "production")
# Postgres's max_connections, less a margin for superusers and maintenance.
CONNECTION_BUDGET = 100 - 5
errors = []


def fail(message):
    errors.append(message)


def render(overlay):
    result = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{overlay}: kubectl kustomize failed: {result.stderr.strip()}")
        return None
    return result.stdout


def validate(overlay, text, version):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        result = subprocess.run(["kubernetes-validate", "--strict", "--quiet", "-k", version, f.name],
                                capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{overlay}: kubernetes-validate --strict -k {version}:\n{result.stdout}{result.stderr}")


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def check_proxy(overlay, objs, proxy_bin):
    maps = {o["metadata"]["name"]: o for o in objs.get("ConfigMap", [])}
    services = {o["metadata"]["name"]: o for o in objs.get("Service", [])}
    for deploy in [d for d in objs["Deployment"] if d["metadata"]["name"] == "proxy"]:
        where = f"{overlay}: Deployment proxy"
        volumes = deploy["spec"]["template"]["spec"]["volumes"]
        name = next(v["configMap"]["name"] for v in volumes if "configMap" in v)
        config_text = maps[name]["data"]["proxy.toml"]
        digest = hashlib.sha256(config_text.encode()).hexdigest()
        annotated = deploy["spec"]["template"]["metadata"]["annotations"].get("flotilla.dev/config-sha256")
        if annotated != digest:
            fail(f"{where}: flotilla.dev/config-sha256 is {annotated}, the ConfigMap's proxy.toml "
                 f"hashes to {digest}: update the annotation so the pods roll")
        config = tomllib.loads(config_text)
        for upstream, spec in config["upstreams"].items():
            dns = spec.get("dns")
            service = services.get(dns["name"]) if dns else None
            if not service or service["spec"].get("clusterIP") != "None":
                fail(f"{where}: upstream {upstream} resolves {dns and dns['name']!r}, "
                     "which is not a headless Service")
            elif dns["port"] not in [p["port"] for p in service["spec"]["ports"]]:
                fail(f"{where}: upstream {upstream} port {dns['port']} is not a port of {dns['name']}")
        if proxy_bin:
            with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
                f.write(config_text)
                f.flush()
                result = subprocess.run([proxy_bin, "check", "--config", f.name],
                                        capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"{overlay}: proxy check of ConfigMap {name}: {result.stderr.strip()}")
            else:
                print(f"{overlay}: proxy check accepts ConfigMap {name}")
        admin = config["admin"]["addr"].rsplit(":", 1)[1]
        for service in services.values():
            for port in service["spec"]["ports"]:
                if str(port.get("targetPort")) in (admin, "admin") or str(port["port"]) == admin:
                    fail(f"{overlay}: Service {service['metadata']['name']} exposes the admin port")
    proxy_service = services.get("proxy", {}).get("spec", {})
    if proxy_service.get("type") != "LoadBalancer":
        fail(f"{overlay}: Service proxy is not a LoadBalancer")


def check_app_groups(overlay, objs):
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in objs.get("HorizontalPodAutoscaler", [])}
    pdbs = [p["spec"]["selector"]["matchLabels"] for p in objs.get("PodDisruptionBudget", [])]
    connections = 0
    for deploy in objs["Deployment"]:
        name = deploy["metadata"]["name"]
        where = f"{overlay}: Deployment {name}"
        spec = deploy["spec"]["template"]["spec"]
        c = container(deploy)
        security = c.get("securityContext", {})
        if not spec.get("securityContext", {}).get("runAsNonRoot") or \
                not security.get("readOnlyRootFilesystem") or security.get("allowPrivilegeEscalation") is not False:
            fail(f"{where}: must run as non-root, read-only, without privilege escalation")
        if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
            fail(f"{where}: needs resource requests and limits")
        if "preStop" not in c.get("lifecycle", {}):
            fail(f"{where}: needs a preStop that lets it leave the endpoints before SIGTERM")
        if deploy["metadata"]["labels"].get("app.kubernetes.io/name") != "flotilla-app":
            continue
        if c["readinessProbe"]["httpGet"]["path"] != "/readyz" or c["livenessProbe"]["httpGet"]["path"] != "/healthz":
            fail(f"{where}: readiness must probe /readyz and liveness /healthz")
        # preStop sleep + drain_secs (5) + shutdown_timeout_secs (10).
        if spec.get("terminationGracePeriodSeconds", 30) < 5 + 5 + 10:
            fail(f"{where}: terminationGracePeriodSeconds is shorter than preStop + drain + shutdown")
        labels = deploy["spec"]["selector"]["matchLabels"]
        if not any(all(labels.get(k) == v for k, v in p.items()) for p in pdbs):
            fail(f"{where}: no PodDisruptionBudget selects it")
        hpa = hpas.get(name)
        if not hpa:
            fail(f"{where}: no HorizontalPodAutoscaler scales it")
            continue
        pool = int(env_of(c).get("APP__DB_MAX_CONNECTIONS") or 10)
        connections += hpa["spec"]["maxReplicas"] * pool
        print(f"{where}: {deploy['spec']['replicas']} replicas, up to "
              f"{hpa['spec']['maxReplicas']} x {pool} connections")
    if connections > CONNECTION_BUDGET:
        fail(f"{overlay}: the autoscalers allow {connections} Postgres connections, over {CONNECTION_BUDGET}")


def check_policies(overlay, objs):
    policies = {p["metadata"]["name"]: p["spec"] for p in objs.get("NetworkPolicy", [])}
    deny = policies.get("default-deny", {})
    if deny.get("podSelector") != {} or sorted(deny.get("policyTypes", [])) != ["Egress", "Ingress"]:
        fail(f"{overlay}: no default-deny NetworkPolicy for ingress and egress")
    app = policies.get("app", {})
    sources = [s for rule in app.get("ingress", []) for s in rule.get("from", [])]
    pods = [s["podSelector"]["matchLabels"] for s in sources if "podSelector" in s]
    if pods != [{"app.kubernetes.io/name": "flotilla-proxy"}]:
        fail(f"{overlay}: the app's ingress policy admits pods {pods}; only the proxy may reach it")


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    version, proxy_bin = sys.argv[1], (sys.argv[2] if len(sys.argv) == 3 else None)
    for overlay in OVERLAYS:
        text = render(overlay)
        if text is None:
            continue
        validate(overlay, text, version)
        objs = {}
        for doc in yaml.safe_load_all(text):
            objs.setdefault(doc["kind"], []).append(doc)
        check_proxy(overlay, objs, proxy_bin)
        check_app_groups(overlay, objs)
        check_policies(overlay, objs)
        secrets = [s["metadata"]["name"] for s in objs.get("Secret", [])]
        if overlay == "production" and secrets:
            fail(f"production: Secrets {secrets} are in the manifests; they must come from outside")
        if overlay == "dev" and not any(s["spec"].get("volumeClaimTemplates") for s in objs.get("StatefulSet", [])):
            fail("dev: no Postgres StatefulSet with a PersistentVolumeClaim")
        print(f"{overlay}: {sum(map(len, objs.values()))} objects valid for Kubernetes {version}")
    monitors = list(yaml.safe_load_all((K8S / "monitoring/servicemonitor.yaml").read_text()))
    if sorted(m["kind"] for m in monitors) != ["PodMonitor", "ServiceMonitor"]:
        fail("deploy/kubernetes/monitoring/servicemonitor.yaml: expected a ServiceMonitor and a PodMonitor")
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
