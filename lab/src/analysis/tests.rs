use std::time::Duration;

use super::summarize;
use crate::fault::Fired;
use crate::load::Recording;
use crate::record::{Outcome, Record};

/// 4 s at 200/s over o1 and o2; from 1 s to 2 s o2's requests take 500 ms, and from 1 s
/// to 1.5 s they fail; o2 gets no traffic from 1 s to 2.5 s.
fn recording() -> Recording {
    let records = (0..800u64)
        .map(|i| {
            let start = Duration::from_millis(i * 5);
            let ms = start.as_millis();
            let o2 = i % 2 == 1;
            let outcome = if o2 && (1000..1500).contains(&ms) {
                Outcome::Error("timeout")
            } else {
                let name = if o2 && !(1000..2500).contains(&ms) {
                    "o2"
                } else {
                    "o1"
                };
                Outcome::Response {
                    status: 200,
                    instance: Some(name.to_owned()),
                }
            };
            let slow = o2 && (1000..2000).contains(&ms);
            Record {
                start,
                latency: Duration::from_millis(if slow { 500 } else { 2 }),
                url: 0,
                outcome,
            }
        })
        .collect();
    Recording {
        records,
        faults: vec![Fired {
            label: "stop".into(),
            at_ms: 1000.0,
            ended_ms: None,
            error: None,
        }],
        elapsed: Duration::from_secs(4),
        interrupted: false,
        max_dispatch_lag: Duration::ZERO,
    }
}

#[test]
fn the_fault_window_runs_from_the_first_spike_to_the_first_clean_second() {
    let summary = summarize(&recording(), &["GET /".into()], 200, Duration::from_secs(4));
    assert_eq!(summary.totals.sent, 800);
    assert_eq!(summary.totals.failed, 50);
    assert_eq!(summary.failures_by_kind.get("timeout"), Some(&50));
    assert_eq!(summary.timeline.len(), 40);
    let fault = &summary.faults[0];
    assert_eq!(fault.disturbed_from_ms, Some(1000.0));
    assert_eq!(fault.clean_from_ms, Some(2000.0));
    assert_eq!(fault.time_to_detect_ms, Some(1000.0));
    assert_eq!(fault.before.latency.p99_ms, 2.0);
    assert_eq!(fault.during.latency.p99_ms, 500.0);
    assert_eq!(fault.during.failed, 50);
    assert_eq!(fault.after.failed, 0);
    // o2 has half its share back once the sliding second starts past 2.0 s.
    let recover = fault.time_to_recover_ms.expect("recovers");
    assert!((1000.0..=2000.0).contains(&recover), "{recover}");
}

#[test]
fn a_fault_nobody_notices_takes_no_time_to_detect() {
    let mut quiet = recording();
    for record in &mut quiet.records {
        record.latency = Duration::from_millis(2);
        record.outcome = Outcome::Response {
            status: 200,
            instance: Some("o1".into()),
        };
    }
    let summary = summarize(&quiet, &["GET /".into()], 200, Duration::from_secs(4));
    let fault = &summary.faults[0];
    assert_eq!(fault.disturbed_from_ms, None);
    assert_eq!(fault.time_to_detect_ms, Some(0.0));
    assert_eq!(fault.time_to_recover_ms, Some(0.0));
    assert_eq!(
        fault.during.sent, 200,
        "the second after the fault stands for during"
    );
}
