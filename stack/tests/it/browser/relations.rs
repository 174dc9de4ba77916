//! The relations between columns in the page, on the Palmer penguins: the correlation
//! heatmap (by pointer and by keyboard), the group table with its pickers, the scatter
//! plot coloured by species, and the downloads.

use std::path::Path;

use serde_json::{Value, json};

use super::driver::{Browser, Chromedriver, ready_stack};
use super::{ONE_AT_A_TIME, sign_up, upload, write_file};
use crate::helpers::TempDir;

/// 344 penguins; 342 have both flipper length and body mass.
const PENGUINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/penguins.csv");

const ARROW_RIGHT: char = '\u{E014}';
const ARROW_DOWN: char = '\u{E015}';

#[tokio::test]
async fn the_penguins_show_correlations_group_means_and_a_scatter_plot() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(1, &[]).await;
    let page = Browser::open(&driver, &stack, (1280, 1000)).await;
    sign_up(&page, "penguins@example.com").await;
    upload(&page, Path::new(PENGUINS), "Palmer penguins", "public").await;
    page.find("#correlation-heatmap").await;

    // numpy: r(flipper_length_mm, body_mass_g) = 0.8712 over 342 rows.
    let cell = "#correlation-heatmap [data-row='flipper_length_mm'][data-column='body_mass_g']";
    let r = page
        .js_value(&format!(
            "return Number(document.querySelector(\"{cell}\").dataset.value)"
        ))
        .await;
    let r = r.as_f64().expect("a coefficient");
    assert!((r - 0.8712).abs() < 0.001, "r = {r}");
    assert!(page.text(cell).await.contains("0.87"));
    // By keyboard: the first cell takes focus, arrows walk to row 3, column 4.
    let first = page
        .find("#correlation-heatmap .heatmap__cell[tabindex='0']")
        .await;
    page.js_value(
        "document.querySelector(\"#correlation-heatmap .heatmap__cell[tabindex='0']\").focus()",
    )
    .await;
    first
        .send_keys(&format!("{ARROW_DOWN}{ARROW_DOWN}"))
        .await
        .expect("arrow down");
    let focused = page
        .js_value("return document.activeElement.dataset.row")
        .await;
    assert_eq!(focused, json!("flipper_length_mm"));
    let now = page
        .find("#correlation-heatmap .heatmap__cell[tabindex='0']")
        .await;
    now.send_keys(&format!("{ARROW_RIGHT}{ARROW_RIGHT}{ARROW_RIGHT}"))
        .await
        .expect("arrow right");
    let focused = page
        .js_value(
            "return [document.activeElement.dataset.row, document.activeElement.dataset.column]",
        )
        .await;
    assert_eq!(focused, json!(["flipper_length_mm", "body_mass_g"]));
    let readout = page.text("#correlation-readout").await;
    assert!(
        readout.contains("flipper_length_mm and body_mass_g: 0.871 over 342 rows"),
        "{readout}"
    );
    scroll_to(&page, "#correlations-title").await;
    page.screenshot("penguins-correlations").await;

    // The group table: body mass by species; numpy: Gentoo's mean is 5076.016 g.
    pick(&page, "#group-by", "species").await;
    pick(&page, "#group-column", "body_mass_g").await;
    let gentoo = cells(&page, "#group-table tr[data-group='Gentoo'] td").await;
    // Rows, values, mean, min, max.
    assert_eq!(gentoo[0], "124", "{gentoo:?}");
    assert_eq!(gentoo[1], "123", "{gentoo:?}");
    let mean: f64 = gentoo[2].replace(',', "").parse().expect("a mean");
    assert!((mean - 5076.016).abs() < 0.01, "{mean}");
    let groups = page
        .js_value("return [...document.querySelectorAll('#group-table tbody th')].map((th) => th.textContent)")
        .await;
    assert_eq!(groups, json!(["Adelie", "Chinstrap", "Gentoo"]));
    scroll_to(&page, "#groups-title").await;
    page.screenshot("penguins-groups").await;

    // The scatter plot: body mass against flipper length, coloured by species.
    pick(&page, "#scatter-x", "flipper_length_mm").await;
    pick(&page, "#scatter-y", "body_mass_g").await;
    pick(&page, "#scatter-colour", "species").await;
    let points = page
        .js_value("return document.querySelectorAll('#scatter-plot circle.scatter__point').length")
        .await;
    assert_eq!(points, json!(342));
    let colours = page
        .js_value(
            "return new Set([...document.querySelectorAll('#scatter-plot circle')].map((c) => c.getAttribute('fill'))).size",
        )
        .await;
    assert_eq!(colours, json!(3), "one colour per species");
    let legend = page.text("#scatter-legend").await;
    assert!(
        legend.contains("Gentoo") && legend.contains("Adelie"),
        "{legend}"
    );
    scroll_to(&page, "#scatter-title").await;
    page.screenshot("penguins-scatter").await;

    // The downloads: blob links with file names, holding the analysis and its statistics.
    let links = page
        .js_value(
            "return ['#download-json', '#download-csv'].map((id) => {\
               const a = document.querySelector(id); return [a.protocol, a.getAttribute('download')]; })",
        )
        .await;
    assert_eq!(
        links,
        json!([
            ["blob:", "Palmer-penguins-analysis.json"],
            ["blob:", "Palmer-penguins-statistics.csv"]
        ])
    );
    let exported = page
        .js_async(
            r#"const done = arguments[arguments.length - 1];
            const id = location.hash.split('/').pop();
            Promise.all([import('/js/exports.js'), fetch(`/api/datasets/${id}`).then((r) => r.json())])
              .then(([exports, dataset]) => done({
                csv: exports.statisticsCsv(dataset.analysis.columns),
                json: JSON.parse(exports.analysisJson(dataset.analysis)).correlations.columns,
              }), (error) => done({ error: String(error) }));"#,
        )
        .await;
    let csv = exported["csv"].as_str().unwrap_or_default();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9, "a header and eight columns: {csv}");
    assert!(
        lines[0].starts_with("name,type,count,missing,distinct"),
        "{csv}"
    );
    let body_mass = lines
        .iter()
        .find(|line| line.starts_with("body_mass_g,"))
        .expect("a body_mass_g line");
    assert!(
        body_mass.starts_with("body_mass_g,integer,342,2,94,false,2700,6300,4201.75"),
        "{body_mass}"
    );
    assert_eq!(
        exported["json"],
        json!([
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "year"
        ])
    );
    page.assert_every_control_labelled("penguins").await;

    // A constant column has no correlation: the cell says so instead of a number.
    let files = TempDir::new();
    let constant = write_file(&files, "constant.csv", &constant_csv());
    page.goto("#/").await;
    upload(&page, &constant, "A constant column", "private").await;
    page.wait_js(
        "the new dataset's heatmap",
        "return document.getElementById('dataset-title')?.textContent === 'A constant column' \
         && document.getElementById('correlation-heatmap') !== null",
    )
    .await;
    let undefined = "#correlation-heatmap [data-row='a'][data-column='constant']";
    assert_eq!(page.text(undefined).await, "—");
    let label = page
        .js_value(&format!(
            "return document.querySelector(\"{undefined}\").getAttribute('aria-label')"
        ))
        .await;
    assert_eq!(label, json!("a and constant: undefined over 3 rows"));
    let defined = page
        .text("#correlation-heatmap [data-row='a'][data-column='b']")
        .await;
    assert_eq!(defined, "0.98");

    // A cell longer than the app's `max_cell_chars` (200): its column's card says the text
    // was cut, and the page says so once above the cards.
    let badge = page
        .text("article.column-card[data-column='note'] h3 .badge")
        .await;
    assert_eq!(badge.trim(), "Text cut");
    let uncut = page
        .js_value("return document.querySelectorAll('article.column-card h3 .badge').length")
        .await;
    assert_eq!(uncut, json!(1), "only the cut column has the marker");
    assert!(
        page.text("#truncation-note")
            .await
            .contains("cut to 200 characters"),
        "the page names the bound"
    );
    page.assert_no_policy_violations().await;
    page.close().await;
}

/// a and b rise together; `constant` never changes; `empty` has no value (so it is text);
/// `note` has one value longer than the default `max_cell_chars` (200).
fn constant_csv() -> String {
    format!(
        "a,b,constant,empty,note\n1,2,7,,{}\n2,4,7,,short\n3,5,7,,short\n",
        "long ".repeat(60)
    )
}

/// Chooses the option labelled `label` in the select `css`, as a user would.
async fn pick(page: &Browser, css: &str, label: &str) {
    page.find(css)
        .await
        .select_by_label(label)
        .await
        .unwrap_or_else(|error| panic!("choose {label} in {css}: {error}"));
}

/// The text of every element matching `css`.
async fn cells(page: &Browser, css: &str) -> Vec<String> {
    let script = format!(
        "return [...document.querySelectorAll({})].map((el) => el.textContent)",
        json!(css)
    );
    page.js_value(&script)
        .await
        .as_array()
        .map(|cells| {
            cells
                .iter()
                .map(|cell| Value::as_str(cell).unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn scroll_to(page: &Browser, css: &str) {
    page.js_value(&format!(
        "document.querySelector({}).scrollIntoView({{ block: 'start' }})",
        json!(css)
    ))
    .await;
}
