//! `timeline.svg` and `timeline.png`: three stacked panels on one time axis (throughput
//! and failures, p50/p99 latency on a log scale, each instance's share of the responses),
//! per 100 ms bucket, with every fault drawn as a labelled vertical line.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (its licence is beside it in
//! `assets/`), so the plots look the same on any machine and need no system fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::Summary;

/// Pixel size of the image.
const SIZE: (u32, u32) = (1200, 900);
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant of the binary: it parses, or the build is broken.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

fn err(error: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing the timeline: {error:?}")
}

/// The timeline as an SVG document.
pub fn svg(summary: &Summary, title: &str) -> anyhow::Result<String> {
    register_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&root, summary, title)?;
        root.present().map_err(err)?;
    }
    Ok(text)
}

/// The timeline written as a PNG to `path`.
pub fn png(summary: &Summary, title: &str, path: &Path) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&root, summary, title)?;
    root.present().map_err(err)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    summary: &Summary,
    title: &str,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, (FONT, 24)).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let end_s = (summary.timeline.len() as f64 * summary.bucket_ms as f64 / 1000.0).max(0.1);
    let per_s = 1000.0 / summary.bucket_ms as f64;
    let at = |t_ms: u64| t_ms as f64 / 1000.0;
    let faults: Vec<(f64, &str)> = summary
        .faults
        .iter()
        .map(|f| (f.at_ms / 1000.0, f.label.as_str()))
        .collect();

    // Throughput and failures.
    let top = summary
        .timeline
        .iter()
        .map(|b| b.sent)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * per_s
        * 1.15;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption(
            "Throughput per 100 ms bucket (requests/s by send time)",
            (FONT, 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end_s, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("requests/s")
        .x_desc("seconds")
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let ok = summary
        .timeline
        .iter()
        .map(|b| (at(b.t_ms), (b.sent - b.failed) as f64 * per_s));
    chart
        .draw_series(LineSeries::new(ok, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("answered below 400")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    let failed = summary
        .timeline
        .iter()
        .map(|b| (at(b.t_ms), b.failed as f64 * per_s));
    chart
        .draw_series(LineSeries::new(failed, RED.stroke_width(2)))
        .map_err(err)?
        .label("failed")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    markers(&mut chart, &faults, 0.0, top, true)?;
    legend(&mut chart)?;

    // Latency, log scale.
    let worst = summary
        .timeline
        .iter()
        .map(|b| b.latency.max_ms)
        .fold(1.0, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("Latency per 100 ms bucket (ms, log scale)", (FONT, 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end_s, (0.1f64..worst).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("ms")
        .x_desc("seconds")
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let live = || summary.timeline.iter().filter(|b| b.sent > 0);
    let p50 = live().map(|b| (at(b.t_ms), b.latency.p50_ms.max(0.1)));
    chart
        .draw_series(LineSeries::new(p50, GREEN.stroke_width(2)))
        .map_err(err)?
        .label("p50")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    let p99 = live().map(|b| (at(b.t_ms), b.latency.p99_ms.max(0.1)));
    chart
        .draw_series(LineSeries::new(p99, MAGENTA.stroke_width(2)))
        .map_err(err)?
        .label("p99")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], MAGENTA.stroke_width(2)));
    markers(&mut chart, &faults, 0.1, worst, false)?;
    legend(&mut chart)?;

    // Share per instance.
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(
            "Share of responses per instance (X-Instance), per 100 ms bucket",
            (FONT, 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end_s, 0f64..105f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("% of responses")
        .x_desc("seconds")
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let mut names: Vec<&String> = summary
        .timeline
        .iter()
        .flat_map(|b| b.instances.keys())
        .collect();
    names.sort();
    names.dedup();
    for (i, name) in names.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = live().map(|b| {
            let total: u64 = b.instances.values().sum();
            let mine = b.instances.get(name).copied().unwrap_or(0);
            (at(b.t_ms), 100.0 * mine as f64 / total.max(1) as f64)
        });
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    markers(&mut chart, &faults, 0.0, 105.0, false)?;
    legend(&mut chart)?;
    Ok(())
}

type Chart<'a, DB, Y> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

fn markers<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, DB, Y>,
    faults: &[(f64, &str)],
    low: f64,
    high: f64,
    labelled: bool,
) -> anyhow::Result<()> {
    let color = RGBColor(200, 80, 0);
    for (i, (x, label)) in faults.iter().enumerate() {
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(*x, low), (*x, high)],
                color.stroke_width(2),
            )))
            .map_err(err)?;
        if labelled {
            // Staggered, so faults close together stay readable.
            let y = high * (0.95 - 0.12 * (i % 3) as f64);
            let style = TextStyle::from((FONT, 14).into_font()).color(&color);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {label}"),
                    (*x, y),
                    style,
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, DB, Y>,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}
