//! `report.html`: one self-contained page (no links out, the plots inline) that a load
//! tester can mail or attach to a ticket.

use std::fmt::Write;

use base64::Engine;

use crate::analysis::{FaultSummary, Summary, Window};

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1300px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}\
th{background:#eee}td:first-child,th:first-child{text-align:left}svg,img{max-width:100%;height:auto}";

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Milliseconds for a table cell: `-` when absent.
pub fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// The page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>\n",
        t = escape(title)
    )
}

/// The report of one `lab run`.
pub fn single(title: &str, summary: &Summary, svg: &str, png: &[u8]) -> String {
    let mut body = totals_table(summary);
    body.push_str(&faults_table(&summary.faults));
    body.push_str(svg_inline(svg));
    let _ = write!(
        body,
        "<details><summary>The same timeline as PNG</summary><img alt=\"timeline\" src=\"data:image/png;base64,{}\"></details>",
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    page(title, &body)
}

/// The SVG document without its XML declaration, ready to sit in HTML.
pub fn svg_inline(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// Totals, latency and failures by kind.
pub fn totals_table(summary: &Summary) -> String {
    let kinds = summary
        .failures_by_kind
        .iter()
        .map(|(kind, n)| format!("{} {n}", escape(kind)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut html = String::from(
        "<table><tr><th>URLs</th><th>rate/s</th><th>sent</th><th>ok</th><th>failed</th>\
         <th>failures by kind</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th><th>achieved req/s</th></tr>",
    );
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.0}</td></tr></table>",
        escape(&summary.urls.join(", ")),
        summary.rate,
        summary.totals.sent,
        summary.totals.ok,
        summary.totals.failed,
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds
        },
        summary.latency.p50_ms,
        summary.latency.p99_ms,
        summary.latency.max_ms,
        summary.totals.achieved_rps,
    );
    if summary.interrupted {
        html.push_str("<p><strong>Interrupted:</strong> the run was cut short; these are the requests it recorded.</p>");
    }
    html
}

fn window_cells(window: &Window) -> String {
    format!(
        "<td>{}/{}</td><td>{:.1} / {:.1} / {:.1}</td>",
        window.failed,
        window.sent,
        window.latency.p50_ms,
        window.latency.p99_ms,
        window.latency.max_ms
    )
}

/// One row per fault: when, how long clients saw it, latency before, during and after.
pub fn faults_table(faults: &[FaultSummary]) -> String {
    if faults.is_empty() {
        return "<p>No faults.</p>".to_owned();
    }
    let mut html = String::from(
        "<table><tr><th>fault</th><th>at ms</th><th>time to detect ms</th><th>time to recover ms</th>\
         <th>before failed/sent</th><th>before p50/p99/max ms</th><th>during failed/sent</th>\
         <th>during p50/p99/max ms</th><th>after failed/sent</th><th>after p50/p99/max ms</th></tr>",
    );
    for fault in faults {
        let label = match &fault.error {
            Some(error) => format!("{} (failed: {})", fault.label, error),
            None => fault.label.clone(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td>{}{}{}</tr>",
            escape(&label),
            fault.at_ms,
            ms(fault.time_to_detect_ms),
            ms(fault.time_to_recover_ms),
            window_cells(&fault.before),
            window_cells(&fault.during),
            window_cells(&fault.after),
        );
    }
    html.push_str("</table><p>Time to detect: from the first failure or latency spike after the fault to the first clean second. \
        Time to recover: from the fault until traffic is clean and every instance has half its former share back.</p>");
    html
}
