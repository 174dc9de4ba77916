#!/usr/bin/env python3
"""Turns a bench/run.sh results directory into the Markdown report.

Reads meta.txt, results.jsonl, the raw wrk outputs and the loadgen JSON summaries. Every
ratio is computed per round (Flotilla and nginx measured minutes apart in the same run) and
then the median over rounds is reported, with the range. Standard library only.
"""

import json
import re
import statistics
import sys
from pathlib import Path

PROXIES = ["nginx", "haproxy", "pingora", "flotilla"]
TARGETS = ["direct"] + PROXIES
TICK_US = 10_000  # /proc/<pid>/stat counts CPU in 1/100 s
# A loadgen run whose own dispatcher fell this far behind schedule measured a starved
# machine, not the target: its latencies are left out (its CPU per request is kept).
LAG_LIMIT_MS = 20.0


def unit_ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def parse_wrk(path):
    text = path.read_text()
    out = {"socket_errors": 0, "non_2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(m.group(1))
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        out[f"p{q}_ms"] = unit_ms(m.group(1), m.group(2))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx"] = int(m.group(1))
    return out


def add_wrk(row, out, duration):
    """A wrk measurement's figures, with the target's CPU per request and busy share."""
    row.update(parse_wrk(out / row["wrk"]))
    row["cpu_us"] = row["cpu_ticks"] * TICK_US / row["requests"] if row["requests"] else None
    row["busy_pct"] = row["cpu_ticks"] / duration if duration else None


def add_loadgen(row, out):
    """A loadgen measurement's figures, with the target's CPU per completed request."""
    summary = json.loads((out / row["loadgen"]).read_text())
    done = summary["ok"] + summary["non_2xx"]
    row.update(
        rps=summary["rps"], p50_ms=summary["latency_ms"]["p50"], p99_ms=summary["latency_ms"]["p99"],
        p999_ms=summary["latency_ms"]["p999"], failed=summary["failed"],
        lag_ms=summary["max_dispatch_lag_ms"],
        cpu_us=row["cpu_ticks"] * TICK_US / done if done else None,
    )


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=2):
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def spread(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0], digits)
    return f"{fmt(med(values), digits)} [{fmt(min(values), digits)}–{fmt(max(values), digits)}]"


def per_round(rows, key):
    """{target: {round: value}}"""
    table = {}
    for row in rows:
        table.setdefault(row["target"], {})[row["round"]] = row.get(key)
    return table


def ratios(table, num, den):
    out = []
    for rnd, value in table.get(num, {}).items():
        ref = table.get(den, {}).get(rnd)
        if value is not None and ref:
            out.append(value / ref)
    return out


def probes(rows):
    counted = [r["probe_failed"] for r in rows if "probe_failed" in r]
    return f"{sum(counted)} of {5 * len(counted)}" if counted else "–"


def recovery(timeline, fault_ms, bucket_ms=250, steady_ms=1000):
    """Milliseconds from the fault until the client sees normal service for 1 s straight.

    Normal means no failure and a bucket p99 within 2× (and at least 20 ms) of the
    pre-fault p99. Returns 'never' when that does not happen within the run.
    """
    before = [b["p99_ms"] for b in timeline if b["t_ms"] + bucket_ms <= fault_ms]
    baseline = med(before) or 0.0
    limit = max(2 * baseline, baseline + 20.0)
    after = [b for b in timeline if b["t_ms"] + bucket_ms > fault_ms]
    need = steady_ms // bucket_ms
    for i in range(len(after) - need + 1):
        if all(b["failed"] == 0 and b["p99_ms"] <= limit for b in after[i:i + need]):
            return fmt(max(0.0, after[i]["t_ms"] - fault_ms), 0) if i else "0 (no impact)"
    return "never"


def detected(timeline, fault_ms, resumed_ms, bucket_ms=250):
    """Milliseconds from the fault until clients stop paying for it while it lasts.

    The end of the last 250 ms bucket sent during the fault with a failure or a request
    slower than 5× (and at least 20 ms over) the pre-fault p99; 'never' when the fault
    still costs requests at its end, '0 (no impact)' when it never did.
    """
    before = [b["p99_ms"] for b in timeline if b["t_ms"] + bucket_ms <= fault_ms]
    baseline = med(before) or 0.0
    limit = max(5 * baseline, baseline + 20.0)
    during = [b for b in timeline if b["t_ms"] + bucket_ms > fault_ms and b["t_ms"] < resumed_ms]
    costly = [b for b in during if b["failed"] > 0 or b["max_ms"] > limit]
    if not costly:
        return "0 (no impact)"
    end = costly[-1]["t_ms"] + bucket_ms
    if end >= resumed_ms - bucket_ms:
        return "never"
    return fmt(max(0.0, end - fault_ms), 0)


def table_head(say, title, header):
    """Says a table's `### title`, a blank line, its header row and the separator under it."""
    say(f"### {title}")
    say("")
    say(header)
    say("|" + "---|" * (header.count("|") - 1))


def defaults_section(rows, out, say):
    runs = [r for r in rows if r["scenario"] == "defaults"]
    if not runs:
        return
    table_head(say, "Defaults (each proxy as shipped; origin 2 of 3 SIGSTOPped, then resumed)", "| proxy | sent in the hang | failed in the hang | p99 ms in the hang | max ms in the hang "
        "| time to detect, ms | time to recover, ms | failed, whole run |")
    for row in runs:
        summary = json.loads((out / row["loadgen"]).read_text())
        window = summary.get("window") or {}
        lat = window.get("latency_ms", {})
        say(f"| {row['target']} | {window.get('sent', '–')} | **{window.get('failed', '–')}** "
            f"| {fmt(lat.get('p99'))} | {fmt(lat.get('max'))} "
            f"| {detected(summary['timeline'], row['fault_at_ms'], row['resumed_at_ms'])} "
            f"| {recovery(summary['timeline'], row['resumed_at_ms'])} | {summary['failed']} |")
    say("")
    say("The hang window is the requests scheduled while origin 2 was stopped. `time to detect`: "
        "from the fault to the end of the last 250 ms bucket in the hang with a failure or a request "
        "over 5× (and 20 ms over) the pre-fault p99, i.e. until clients stop paying for the fault; "
        "`never` means they paid until it ended. `time to recover`: from the resume to the first "
        "second of normal service (see below). A request unanswered after 5 s counts as failed.")
    say("")


def shipped_section(rows, out, meta, duration, say, targets):
    sat = [r for r in rows if r["scenario"] == "shipped_saturation"]
    rate = [r for r in rows if r["scenario"] == "shipped_rate"]
    if not sat and not rate:
        return
    for row in sat:
        add_wrk(row, out, duration)
    for row in rate:
        add_loadgen(row, out)
    table_head(say, "As shipped (pass-through; each proxy's own defaults and logging, one core)",
               "| proxy | requests/s (wrk) | p99 ms (wrk) | CPU µs/request at saturation "
               "| CPU µs/request at a fixed rate | p99 ms at a fixed rate | errors | access log lines |")
    for t in ("nginx", "haproxy", "flotilla"):
        sat_mine = [r for r in sat if r["target"] == t]
        rate_mine = [r for r in rate if r["target"] == t]
        if not sat_mine and not rate_mine:
            continue
        errors = sum(r["socket_errors"] + r["non_2xx"] for r in sat_mine) + sum(r["failed"] for r in rate_mine)
        say(f"| {t} | {spread([r['rps'] for r in sat_mine], 0)} | {spread([r['p99_ms'] for r in sat_mine])} "
            f"| {spread([r['cpu_us'] for r in sat_mine], 1)} | {spread([r['cpu_us'] for r in rate_mine], 1)} "
            f"| {spread([r['p99_ms'] for r in rate_mine])} | {errors} "
            f"| {meta.get(f'shipped_log_lines_{t}', '–')} |")
    say("")
    say("Flotilla is quick mode (`proxy --listen … --backend …`) with its access log on (to a file); "
        "nginx and HAProxy are the Debian packages' defaults with their access logs (nginx's combined "
        "log to a file; HAProxy's httplog to a syslog socket, whose reader runs on the generator's "
        "core and is not counted). Threads are each proxy's default on the one core it may use.")
    say("")
    for key, rows_ in (("shipped_sat_cpu_us", sat), ("shipped_rate_cpu_us", rate)):
        table = per_round(rows_, "cpu_us")
        for ref in ("nginx", "haproxy"):
            targets[f"{key}_vs_{ref}"] = ratios(table, "flotilla", ref)


def scaling_section(rows, out, say, targets):
    runs = [r for r in rows if r["scenario"] == "scaling"]
    if not runs:
        return
    idle = {r["round"]: r["origin_connections"] for r in rows if r["scenario"] == "scaling_idle"}
    for row in runs:
        add_loadgen(row, out)
        summary = json.loads((out / row["loadgen"]).read_text())
        done = summary["ok"] + summary["non_2xx"]
        opened = max(0, row["origin_connections"] - idle.get(row["round"], 0))
        row["conns_per_1000"] = 1000 * opened / done if done else None
    table_head(say, "Two threads on two cores (open loop; the generator at nice 19 on the same cores)",
               "| proxy | achieved req/s | p50 ms | p99 ms | CPU µs/request | upstream connections "
               "opened per 1,000 requests | failed |")
    for t in PROXIES:
        mine = [r for r in runs if r["target"] == t]
        if not mine:
            continue
        say(f"| {t} | {spread([r['rps'] for r in mine], 0)} | {spread([r['p50_ms'] for r in mine])} "
            f"| {spread([r['p99_ms'] for r in mine])} | {spread([r['cpu_us'] for r in mine], 1)} "
            f"| {spread([r['conns_per_1000'] for r in mine], 2)} | {sum(r['failed'] for r in mine)} |")
    say("")
    say("Each proxy runs two workers (nginx `worker_processes 2`, HAProxy `nbthread 2`, Flotilla "
        "and the floor `threads = 2`) on both cores. Upstream connections are those the three "
        "origins accepted during the measurement, less what they accepted in an idle interval "
        f"as long in the same round (health checks, the script's own requests: median "
        f"{fmt(med(list(idle.values())), 0)}). CPU per request includes whatever the threads "
        "lost to the generator and origins on the same cores.")
    say("")
    for key in ("cpu_us", "conns_per_1000"):
        table = per_round(runs, key)
        for ref in ("nginx", "haproxy", "pingora"):
            targets[f"scaling_{key}_vs_{ref}"] = ratios(table, "flotilla", ref)


def main(out_dir):
    out = Path(out_dir)
    meta = dict(
        line.split("=", 1) for line in (out / "meta.txt").read_text().splitlines() if "=" in line
    )
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    duration = float(meta["duration"]) if "duration" in meta else None
    lines = []
    say = lines.append
    say(f"Run {meta.get('date', '?')} on {meta.get('cpus', '?')} × {meta.get('cpu', '?')} "
        f"(kernel {meta.get('kernel', '?')}); nginx {meta.get('nginx', '?')}, HAProxy "
        f"{meta.get('haproxy', '?')}, wrk {meta.get('wrk', '?')}, Flotilla {meta.get('flotilla_commit', '?')}.")
    say(f"Settings: {meta.get('settings', '?')}. Load average at start "
        f"{meta.get('loadavg_start', '?')}, at end {meta.get('loadavg_end', '?')}.")
    say("")
    targets = {}

    sat = [r for r in rows if r["scenario"] == "saturation"]
    if sat:
        for row in sat:
            add_wrk(row, out, duration)
        table_head(say, "Saturation (wrk, closed loop, fixed connections)", "| target | requests/s | p50 ms | p99 ms | CPU µs/request | CPU busy % | errors | probes failed right after wrk closed |")
        for t in TARGETS:
            mine = [r for r in sat if r["target"] == t]
            if not mine:
                continue
            say(f"| {t} | {spread([r['rps'] for r in mine], 0)} | {spread([r['p50_ms'] for r in mine])} "
                f"| {spread([r['p99_ms'] for r in mine])} | {spread([r['cpu_us'] for r in mine], 1)} "
                f"| {spread([r['busy_pct'] for r in mine], 0)} "
                f"| {sum(r['socket_errors'] + r['non_2xx'] for r in mine)} "
                f"| {probes(mine)} |")
        say("")
        say("`direct` is one origin with no proxy; its CPU column is that origin's (on the load "
            "generator's core), not a proxy's. `pingora` is the floor: a bare Pingora proxy doing "
            "round robin and nothing else (bench/pingora-floor), so the gap between it and "
            "Flotilla is Flotilla's own work. Values are median [min–max] over rounds. The probes "
            "are 5 plain GETs sent the moment wrk has exited, which closes its connections with "
            "requests in flight; any non-200 among them is counted.")
        say("")
        for key in ("rps", "p99_ms", "cpu_us"):
            table = per_round(sat, key)
            for ref in ("nginx", "haproxy", "pingora", "direct"):
                targets[f"sat_{key}_vs_{ref}"] = ratios(table, "flotilla", ref)

    rate = [r for r in rows if r["scenario"] == "fixed_rate"]
    if rate:
        for row in rate:
            add_loadgen(row, out)
        table_head(say, "Fixed rate (loadgen, open loop; latency includes any wait for a connection)", "| target | achieved req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/request | failed | rounds with valid latency |")
        for row in rate:
            if row["lag_ms"] > LAG_LIMIT_MS:
                for key in ("p50_ms", "p99_ms", "p999_ms"):
                    row[key] = None
        for t in TARGETS:
            mine = [r for r in rate if r["target"] == t]
            if not mine:
                continue
            valid = sum(1 for r in mine if r["p50_ms"] is not None)
            say(f"| {t} | {spread([r['rps'] for r in mine], 0)} | {spread([r['p50_ms'] for r in mine])} "
                f"| {spread([r['p99_ms'] for r in mine])} | {spread([r['p999_ms'] for r in mine])} "
                f"| {spread([r['cpu_us'] for r in mine], 1)} | {sum(r['failed'] for r in mine)} "
                f"| {valid} of {len(mine)} |")
        say("")
        say(f"A round's latencies are left out when the generator itself ran more than "
            f"{fmt(LAG_LIMIT_MS, 0)} ms behind its schedule (a starved machine, not a slow target); "
            f"the largest lag was {fmt(max(r['lag_ms'] for r in rate))} ms. CPU per request is kept "
            "for every round.")
        say("")
        for key in ("p50_ms", "p99_ms", "cpu_us"):
            table = per_round(rate, key)
            for ref in ("nginx", "haproxy", "pingora"):
                targets[f"rate_{key}_vs_{ref}"] = ratios(table, "flotilla", ref)

    cache_sat = [r for r in rows if r["scenario"] == "cache_saturation"]
    cache_rate = [r for r in rows if r["scenario"] == "cache_rate"]
    if cache_sat or cache_rate:
        for row in cache_sat:
            add_wrk(row, out, duration)
        for row in cache_rate:
            add_loadgen(row, out)
        table_head(say, "Cache hits (one stored response, requested over and over)", "| target | hits/s (wrk) | p50 ms | p99 ms | CPU µs/hit at saturation | CPU busy % "
            "| CPU µs/hit at a fixed rate | errors | origin requests during the runs |")
        for t in TARGETS:
            sat_mine = [r for r in cache_sat if r["target"] == t]
            rate_mine = [r for r in cache_rate if r["target"] == t]
            if not sat_mine and not rate_mine:
                continue
            errors = sum(r["socket_errors"] + r["non_2xx"] for r in sat_mine) + sum(r["failed"] for r in rate_mine)
            origin = sum(r["origin_requests"] for r in sat_mine + rate_mine)
            say(f"| {t} | {spread([r['rps'] for r in sat_mine], 0)} | {spread([r['p50_ms'] for r in sat_mine])} "
                f"| {spread([r['p99_ms'] for r in sat_mine])} | {spread([r['cpu_us'] for r in sat_mine], 1)} "
                f"| {spread([r['busy_pct'] for r in sat_mine], 0)} | {spread([r['cpu_us'] for r in rate_mine], 1)} "
                f"| {errors} | {origin} |")
        say("")
        say("`direct` is the origin computing every response itself (no cache), for scale; its "
            "origin-request count is every request it answered. `pingora` is the floor: bare "
            "Pingora writing a fixed body of the same size from memory, with no cache logic. For "
            "a proxy, 0 origin requests means every measured request was answered from memory. "
            "The fixed rate is the same as the fixed-rate scenario's.")
        say("")
        for key in ("rps", "cpu_us"):
            table = per_round(cache_sat, key)
            for ref in ("nginx", "haproxy", "pingora"):
                targets[f"cache_sat_{key}_vs_{ref}"] = ratios(table, "flotilla", ref)
        table = per_round(cache_rate, "cpu_us")
        for ref in ("nginx", "haproxy", "pingora"):
            targets[f"cache_rate_cpu_us_vs_{ref}"] = ratios(table, "flotilla", ref)

    failovers = []
    for row in rows:
        if "compare" in row:
            failovers += json.loads((out / row["compare"]).read_text())["rows"]
    failed = {}
    recovered = {}
    if failovers:
        table_head(say, "Failover (lab compare: origin 2 of 3 killed, hung, drained or slowed mid-run, or all three restarted in turn; open loop)",
            "| fault | proxy | sent | failed | failure kinds | failures from / to, ms after fault "
            "| p99 ms during the fault | max ms | time to detect, ms | time to recover, ms | answers by origin (whole run) |")
        for row in failovers:
            key = (row["scenario"], row["proxy"])
            kinds_text = ", ".join(f"{k} {v}" for k, v in sorted(row["failures_by_kind"].items())) or "none"
            if row["failures_from_ms"] is not None:
                when = f"{fmt(row['failures_from_ms'], 0)} / {fmt(row['failures_to_ms'], 0)}"
            else:
                when = "–"
            failed[key] = row["failed"]
            detect = row["time_to_detect_ms"]
            recovered[key] = "never" if detect is None else ("0 (no impact)" if detect == 0 else fmt(detect, 0))
            recover = "never" if row["time_to_recover_ms"] is None else fmt(row["time_to_recover_ms"], 0)
            if row["max_dispatch_lag_ms"] > LAG_LIMIT_MS:
                kinds_text += f" (generator {fmt(row['max_dispatch_lag_ms'], 0)} ms behind: machine starved)"
            instances = ", ".join(f"{k} {v}" for k, v in row["instances"].items())
            say(f"| {row['scenario']} | {row['proxy']} | {row['sent']} | **{row['failed']}** "
                f"| {kinds_text} | {when} | {fmt(row['during_p99_ms'])} "
                f"| {fmt(row['max_ms'])} | {recovered[key]} | {recover} | {instances} |")
        say("")
        say("`time to detect`: from the first failure or latency spike (a 100 ms bucket's p99 over 4× "
            "and 100 ms above the pre-fault p99) to the first clean second; `never` means not within "
            "the run. `time to recover`: from the last fault (the restart, the resume) until traffic is "
            "clean and every origin has half its former share back. Failure times are when the failed "
            "requests were sent. Each run's timeline is in `failover_SCENARIO/report.html`.")
        say("")

    defaults_section(rows, out, say)
    shipped_section(rows, out, meta, duration, say, targets)
    scaling_section(rows, out, say, targets)

    table_head(say, "Flotilla against the targets (ratios: median over rounds of Flotilla ÷ reference)", "| measure | vs nginx | vs HAProxy | vs bare Pingora | target | verdict |")

    def verdict(values, ok):
        value = med(values)
        return "not measured" if value is None else ("**met**" if ok(value) else "**not met**")

    def row(label, key, target_text, ok):
        n, h = targets.get(f"{key}_vs_nginx", []), targets.get(f"{key}_vs_haproxy", [])
        f = targets.get(f"{key}_vs_pingora", [])
        if not n and not h:
            return
        say(f"| {label} | {spread(n)} | {spread(h)} | {spread(f)} | {target_text} "
            f"| {verdict(n, ok) if ok else 'info'} |")

    row(f"CPU per request at a fixed rate", "rate_cpu_us", "≤ 0.6× nginx", lambda v: v <= 0.6)
    row("CPU per request at saturation", "sat_cpu_us", "≤ 0.6× nginx", lambda v: v <= 0.6)
    row("p99 at a fixed rate (open loop)", "rate_p99_ms", "≤ 1.0× nginx", lambda v: v <= 1.0)
    row("p99 at saturation (wrk; each proxy at its own rate, so not the verdict)", "sat_p99_ms", "–", None)
    row("p50 at a fixed rate", "rate_p50_ms", "–", None)
    row("requests/s at saturation", "sat_rps", "–", None)
    row("CPU per cache hit at a fixed rate", "cache_rate_cpu_us", "≤ 0.5× nginx", lambda v: v <= 0.5)
    row("CPU per cache hit at saturation", "cache_sat_cpu_us", "≤ 0.5× nginx", lambda v: v <= 0.5)
    row("cache hits/s at saturation", "cache_sat_rps", "–", None)
    row("CPU per request as shipped, fixed rate", "shipped_rate_cpu_us", "–", None)
    row("CPU per request as shipped, saturation", "shipped_sat_cpu_us", "–", None)
    row("CPU per request, two threads", "scaling_cpu_us", "–", None)
    faults = {"kill": "SIGKILLed", "hang": "hung (SIGSTOP)", "drain": "drained (SIGTERM)",
              "rolling": "restarted in turn", "slow": "slow (2 s)"}
    for scenario, what in faults.items():
        if (scenario, "flotilla") in failed:
            n = failed[(scenario, "flotilla")]
            ref = ", ".join(f"{p} {failed.get((scenario, p), '–')}" for p in ("nginx", "haproxy"))
            say(f"| failed requests, origin {what} "
                f"| {n} (others: {ref}) | | | 0 | {'**met**' if n == 0 else '**not met**'} |")
            ref = ", ".join(f"{p} {recovered.get((scenario, p), '–')}" for p in ("nginx", "haproxy"))
            say(f"| time to detect (ms), origin {what} "
                f"| {recovered[(scenario, 'flotilla')]} (others: {ref}) | | | – | info |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
