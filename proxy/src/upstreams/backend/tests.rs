use std::time::{Duration, Instant};

use super::{Backend, HealthChange, ramp};
use crate::config::upstream::PassiveConfig;
use crate::upstreams::Outcome;

const OFF: Duration = Duration::ZERO;

fn backend() -> Backend {
    Backend::new("127.0.0.1:9".parse().expect("addr"), 1, None)
}

fn passive(failures_to_eject: u32) -> PassiveConfig {
    PassiveConfig {
        failures_to_eject,
        consecutive_5xx_to_eject: 1,
        eject_on_5xx: true,
        base_ejection_ms: 1000,
        max_ejection_ms: 8000,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn one_connect_failure_ejects_at_once_for_the_base_time() {
    let b = backend();
    let t0 = Instant::now();
    assert_eq!(
        b.record_outcome(Outcome::ConnectFailed, t0, &passive(1), true),
        Some(ms(1000))
    );
    assert_eq!(b.eligibility(t0, true, OFF), None);
    assert_eq!(b.eligibility(t0 + ms(999), true, OFF), None);
    assert_eq!(b.eligibility(t0 + ms(1000), true, OFF), Some(1.0));
    let status = b.status(t0 + ms(400), true);
    assert!(status.ejected && !status.eligible && status.healthy);
    assert_eq!(status.ejected_for_ms, Some(600));
    assert_eq!(status.ejections_total, 1);
}

#[test]
fn repeated_ejections_double_up_to_the_cap_and_start_over_after_a_quiet_period() {
    let b = backend();
    let config = passive(1);
    let mut now = Instant::now();
    let mut lengths = Vec::new();
    for _ in 0..6 {
        let length = b
            .record_outcome(Outcome::Timeout, now, &config, true)
            .expect("ejected");
        lengths.push(length.as_millis());
        now += length; // readmitted; fails again at once
    }
    assert_eq!(lengths, [1000, 2000, 4000, 8000, 8000, 8000]);
    // Un-ejected for max_ejection_ms after the last ejection ended: the streak starts over.
    now += ms(8000);
    assert_eq!(
        b.record_outcome(Outcome::Broken, now, &config, true),
        Some(ms(1000))
    );
}

#[test]
fn failures_while_ejected_do_not_extend_the_ejection() {
    let b = backend();
    let t0 = Instant::now();
    b.record_outcome(Outcome::ConnectFailed, t0, &passive(1), true);
    assert_eq!(
        b.record_outcome(Outcome::ConnectFailed, t0 + ms(10), &passive(1), true),
        None
    );
    assert_eq!(b.eligibility(t0 + ms(1000), true, OFF), Some(1.0));
    assert_eq!(b.status(t0, true).ejections_total, 1);
}

#[test]
fn a_success_resets_the_consecutive_failure_count() {
    let b = backend();
    let config = passive(3);
    let now = Instant::now();
    for outcome in [Outcome::Timeout, Outcome::Timeout, Outcome::Success] {
        assert_eq!(b.record_outcome(outcome, now, &config, true), None);
    }
    assert_eq!(b.record_outcome(Outcome::Timeout, now, &config, true), None);
    assert_eq!(b.record_outcome(Outcome::Timeout, now, &config, true), None);
    assert!(
        b.record_outcome(Outcome::Timeout, now, &config, true)
            .is_some(),
        "third in a row"
    );
}

#[test]
fn a_5xx_ejects_only_when_eject_on_5xx() {
    let now = Instant::now();
    let b = backend();
    let mut config = passive(1);
    config.eject_on_5xx = false;
    assert_eq!(
        b.record_outcome(Outcome::Status(502), now, &config, true),
        None
    );
    assert_eq!(b.eligibility(now, true, OFF), Some(1.0));
    config.eject_on_5xx = true;
    assert_eq!(
        b.record_outcome(Outcome::Status(404), now, &config, true),
        None
    );
    assert!(
        b.record_outcome(Outcome::Status(503), now, &config, true)
            .is_some()
    );
    assert_eq!(b.eligibility(now, true, OFF), None);
}

#[test]
fn zero_failures_to_eject_turns_passive_ejection_off() {
    let b = backend();
    let now = Instant::now();
    for _ in 0..10 {
        assert_eq!(
            b.record_outcome(Outcome::ConnectFailed, now, &passive(0), true),
            None
        );
    }
    assert_eq!(b.eligibility(now, true, OFF), Some(1.0));
}

#[test]
fn checks_fall_after_fall_failures_and_rise_after_rise_passes() {
    let b = backend();
    let now = Instant::now();
    assert_eq!(b.record_check(Err("status 500".into()), 2, 2, now), None);
    assert_eq!(
        b.record_check(Err("status 500".into()), 2, 2, now),
        Some(HealthChange::Down("status 500".into()))
    );
    assert_eq!(b.eligibility(now, true, OFF), None);
    assert_eq!(
        b.eligibility(now, false, OFF),
        Some(1.0),
        "checks off: healthy"
    );
    assert_eq!(b.record_check(Ok(()), 2, 2, now), None);
    assert_eq!(b.record_check(Err("timeout".into()), 2, 2, now), None);
    assert_eq!(b.record_check(Ok(()), 2, 2, now), None);
    assert_eq!(b.record_check(Ok(()), 2, 2, now), Some(HealthChange::Up));
    let status = b.status(now, true);
    assert!(status.healthy && status.eligible);
    assert_eq!(status.last_check_ok, Some(true));
    // Healthy again: the error is history, kept only as its time.
    assert_eq!(status.last_error, None);
    assert!(status.last_error_at.is_some() && status.last_error_at_ms.is_some());
    assert_eq!((status.checks_ok_total, status.checks_failed_total), (3, 3));
    assert!(status.last_check.is_some());
}

#[test]
fn slow_start_ramps_from_a_tenth_to_full_after_readmission() {
    assert_eq!(ramp(ms(0), ms(10_000)), 0.1);
    assert!((ramp(ms(5000), ms(10_000)) - 0.55).abs() < 1e-9);
    assert_eq!(ramp(ms(10_000), ms(10_000)), 1.0);
    assert_eq!(ramp(ms(1), OFF), 1.0);

    let b = backend();
    let slow = ms(10_000);
    let t0 = Instant::now();
    assert_eq!(
        b.eligibility(t0, true, slow),
        Some(1.0),
        "initial members are not ramped"
    );
    b.record_outcome(Outcome::ConnectFailed, t0, &passive(1), true);
    let back = t0 + ms(1000);
    assert_eq!(b.eligibility(back, true, slow), Some(0.1));
    let half = b
        .eligibility(back + ms(5000), true, slow)
        .expect("eligible");
    assert!((half - 0.55).abs() < 1e-9);
    assert_eq!(b.eligibility(back + slow, true, slow), Some(1.0));

    let added = Backend::new("127.0.0.1:9".parse().expect("addr"), 1, Some(t0));
    assert_eq!(
        added.eligibility(t0, true, slow),
        Some(0.1),
        "added members ramp"
    );
}

#[test]
fn five_xx_answers_eject_only_after_the_configured_run() {
    let now = Instant::now();
    let b = backend();
    let config = PassiveConfig::default();
    assert_eq!(config.consecutive_5xx_to_eject, 5);
    for _ in 0..4 {
        assert_eq!(
            b.record_outcome(Outcome::Status(500), now, &config, true),
            None
        );
    }
    // Another answer starts the run over.
    assert_eq!(
        b.record_outcome(Outcome::Status(404), now, &config, true),
        None
    );
    for _ in 0..4 {
        assert_eq!(
            b.record_outcome(Outcome::Status(502), now, &config, true),
            None
        );
    }
    assert_eq!(b.eligibility(now, true, OFF), Some(1.0));
    assert!(
        b.record_outcome(Outcome::Status(503), now, &config, true)
            .is_some(),
        "the fifth 5xx in a row ejects"
    );
    assert_eq!(b.eligibility(now, true, OFF), None);
}

#[test]
fn a_refused_connection_still_ejects_at_once_with_the_default_config() {
    let now = Instant::now();
    let b = backend();
    let config = PassiveConfig::default();
    assert_eq!(
        b.record_outcome(Outcome::Status(500), now, &config, true),
        None
    );
    assert!(
        b.record_outcome(Outcome::ConnectFailed, now, &config, true)
            .is_some()
    );
}

#[test]
fn a_draining_backend_takes_nothing_until_it_restarts_or_the_hold_ends() {
    let b = backend();
    let t0 = Instant::now();
    assert!(b.mark_draining(t0, ms(60_000)), "news the first time");
    assert!(!b.mark_draining(t0, ms(60_000)), "not news the second time");
    assert_eq!(b.eligibility(t0, true, OFF), None);
    assert!(b.stopped_serving(t0, true));
    let status = b.status(t0, true);
    assert!(status.draining && !status.eligible && status.healthy);

    // Checks that keep passing (a draining app still answers /healthz) do not end it.
    b.record_check(Ok(()), 2, 2, t0);
    assert_eq!(b.eligibility(t0, true, OFF), None);
    // A failed check then a pass: the old process went away and a new one answers.
    b.record_check(Err("connect: refused".into()), 2, 2, t0);
    b.record_check(Ok(()), 2, 2, t0);
    assert_eq!(b.eligibility(t0, true, OFF), Some(1.0));
    assert!(!b.stopped_serving(t0, true));

    b.mark_draining(t0, ms(1000));
    assert_eq!(
        b.eligibility(t0 + ms(1000), true, OFF),
        Some(1.0),
        "the hold ends"
    );
}

#[tokio::test]
async fn waiters_wake_when_checks_take_the_backend_down() {
    let b = std::sync::Arc::new(backend());
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.wait_stopped(true).await }
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    let t0 = Instant::now();
    b.record_check(Err("timeout".into()), 2, 2, t0);
    assert_eq!(
        b.record_check(Err("timeout".into()), 2, 2, t0),
        Some(HealthChange::Down("timeout".into()))
    );
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken")
        .expect("join");
}
