use std::time::Duration;

use pingora::{Error, ErrorType};

use super::{closed_under_us, keep_alive_timeout, never_reached, pool_idle};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn the_keep_alive_timeout_is_read_from_the_field() {
    assert_eq!(keep_alive_timeout("timeout=5"), Some(secs(5)));
    assert_eq!(keep_alive_timeout("max=1000, timeout=1"), Some(secs(1)));
    assert_eq!(keep_alive_timeout("Timeout = 2"), Some(secs(2)));
    assert_eq!(keep_alive_timeout("max=10"), None);
    assert_eq!(keep_alive_timeout("timeout=soon"), None);
}

#[test]
fn the_pool_lets_go_before_the_backend_does() {
    let configured = secs(4);
    assert_eq!(pool_idle(configured, None), secs(4));
    assert_eq!(
        pool_idle(configured, Some(secs(1))),
        Duration::from_millis(750)
    );
    assert_eq!(
        pool_idle(configured, Some(secs(75))),
        secs(4),
        "never longer than configured"
    );
}

#[test]
fn a_timeout_is_not_a_closed_connection() {
    assert!(closed_under_us(&Error::new(ErrorType::ConnectionClosed)));
    assert!(closed_under_us(&Error::new(ErrorType::ReadError)));
    assert!(closed_under_us(&Error::new(ErrorType::WriteError)));
    assert!(!closed_under_us(&Error::new(ErrorType::ReadTimedout)));
    assert!(!closed_under_us(&Error::new(ErrorType::InvalidHTTPHeader)));
}

#[test]
fn only_a_failed_write_proves_the_request_never_arrived() {
    assert!(never_reached(&Error::new(ErrorType::WriteError)));
    assert!(
        !never_reached(&Error::new(ErrorType::ConnectionClosed)),
        "a close after the request was written may follow its processing"
    );
}
