use pingora::http::ResponseHeader;

use super::{code_name, message_for, stamp_with};
use crate::cache::CacheStatus;

fn values(header: &ResponseHeader, name: &str) -> Vec<String> {
    header
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("text").to_owned())
        .collect()
}

#[test]
fn every_response_gets_the_request_id_and_one_via() {
    let mut fresh = ResponseHeader::build(502, None).expect("header");
    stamp_with(&mut fresh, "req-1", None, None).expect("stamp");
    assert_eq!(values(&fresh, "x-request-id"), ["req-1"]);
    assert_eq!(values(&fresh, "via"), ["1.1 flotilla"]);
    assert!(values(&fresh, "x-cache").is_empty(), "no cache, no X-Cache");

    let mut stored = ResponseHeader::build(200, None).expect("header");
    stored.insert_header("via", "1.1 origin").expect("via");
    stored.insert_header("x-request-id", "req-0").expect("id");
    stored
        .insert_header("keep-alive", "timeout=5")
        .expect("keep-alive");
    stamp_with(&mut stored, "req-2", Some(CacheStatus::Hit), None).expect("stamp");
    assert_eq!(values(&stored, "x-request-id"), ["req-2"]);
    assert_eq!(values(&stored, "via"), ["1.1 origin, 1.1 flotilla"]);
    assert_eq!(values(&stored, "x-cache"), ["HIT"]);
    assert!(
        values(&stored, "keep-alive").is_empty(),
        "the backend's hop-by-hop field is not the client's"
    );
}

#[test]
fn stamping_twice_adds_no_second_via() {
    let mut header = ResponseHeader::build(200, None).expect("header");
    stamp_with(&mut header, "req-1", Some(CacheStatus::Miss), None).expect("stamp");
    stamp_with(&mut header, "req-1", Some(CacheStatus::Miss), None).expect("stamp");
    assert_eq!(values(&header, "via"), ["1.1 flotilla"]);
    assert_eq!(values(&header, "x-cache"), ["MISS"]);
}

#[test]
fn every_status_the_proxy_answers_has_its_own_code_and_message() {
    for status in [400, 404, 408, 413, 431, 502, 503, 504] {
        assert_ne!(code_name(status), "proxy_error", "{status}");
        assert_ne!(
            message_for(status),
            "the proxy could not complete the request",
            "{status}"
        );
    }
}
