//! The comparison's outputs: `compare.json` (one row per proxy and scenario, for scripts
//! such as the benchmark's report) and `report.html` (the table and every timeline).

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use crate::compare::{CompareArgs, Row};
use crate::report::{escape, ms, page, svg_inline};

/// Writes `compare.json` and `report.html` into `out`.
pub(crate) fn write(out: &Path, args: &CompareArgs, rows: &[Row]) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "rate": args.rate,
        "scenario_duration_s": args.scenario_duration.as_secs_f64(),
        "rows": rows,
    });
    std::fs::write(
        out.join("compare.json"),
        serde_json::to_string_pretty(&json)?,
    )
    .context("write compare.json")?;
    let mut body = format!(
        "<p>Three origins (o1, o2, o3) behind each proxy, {} requests/s open loop, {:.0} s per scenario. \
         Fault at a third of the run, undone at two thirds. Each run's files: <code>PROXY/SCENARIO/</code>.</p>",
        args.rate,
        args.scenario_duration.as_secs_f64()
    );
    body.push_str(
        "<table><tr><th>scenario</th><th>proxy</th><th>sent</th><th>failed</th><th>failures by kind</th>\
         <th>p99 during fault ms</th><th>max ms</th><th>time to detect ms</th><th>time to recover ms</th>\
         <th>responses by instance</th></tr>",
    );
    for row in rows {
        let kinds = row
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let instances = row
            .instances
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.scenario),
            escape(&row.dir),
            escape(&row.proxy),
            row.sent,
            row.failed,
            escape(if kinds.is_empty() { "none" } else { &kinds }),
            row.during_p99_ms,
            row.max_ms,
            ms(row.time_to_detect_ms),
            ms(row.time_to_recover_ms),
            escape(&instances),
        );
    }
    body.push_str("</table>");
    for row in rows {
        let svg = std::fs::read_to_string(out.join(&row.dir).join("timeline.svg"))
            .with_context(|| format!("read {}/timeline.svg", row.dir))?;
        let _ = write!(
            body,
            "<h2 id=\"{}\">{} / {}</h2>{}",
            escape(&row.dir),
            escape(&row.scenario),
            escape(&row.proxy),
            svg_inline(&svg)
        );
    }
    std::fs::write(
        out.join("report.html"),
        page("lab compare: failover side by side", &body),
    )
    .context("write report.html")?;
    Ok(())
}
