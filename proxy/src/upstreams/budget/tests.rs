use std::time::{Duration, Instant};

use super::RetryBudget;

#[test]
fn a_fifth_of_100_requests_allows_20_retries_then_none() {
    let now = Instant::now();
    let budget = RetryBudget::new(now);
    for _ in 0..100 {
        budget.record_request(now);
    }
    let granted = (0..50).filter(|_| budget.try_acquire(now, 0.2, 0)).count();
    assert_eq!(granted, 20);
    assert!(!budget.try_acquire(now, 0.2, 0));
}

#[test]
fn the_floor_allows_retries_without_traffic() {
    let now = Instant::now();
    let budget = RetryBudget::new(now);
    let granted = (0..200)
        .filter(|_| budget.try_acquire(now, 0.2, 10))
        .count();
    assert_eq!(granted, 100, "10 per second over a 10 s window");
}

#[test]
fn requests_and_retries_leave_the_window_after_ten_seconds() {
    let start = Instant::now();
    let budget = RetryBudget::new(start);
    for _ in 0..100 {
        budget.record_request(start);
    }
    assert_eq!(
        (0..50)
            .filter(|_| budget.try_acquire(start, 0.2, 0))
            .count(),
        20
    );
    let later = start + Duration::from_secs(5);
    for _ in 0..50 {
        budget.record_request(later);
    }
    assert_eq!(
        (0..50)
            .filter(|_| budget.try_acquire(later, 0.2, 0))
            .count(),
        10
    );
    // The first second's requests and retries have expired; the 50 later ones remain.
    let much_later = start + Duration::from_millis(10_500);
    assert_eq!(
        (0..50)
            .filter(|_| budget.try_acquire(much_later, 0.2, 0))
            .count(),
        0
    );
    let gone = start + Duration::from_secs(16);
    budget.record_request(gone);
    assert!(
        !budget.try_acquire(gone, 0.2, 0),
        "1 request × 0.2 rounds down"
    );
    for _ in 0..9 {
        budget.record_request(gone);
    }
    assert!(budget.try_acquire(gone, 0.2, 0));
}
