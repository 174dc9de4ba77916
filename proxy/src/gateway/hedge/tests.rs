use std::time::{Duration, Instant};

use http::Method;

use super::ttfb::{MIN_SAMPLES, Ttfb, bucket, upper_bound};
use super::{
    Hedge, Next, OnStopped, Shape, after_failure, delay, hedge_due, hedges, on_stopped, takes,
};
use crate::config::upstream::RetryConfig;
use crate::upstreams::Outcome;

/// A budget that must not be asked: the decision has to be made before it.
fn untouched_budget() -> bool {
    panic!("the retry budget must not be consulted here")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn shape(method: &Method) -> Shape<'_> {
    Shape {
        method,
        has_body: false,
        streaming: false,
    }
}

// === takes ===

#[test]
fn bodiless_idempotent_requests_are_taken_and_only_gets_and_heads_hedged() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ] {
        assert!(takes(shape(&method)), "{method} is re-dispatched");
    }
    assert!(hedges(&Method::GET, true));
    assert!(hedges(&Method::HEAD, true));
    for method in [Method::OPTIONS, Method::PUT, Method::DELETE] {
        assert!(!hedges(&method, true), "{method} is never hedged");
    }
}

#[test]
fn bodies_streams_and_posts_take_the_one_attempt_path() {
    for method in [Method::POST, Method::PATCH] {
        assert!(!takes(shape(&method)), "{method}");
    }
    let with_body = Shape {
        has_body: true,
        ..shape(&Method::GET)
    };
    assert!(!takes(with_body));
    let stream = Shape {
        streaming: true,
        ..shape(&Method::GET)
    };
    assert!(!takes(stream), "an event stream or upgrade is never raced");
}

#[test]
fn hedging_off_still_takes_the_request_but_never_hedges_it() {
    assert!(takes(shape(&Method::GET)), "re-dispatch needs no hedging");
    assert!(!hedges(&Method::GET, false));
}

// === delay ===

#[test]
fn the_delay_is_twice_the_p95_within_the_bounds() {
    let retry = RetryConfig::default();
    assert_eq!(delay(&retry, Some(ms(100))), ms(200));
    assert_eq!(delay(&retry, Some(ms(1))), ms(50), "floor: hedge_min_ms");
    assert_eq!(
        delay(&retry, Some(ms(900))),
        ms(1000),
        "ceiling: hedge_max_ms"
    );
}

#[test]
fn without_samples_the_delay_is_the_ceiling() {
    assert_eq!(delay(&RetryConfig::default(), None), ms(1000));
}

#[test]
fn a_fixed_delay_ignores_the_samples() {
    let retry = RetryConfig {
        hedge_after_ms: Some(300),
        ..RetryConfig::default()
    };
    assert_eq!(delay(&retry, Some(ms(1))), ms(300));
    assert_eq!(delay(&retry, None), ms(300));
}

// === hedge_due ===

#[test]
fn a_hedge_is_sent_when_attempts_and_budget_allow() {
    assert_eq!(hedge_due(1, 3, || true), Hedge::Send);
}

#[test]
fn a_spent_budget_skips_the_hedge() {
    assert_eq!(hedge_due(1, 3, || false), Hedge::Skip);
}

#[test]
fn at_max_attempts_the_budget_is_not_spent_on_a_hedge() {
    assert_eq!(hedge_due(1, 1, untouched_budget), Hedge::Skip);
}

// === after_failure ===

#[test]
fn a_failure_while_another_attempt_runs_waits_for_it() {
    assert_eq!(
        after_failure(Outcome::Broken, 1, 2, 3, 0, untouched_budget),
        Next::Wait
    );
}

#[test]
fn connect_failures_are_retried_and_breaks_once() {
    assert_eq!(
        after_failure(Outcome::ConnectFailed, 0, 1, 3, 1, || true),
        Next::Retry("connect")
    );
    assert_eq!(
        after_failure(Outcome::Broken, 0, 1, 3, 0, || true),
        Next::Retry("broken")
    );
    assert_eq!(
        after_failure(Outcome::Timeout, 0, 1, 3, 0, || true),
        Next::Retry("timeout")
    );
    assert_eq!(
        after_failure(Outcome::Broken, 0, 2, 3, 1, untouched_budget),
        Next::GiveUp,
        "a second break is not retried"
    );
}

#[test]
fn no_retry_past_max_attempts_or_budget() {
    assert_eq!(
        after_failure(Outcome::ConnectFailed, 0, 3, 3, 0, untouched_budget),
        Next::GiveUp
    );
    assert_eq!(
        after_failure(Outcome::ConnectFailed, 0, 1, 3, 0, || false),
        Next::GiveUp
    );
}

// === on_stopped ===

#[test]
fn a_stopped_backend_with_another_attempt_in_flight_is_just_cancelled() {
    let no_selection = || -> bool { panic!("no new backend is needed") };
    assert_eq!(on_stopped(1, 2, 3, no_selection), OnStopped::Cancel);
}

#[test]
fn a_stopped_backend_is_redispatched_when_another_can_take_it() {
    assert_eq!(on_stopped(0, 1, 3, || true), OnStopped::Redispatch);
    assert_eq!(on_stopped(0, 1, 3, || false), OnStopped::Keep);
}

#[test]
fn at_max_attempts_a_stopped_backend_is_kept() {
    let no_selection = || -> bool { panic!("no new backend may be taken") };
    assert_eq!(on_stopped(0, 3, 3, no_selection), OnStopped::Keep);
}

// === ttfb ===

#[test]
fn buckets_bound_their_samples_within_a_quarter() {
    for sample in [ms(1), ms(3), ms(40), ms(999), Duration::from_micros(150)] {
        let bound = upper_bound(bucket(sample));
        assert!(
            bound >= sample,
            "{sample:?} above its bucket bound {bound:?}"
        );
        assert!(
            bound <= sample.mul_f64(1.26),
            "{sample:?} bound {bound:?} too loose"
        );
    }
}

#[test]
fn the_p95_needs_enough_samples() {
    let ttfb = Ttfb::default();
    let now = Instant::now();
    for _ in 0..MIN_SAMPLES - 1 {
        ttfb.record(ms(5), now);
    }
    assert_eq!(ttfb.p95(now), None);
    ttfb.record(ms(5), now);
    let p95 = ttfb.p95(now).expect("enough samples");
    assert!(p95 >= ms(5) && p95 < ms(7), "{p95:?}");
}

#[test]
fn the_p95_follows_the_slow_tail() {
    let ttfb = Ttfb::default();
    let now = Instant::now();
    for n in 0..100 {
        ttfb.record(if n < 90 { ms(2) } else { ms(80) }, now);
    }
    let p95 = ttfb.p95(now).expect("samples");
    assert!(p95 >= ms(80) && p95 < ms(101), "{p95:?}");
}

#[test]
fn old_samples_age_out() {
    let ttfb = Ttfb::default();
    let start = Instant::now();
    for _ in 0..50 {
        ttfb.record(ms(500), start);
    }
    let later = start + Duration::from_secs(11);
    for _ in 0..50 {
        ttfb.record(ms(2), later);
    }
    assert!(
        ttfb.p95(later).expect("both windows") >= ms(500),
        "previous window counts"
    );
    let much_later = later + Duration::from_secs(21);
    assert_eq!(
        ttfb.p95(much_later),
        None,
        "two windows on, nothing is left"
    );
}
