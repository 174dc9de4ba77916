// The admin dashboard: one EventSource on /events, a `history` event on connect and a
// `snapshot` event a second. Rows are keyed by upstream and address and updated in place,
// so focus and keyboard position survive every update. Every string from the proxy goes
// in through textContent, never as markup.
"use strict";

const HISTORY = 300;
const SVG = "http://www.w3.org/2000/svg";

const samples = new Map(); // "upstream/addr" -> [{at_ms, rps, errors, p99_ms}]
const rows = new Map(); // "upstream/addr" -> {row, cells}
const groups = new Map(); // upstream name -> {section, body, heading}
let source = null;
let lastSnapshot = null;
let lastReceived = 0;

function $(id) {
  return document.getElementById(id);
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function ago(ms, now) {
  if (ms === null || ms === undefined) return "never";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

function fixed(value, digits, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return `${value.toFixed(digits)}${unit || ""}`;
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`;
}

function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function flash(message, isError) {
  const node = $("flash");
  node.textContent = message;
  node.className = isError ? "flash error" : "flash";
}

function connection(state) {
  const node = $("connection");
  node.textContent = state === "live" ? "live" : state === "lost" ? "connection lost; reconnecting…" : "connecting…";
  node.className = `connection ${state}`;
}

// --- sparklines ---

function sparkline(kind, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", `spark spark-${kind}`);
  svg.setAttribute("width", "120");
  svg.setAttribute("height", "24");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const title = document.createElementNS(SVG, "title");
  title.textContent = label;
  svg.appendChild(title);
  const line = document.createElementNS(SVG, "polyline");
  svg.appendChild(line);
  return svg;
}

function drawSpark(svg, values, label) {
  const line = svg.querySelector("polyline");
  const present = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...present);
  const step = 120 / Math.max(1, HISTORY - 1);
  const offset = HISTORY - values.length;
  const points = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    const x = (offset + index) * step;
    const y = 22 - (value / max) * 20;
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  line.setAttribute("points", points.join(" "));
  svg.setAttribute("aria-label", label);
  svg.querySelector("title").textContent = label;
}

// --- actions ---

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function act(url, done) {
  let response;
  try {
    response = await fetch(url, { method: "POST", headers: authHeaders() });
  } catch (error) {
    flash(`The proxy did not answer: ${error.message}`, true);
    return;
  }
  const body = await response.text();
  if (response.status === 401) {
    flash("The proxy wants its admin token: enter it under “Admin token” and try again.", true);
  } else if (!response.ok) {
    flash(`Refused (${response.status}): ${body.trim()}`, true);
  } else {
    flash(done(body));
  }
}

function drain(upstream, addr, undrain) {
  const verb = undrain ? "Put back" : "Drain";
  const what = undrain
    ? "It takes new requests again."
    : "It gets no new requests; the ones in flight finish.";
  if (!window.confirm(`${verb} ${addr} in ${upstream}? ${what}`)) return;
  const path = `/backends/${encodeURIComponent(upstream)}/${encodeURIComponent(addr)}/${undrain ? "undrain" : "drain"}`;
  act(path, () => (undrain ? `${addr} is back in ${upstream}.` : `${addr} in ${upstream} is draining.`));
}

function purge(event) {
  event.preventDefault();
  const target = $("purge-target").value.trim();
  const kind = $("purge-kind").value;
  if (!target) {
    flash("Give a URL or a prefix to purge.", true);
    $("purge-target").focus();
    return;
  }
  if (!window.confirm(`Purge every cached response for the ${kind === "url" ? "URL" : "prefix"} ${target}?`)) return;
  act(`/cache/purge?${kind}=${encodeURIComponent(target)}`, (body) => {
    let purged = "?";
    try {
      purged = JSON.parse(body).purged;
    } catch (_) {
      // The count is informative only.
    }
    return `Purged ${purged} cached response(s).`;
  });
}

// --- rendering ---

const COLUMNS = [
  ["addr", "Backend"],
  ["state", "State"],
  ["inflight", "In flight"],
  ["rps", "Req/s (1 min)"],
  ["errors", "Errors (1 min)"],
  ["latency", "p50 / p99 (1 min)"],
  ["share", "Share"],
  ["check", "Last check"],
  ["error", "Last error"],
  ["trends", "Last 5 min"],
  ["action", "Action"],
];

function groupFor(name) {
  let group = groups.get(name);
  if (group) return group;
  const section = el("section", { class: "upstream", "data-upstream": name });
  const heading = el("h3", {}, name);
  const wrap = el("div", { class: "table-wrap" });
  const table = el("table");
  table.appendChild(el("caption", { class: "visually-hidden" }, `Backends of ${name}`));
  const head = el("thead");
  const headRow = el("tr");
  for (const [, label] of COLUMNS) headRow.appendChild(el("th", { scope: "col" }, label));
  head.appendChild(headRow);
  table.appendChild(head);
  const body = el("tbody");
  table.appendChild(body);
  wrap.appendChild(table);
  section.appendChild(heading);
  section.appendChild(wrap);
  const container = $("upstreams");
  if (groups.size === 0) container.textContent = "";
  container.appendChild(section);
  group = { section, body, heading };
  groups.set(name, group);
  return group;
}

function rowFor(upstream, addr) {
  const key = `${upstream}/${addr}`;
  let entry = rows.get(key);
  if (entry) return entry;
  const row = el("tr", { "data-backend": key });
  const cells = {};
  for (const [name, label] of COLUMNS) {
    const cell = el(name === "addr" ? "th" : "td", { "data-label": label, class: `col-${name}` });
    if (name === "addr") cell.setAttribute("scope", "row");
    row.appendChild(cell);
    cells[name] = cell;
  }
  cells.addr.textContent = addr;
  const spark = {
    rps: sparkline("rps", "requests per second"),
    errors: sparkline("errors", "errors per second"),
    p99: sparkline("p99", "p99 latency"),
  };
  cells.trends.append(spark.rps, spark.errors, spark.p99);
  const button = el("button", { type: "button", class: "drain" });
  button.addEventListener("click", () => drain(upstream, addr, button.dataset.drained === "true"));
  cells.action.appendChild(button);
  groupFor(upstream).body.appendChild(row);
  entry = { row, cells, spark, button };
  rows.set(key, entry);
  return entry;
}

function renderBackend(upstream, backend, now) {
  const key = `${upstream}/${backend.addr}`;
  const { cells, spark, button, row } = rowFor(upstream, backend.addr);
  row.dataset.state = backend.state;
  cells.state.textContent = "";
  cells.state.appendChild(el("span", { class: `state state-${backend.state}` }, backend.state));
  cells.state.appendChild(el("div", { class: "muted" }, `since ${ago(backend.since_ms, now)}`));
  cells.inflight.textContent = String(backend.inflight);
  cells.rps.textContent = fixed(backend.rps, 1);
  cells.errors.textContent = percent(backend.error_rate);
  cells.latency.textContent = `${fixed(backend.p50_ms, 1, " ms")} / ${fixed(backend.p99_ms, 1, " ms")}`;
  cells.share.textContent = percent(backend.share);
  const check = backend.last_check_ok === null || backend.last_check_ok === undefined
    ? "no check yet"
    : `${backend.last_check_ok ? "passed" : "failed"} ${ago(backend.last_check, now)}`;
  cells.check.textContent = check;
  if (backend.last_error) {
    cells.error.textContent = `${backend.last_error} (${ago(backend.last_error_at_ms, now)})`;
  } else if (backend.last_error_at_ms) {
    cells.error.textContent = `none now; last ${ago(backend.last_error_at_ms, now)}`;
  } else {
    cells.error.textContent = "none";
  }

  const history = samples.get(key) || [];
  if (backend.sample) {
    const last = history[history.length - 1];
    if (!last || last.at_ms !== backend.sample.at_ms) history.push(backend.sample);
    while (history.length > HISTORY) history.shift();
    samples.set(key, history);
  }
  drawSpark(spark.rps, history.map((s) => s.rps), `requests per second over 5 minutes, now ${fixed(backend.sample && backend.sample.rps, 1)}`);
  drawSpark(spark.errors, history.map((s) => s.errors), `errors per second over 5 minutes, now ${backend.sample ? backend.sample.errors : "–"}`);
  drawSpark(spark.p99, history.map((s) => s.p99_ms), `p99 latency over 5 minutes, now ${fixed(backend.sample && backend.sample.p99_ms, 1, " ms")}`);

  const drained = Boolean(backend.operator_drain);
  button.dataset.drained = String(drained);
  button.textContent = drained ? "Undrain" : "Drain";
  button.setAttribute("aria-label", `${drained ? "Undrain" : "Drain"} ${backend.addr} in ${upstream}`);
}

function render(snapshot) {
  lastSnapshot = snapshot;
  lastReceived = Date.now();
  const now = snapshot.at_ms;
  const seen = new Set();
  const seenGroups = new Set();
  for (const upstream of snapshot.upstreams) {
    seenGroups.add(upstream.name);
    const group = groupFor(upstream.name);
    group.heading.textContent = `${upstream.name}: ${upstream.eligible} of ${upstream.backends.length} taking requests`;
    for (const backend of upstream.backends) {
      seen.add(`${upstream.name}/${backend.addr}`);
      renderBackend(upstream.name, backend, now);
    }
  }
  for (const [key, entry] of rows) {
    if (!seen.has(key)) {
      entry.row.remove();
      rows.delete(key);
      samples.delete(key);
    }
  }
  for (const [name, group] of groups) {
    if (!seenGroups.has(name)) {
      group.section.remove();
      groups.delete(name);
    }
  }

  const proxy = snapshot.proxy;
  $("proxy-cpu").textContent = fixed(proxy.cpu_percent, 1, " %");
  $("proxy-memory").textContent = bytes(proxy.rss_bytes);
  $("proxy-retries").textContent = `${fixed(proxy.retries_per_s, 2)} /s`;
  $("proxy-hedges").textContent = `${fixed(proxy.hedges_per_s, 2)} /s`;
  const cache = snapshot.cache;
  $("purge-form").hidden = !cache;
  if (cache) {
    $("cache-size").textContent = `${bytes(cache.bytes)} of ${bytes(cache.max_size_bytes)}`;
    $("cache-entries").textContent = String(cache.entries);
    $("cache-hit-ratio").textContent = percent(cache.hit_ratio);
    $("cache-evictions").textContent = String(cache.evictions);
  } else {
    $("cache-size").textContent = "off";
  }
}

// --- the stream ---

function connect() {
  if (source) source.close();
  connection("connecting");
  source = new EventSource("/events");
  source.addEventListener("open", () => connection("live"));
  source.addEventListener("history", (event) => {
    const backlog = JSON.parse(event.data);
    samples.clear();
    for (const [key, list] of Object.entries(backlog)) samples.set(key, list.slice(-HISTORY));
  });
  source.addEventListener("snapshot", (event) => {
    connection("live");
    render(JSON.parse(event.data));
  });
  source.addEventListener("error", () => {
    connection("lost");
    // EventSource retries by itself unless the server refused outright (e.g. 503).
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  });
}

// Anything the Content-Security-Policy blocked is recorded where a test can read it.
document.addEventListener("securitypolicyviolation", (event) => {
  const root = document.documentElement;
  root.dataset.cspViolations = `${root.dataset.cspViolations || ""}${event.violatedDirective} ${event.blockedURI}; `;
});

document.addEventListener("DOMContentLoaded", () => {
  const saved = window.sessionStorage.getItem("flotilla-admin-token");
  if (saved) $("token").value = saved;
  $("token").addEventListener("change", () => {
    window.sessionStorage.setItem("flotilla-admin-token", $("token").value);
  });
  $("purge-form").addEventListener("submit", purge);
  connect();
  // A stream that went quiet without an error event (a stalled network) shows as lost.
  setInterval(() => {
    if (lastSnapshot && Date.now() - lastReceived > 5000) connection("lost");
  }, 1000);
});
