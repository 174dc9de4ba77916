use http::Method;
use pingora::{Error, ErrorType};

use super::{
    CONNECT, Failed, after_exchange, connect_outcome, exchange_outcome, final_outcome,
    on_fresh_connection, replayable, retryable, within_limits,
};
use crate::upstreams::Outcome;

/// A budget that must not be asked: the decision has to be made before it.
fn untouched_budget() -> bool {
    panic!("the retry budget must not be consulted here")
}

fn error(etype: ErrorType) -> Box<Error> {
    Error::new(etype)
}

/// A bodiless GET that broke on the backend's side before any response, on a new
/// connection: the case every rule allows. Each test changes one fact.
fn broken_get() -> Failed {
    Failed {
        by_backend: true,
        responded: false,
        replayable: true,
        body_truncated: false,
        reused: false,
    }
}

// === outcomes ===

#[test]
fn a_connect_timeout_is_a_timeout_and_anything_else_a_connect_failure() {
    assert_eq!(
        connect_outcome(&error(ErrorType::ConnectTimedout)),
        Outcome::Timeout
    );
    for etype in [ErrorType::ConnectRefused, ErrorType::ConnectError] {
        assert_eq!(connect_outcome(&error(etype)), Outcome::ConnectFailed);
    }
}

#[test]
fn a_quiet_exchange_is_a_timeout_and_anything_else_broken() {
    for etype in [ErrorType::ReadTimedout, ErrorType::WriteTimedout] {
        assert_eq!(exchange_outcome(&error(etype)), Outcome::Timeout);
    }
    for etype in [
        ErrorType::ConnectionClosed,
        ErrorType::ReadError,
        ErrorType::WriteError,
        ErrorType::InvalidHTTPHeader,
    ] {
        assert_eq!(exchange_outcome(&error(etype)), Outcome::Broken);
    }
}

#[test]
fn the_last_attempt_is_judged_by_its_status_unless_the_backend_failed() {
    assert_eq!(final_outcome(Some(200), false), Some(Outcome::Success));
    assert_eq!(final_outcome(Some(404), false), Some(Outcome::Success));
    assert_eq!(final_outcome(Some(503), false), Some(Outcome::Status(503)));
    assert_eq!(
        final_outcome(Some(200), true),
        Some(Outcome::Broken),
        "a body that broke off after the head"
    );
    assert_eq!(final_outcome(None, true), Some(Outcome::Broken));
}

#[test]
fn a_client_that_left_before_the_response_says_nothing_about_the_backend() {
    assert_eq!(final_outcome(None, false), None);
}

// === what may go again ===

#[test]
fn only_idempotent_requests_without_a_body_are_replayable() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        assert!(replayable(&method, false), "{method}");
        assert!(!replayable(&method, true), "{method} with a body");
    }
    for method in [Method::POST, Method::PATCH] {
        assert!(!replayable(&method, false), "{method}");
    }
}

#[test]
fn connect_failures_are_always_retryable_and_breaks_once() {
    assert_eq!(retryable(Outcome::ConnectFailed, 0), Some(CONNECT));
    assert_eq!(retryable(Outcome::ConnectFailed, 1), Some(CONNECT));
    assert_eq!(retryable(Outcome::Timeout, 0), Some("timeout"));
    assert_eq!(retryable(Outcome::Broken, 0), Some("broken"));
    assert_eq!(retryable(Outcome::Timeout, 1), None);
    assert_eq!(retryable(Outcome::Broken, 1), None);
}

#[test]
fn answers_are_not_retried_not_even_5xx() {
    assert_eq!(retryable(Outcome::Success, 0), None);
    assert_eq!(retryable(Outcome::Status(503), 0), None);
}

#[test]
fn another_attempt_needs_room_under_max_attempts_then_budget() {
    assert!(within_limits(1, 3, || true));
    assert!(!within_limits(1, 3, || false), "a spent budget");
}

#[test]
fn at_max_attempts_the_budget_is_not_spent() {
    assert!(!within_limits(3, 3, untouched_budget));
    assert!(!within_limits(4, 3, untouched_budget));
}

// === Pingora's path ===

#[test]
fn a_replayable_request_that_broke_before_a_response_goes_again_once() {
    assert_eq!(
        after_exchange(broken_get(), Outcome::Broken, 0),
        Some("broken")
    );
    assert_eq!(
        after_exchange(broken_get(), Outcome::Timeout, 0),
        Some("timeout")
    );
    assert_eq!(after_exchange(broken_get(), Outcome::Broken, 1), None);
}

#[test]
fn a_post_that_reached_a_backend_is_never_sent_twice() {
    let post = Failed {
        replayable: false,
        ..broken_get()
    };
    assert_eq!(after_exchange(post, Outcome::Broken, 0), None);
    assert_eq!(after_exchange(post, Outcome::Timeout, 0), None);
}

#[test]
fn nothing_goes_again_once_a_response_began_or_the_body_is_gone() {
    for failed in [
        Failed {
            responded: true,
            ..broken_get()
        },
        Failed {
            body_truncated: true,
            ..broken_get()
        },
        Failed {
            by_backend: false,
            ..broken_get()
        },
    ] {
        assert_eq!(
            after_exchange(failed, Outcome::Broken, 0),
            None,
            "{failed:?}"
        );
    }
}

#[test]
fn a_reused_connection_closed_under_the_request_goes_again_fresh_once() {
    let reused = Failed {
        reused: true,
        ..broken_get()
    };
    for etype in [
        ErrorType::ConnectionClosed,
        ErrorType::ReadError,
        ErrorType::WriteError,
    ] {
        let label = format!("{etype:?}");
        assert!(on_fresh_connection(reused, &error(etype), 0), "{label}");
    }
    assert!(
        !on_fresh_connection(reused, &error(ErrorType::ConnectionClosed), 1),
        "only once per request"
    );
    assert!(
        !on_fresh_connection(reused, &error(ErrorType::ReadTimedout), 0),
        "a timeout is a backend that holds the connection and does not answer"
    );
    assert!(
        !on_fresh_connection(broken_get(), &error(ErrorType::ConnectionClosed), 0),
        "a new connection was not closed under us"
    );
}

#[test]
fn a_post_goes_again_fresh_only_when_its_write_failed_with_its_body_buffered() {
    let post = Failed {
        reused: true,
        replayable: false,
        ..broken_get()
    };
    assert!(on_fresh_connection(post, &error(ErrorType::WriteError), 0));
    assert!(
        !on_fresh_connection(post, &error(ErrorType::ConnectionClosed), 0),
        "the backend may have read it"
    );
    let truncated = Failed {
        body_truncated: true,
        ..post
    };
    assert!(!on_fresh_connection(
        truncated,
        &error(ErrorType::WriteError),
        0
    ));
}

#[test]
fn nothing_goes_again_fresh_once_a_response_began() {
    let responded = Failed {
        reused: true,
        responded: true,
        ..broken_get()
    };
    assert!(!on_fresh_connection(
        responded,
        &error(ErrorType::ConnectionClosed),
        0
    ));
}
