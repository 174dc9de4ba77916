//! `lab compare` with Flotilla alone: every scenario runs and lands in one report.

use crate::helpers::{assert_plots_valid, origin_bin, out_dir, proxy_bin, run_lab, stderr};

#[tokio::test]
async fn compare_runs_every_scenario_through_flotilla_into_one_report() {
    let out = out_dir("compare");
    let output = run_lab(&[
        "compare",
        "--proxies",
        "flotilla",
        "--scenario-duration",
        "3s",
        "--rate",
        "100",
        "--proxy-bin",
        proxy_bin().to_str().expect("path"),
        "--origin-bin",
        origin_bin().to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(
        output.status.success(),
        "lab compare failed: {}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(out.join("compare.json")).expect("compare.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let rows = json["rows"].as_array().expect("rows");
    let scenarios: Vec<&str> = rows.iter().filter_map(|r| r["scenario"].as_str()).collect();
    assert_eq!(scenarios, ["kill", "hang", "drain", "rolling", "slow"]);
    for row in rows {
        assert_eq!(row["proxy"], "flotilla");
        assert!(row["sent"].as_u64() >= Some(300), "{row}");
        let instances = row["instances"].as_object().expect("instances");
        assert_eq!(instances.len(), 3, "all three origins answered: {row}");
        assert_plots_valid(&out.join(row["dir"].as_str().expect("dir")));
    }
    let report = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert_eq!(
        report.matches("<svg").count(),
        5,
        "one timeline per scenario"
    );
}
