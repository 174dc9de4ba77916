//! Properties of request inspection over arbitrary input (bounded: a few hundred cases
//! each, well under a second), plus the cases the hardening fixed.

use http::HeaderValue;
use pingora::http::RequestHeader;
use proptest::prelude::*;

use super::*;
use crate::cache::key;

fn request_with_host(host: &[u8]) -> Option<RequestHeader> {
    let value = HeaderValue::from_bytes(host).ok()?;
    let mut req = RequestHeader::build("GET", b"/", None).ok()?;
    req.insert_header(http::header::HOST, value).ok()?;
    Some(req)
}

#[test]
fn hosts_that_are_not_authorities_are_refused() {
    for bad in [
        "app.test/js",
        "user@app.test",
        "app test",
        "app.test:",
        "app.test:99999",
        "app.test:8o",
        "app.test?x",
        "app.test#x",
        "[::1",
        "[zz::1]",
        "[::1]x",
        "",
    ] {
        assert_eq!(Authority::parse(bad), None, "{bad:?}");
    }
    for good in [
        "app.test",
        "App.Test:8080",
        "127.0.0.1:1",
        "[::1]:443",
        "[::1]",
        "a_b~c",
    ] {
        assert!(Authority::parse(good).is_some(), "{good:?}");
    }
}

#[test]
fn a_repeated_host_is_refused() {
    let mut req = RequestHeader::build("GET", b"/", None).expect("request");
    req.append_header("host", "a.test").expect("host");
    req.append_header("host", "b.test").expect("host");
    assert!(authority(&req).is_err());
}

#[test]
fn the_host_path_collision_cannot_be_built() {
    let slashed = request_with_host(b"app.test/js").expect("request");
    assert!(authority(&slashed).is_err());
    let plain = Authority::parse("app.test").expect("authority");
    assert_eq!(
        key::primary("http", plain.as_str(), "/js/app.js"),
        "http://app.test/js/app.js"
    );
}

#[test]
fn admission_refuses_a_bad_host_then_oversized_heads_and_declared_bodies() {
    let limits = crate::config::Limits {
        max_request_header_bytes: 200,
        max_request_body_bytes: 10,
        ..crate::config::Limits::default()
    };
    let ok = request_with_host(b"App.Test").expect("request");
    assert_eq!(
        admit(&ok, &limits).expect("admitted"),
        Authority::parse("app.test")
    );

    let bad = request_with_host(b"app.test/js").expect("request");
    let refusal = admit(&bad, &limits).expect_err("bad host");
    assert_eq!(refusal.status, 400);
    assert_eq!(refusal.message, "the Host is not a valid authority");

    let mut big = request_with_host(b"app.test").expect("request");
    big.insert_header("x-padding", "p".repeat(200))
        .expect("header");
    assert_eq!(admit(&big, &limits).expect_err("big head").status, 431);

    let mut body = request_with_host(b"app.test").expect("request");
    body.insert_header("content-length", "11").expect("header");
    assert_eq!(admit(&body, &limits).expect_err("big body").status, 413);
    body.insert_header("content-length", "10").expect("header");
    assert!(admit(&body, &limits).is_ok(), "at the limit is within it");
}

fn valid_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9][a-zA-Z0-9._~-]{0,30}",
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "[0-9a-f]{1,4}(:[0-9a-f]{0,4}){1,7}".prop_map(|v6| format!("[{v6}]")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes, parsing never panics, and what it accepts is safe to put in a
    /// URL: lowercase, with none of the characters that end or split an authority.
    #[test]
    fn accepted_authorities_hold_no_separators(text in "\\PC{0,40}") {
        if let Some(authority) = Authority::parse(&text) {
            let s = authority.as_str();
            prop_assert!(!s.chars().any(|c| matches!(c, '/' | '?' | '#' | '@' | '\\') || c.is_whitespace()));
            prop_assert_eq!(s, text.to_ascii_lowercase());
        }
    }

    /// Real hosts with any valid port are accepted.
    #[test]
    fn valid_authorities_are_accepted(host in valid_host(), port in proptest::option::of(0u32..=65_535)) {
        let text = match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        prop_assert!(Authority::parse(&text).is_some(), "{}", text);
    }

    /// Two requests share a cache key only if they have the same authority and target.
    #[test]
    fn cache_keys_are_unambiguous(
        a in "\\PC{0,12}", pa in "/[a-z/.?=&]{0,12}",
        b in "\\PC{0,12}", pb in "/[a-z/.?=&]{0,12}",
    ) {
        if let (Some(a), Some(b)) = (Authority::parse(&a), Authority::parse(&b)) {
            let ka = key::primary("http", a.as_str(), &pa);
            let kb = key::primary("http", b.as_str(), &pb);
            prop_assert_eq!(ka == kb, a == b && pa == pb);
        }
    }

    /// Any Host header bytes: `authority` answers without panicking, and agrees with
    /// `Authority::parse`.
    #[test]
    fn host_headers_of_any_bytes(host in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Some(req) = request_with_host(&host) {
            let parsed = std::str::from_utf8(&host).ok().and_then(Authority::parse);
            match authority(&req) {
                Ok(found) => prop_assert_eq!(found, parsed),
                Err(()) => prop_assert!(parsed.is_none()),
            }
        }
    }

    /// The body, size and stream checks take any header values without panicking, and
    /// the size counts at least every header byte.
    #[test]
    fn inspection_takes_any_headers(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..6),
    ) {
        let mut req = RequestHeader::build("POST", b"/upload", None).expect("request");
        let names = ["content-length", "transfer-encoding", "accept", "x-a", "x-b", "cookie"];
        let mut bytes = 0;
        for (name, value) in names.iter().zip(&values) {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                bytes += name.len() + value.len();
                req.append_header(*name, value).expect("header");
            }
        }
        let _ = has_body(&req);
        let _ = wants_event_stream(&req);
        prop_assert!(header_bytes(&req) >= bytes);
    }
}
