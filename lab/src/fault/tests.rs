use std::time::Duration;

use super::{Action, Fault, parse_duration};

#[test]
fn durations_need_a_unit() {
    assert_eq!(parse_duration("10s").ok(), Some(Duration::from_secs(10)));
    assert_eq!(
        parse_duration("2.5s").ok(),
        Some(Duration::from_millis(2500))
    );
    assert_eq!(
        parse_duration("500ms").ok(),
        Some(Duration::from_millis(500))
    );
    assert!(parse_duration("10").is_err());
    assert!(parse_duration("-1s").is_err());
}

#[test]
fn signal_faults_name_their_pid() {
    let fault = Fault::parse("at=10s kill pid=1234").expect("parses");
    assert_eq!(fault.at, Duration::from_secs(10));
    assert_eq!(fault.label, "kill pid=1234");
    assert!(
        matches!(fault.action, Action::Signal(nix::sys::signal::Signal::SIGKILL, pid) if pid.as_raw() == 1234)
    );
    for bad in [
        "at=1s kill",
        "at=1s kill pid=x",
        "at=1s nap pid=1",
        "kill pid=1",
        "at=1s kill pid=0",
    ] {
        assert!(Fault::parse(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn exec_takes_the_rest_of_the_line() {
    let fault = Fault::parse(r#"at=5s exec="./rolling.sh --fast""#).expect("parses");
    assert!(matches!(&fault.action, Action::Exec(command) if command == "./rolling.sh --fast"));
    assert!(Fault::parse("at=5s exec=").is_err());
}

#[test]
fn a_fault_after_the_end_is_refused() {
    let fault = Fault::parse("at=10s exec=true").expect("parses");
    let error = fault
        .check(Duration::from_secs(5))
        .expect_err("past the end");
    assert!(
        error.to_string().contains("past the run's duration"),
        "{error}"
    );
    assert!(fault.check(Duration::from_secs(10)).is_ok());
}
