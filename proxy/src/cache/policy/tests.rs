use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).expect("valid header"));
    }
    map
}

fn storable(req: &[(&'static str, &str)], resp: &[(&'static str, &str)]) -> Option<&'static str> {
    let resp = headers(resp);
    let d = Directives::parse(&resp);
    not_storable(&Method::GET, &headers(req), StatusCode::OK, &resp, &d)
}

#[test]
fn directives_parse_case_and_arguments() {
    let d = Directives::parse(&headers(&[
        ("cache-control", "Public, MAX-AGE=60, s-maxage=\"30\""),
        ("cache-control", "stale-if-error=5, max-stale"),
    ]));
    assert!(d.public);
    assert_eq!(d.max_age, Some(60));
    assert_eq!(d.s_maxage, Some(30));
    assert_eq!(d.stale_if_error, Some(5));
    assert_eq!(d.max_stale, Some(u64::MAX));
}

#[test]
fn only_shared_safe_responses_are_storable() {
    assert_eq!(storable(&[], &[("cache-control", "max-age=60")]), None);
    assert_eq!(
        storable(&[], &[("cache-control", "no-store")]),
        Some("no-store")
    );
    assert_eq!(
        storable(&[], &[("cache-control", "private, max-age=60")]),
        Some("private")
    );
    assert_eq!(
        storable(
            &[],
            &[("cache-control", "max-age=60"), ("set-cookie", "a=b")]
        ),
        Some("set-cookie")
    );
    assert_eq!(storable(&[], &[("vary", "*")]), Some("vary-star"));
    let auth = [("authorization", "Bearer x")];
    assert_eq!(
        storable(&auth, &[("cache-control", "max-age=60")]),
        Some("authorization")
    );
    assert_eq!(
        storable(&auth, &[("cache-control", "public, max-age=60")]),
        None
    );
    assert_eq!(storable(&auth, &[("cache-control", "s-maxage=60")]), None);
    assert_eq!(
        storable(&auth, &[("cache-control", "must-revalidate, max-age=9")]),
        None
    );
    let resp = headers(&[("cache-control", "max-age=60")]);
    let d = Directives::parse(&resp);
    assert_eq!(
        not_storable(&Method::POST, &HeaderMap::new(), StatusCode::OK, &resp, &d),
        Some("method")
    );
    assert_eq!(
        not_storable(
            &Method::GET,
            &HeaderMap::new(),
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            &Directives::default()
        ),
        Some("status")
    );
}

#[test]
fn any_final_status_with_explicit_freshness_is_storable() {
    let by_status = |status: u16, pairs: &[(&'static str, &str)]| {
        let h = headers(pairs);
        let d = Directives::parse(&h);
        let status = StatusCode::from_u16(status).expect("status");
        not_storable(&Method::GET, &HeaderMap::new(), status, &h, &d)
    };
    let max_age = [("cache-control", "max-age=60")];
    let expires = [
        ("date", "Sat, 28 Nov 2026 12:00:00 GMT"),
        ("expires", "Sat, 28 Nov 2026 12:01:00 GMT"),
    ];
    for status in [302, 303, 307, 400, 403, 500, 502, 503, 504, 599] {
        assert_eq!(by_status(status, &max_age), None, "{status} with max-age");
        assert_eq!(by_status(status, &[("cache-control", "s-maxage=9")]), None);
        assert_eq!(by_status(status, &expires), None, "{status} with Expires");
        assert_eq!(by_status(status, &[]), Some("status"), "{status} alone");
    }
    assert_eq!(by_status(200, &[]), None, "heuristically cacheable");
    for status in [206, 304, 101] {
        assert_eq!(by_status(status, &max_age), Some("status"), "{status}");
    }
}

#[test]
fn freshness_prefers_s_maxage_then_max_age_then_expires() {
    let lifetime = |pairs: &[(&'static str, &str)], heuristic| {
        let h = headers(pairs);
        freshness_lifetime(&h, &Directives::parse(&h), heuristic)
    };
    let date = "Sat, 28 Nov 2026 12:00:00 GMT";
    let expires = "Sat, 28 Nov 2026 12:01:40 GMT";
    let both = [
        ("cache-control", "max-age=10, s-maxage=20"),
        ("date", date),
        ("expires", expires),
    ];
    assert_eq!(lifetime(&both, false), Duration::from_secs(20));
    let max_age = [
        ("cache-control", "max-age=10"),
        ("date", date),
        ("expires", expires),
    ];
    assert_eq!(lifetime(&max_age, false), Duration::from_secs(10));
    assert_eq!(
        lifetime(&[("date", date), ("expires", expires)], false),
        Duration::from_secs(100)
    );
    assert_eq!(
        lifetime(&[("date", date), ("expires", "0")], false),
        Duration::ZERO
    );
    let modified = [
        ("date", date),
        ("last-modified", "Sat, 28 Nov 2026 09:13:20 GMT"),
    ];
    assert_eq!(
        lifetime(&modified, false),
        Duration::ZERO,
        "no heuristic unless configured"
    );
    assert_eq!(lifetime(&modified, true), Duration::from_secs(1000));
}

#[test]
fn request_directives_narrow_or_widen_what_is_acceptable() {
    let none = Directives::default();
    let secs = Duration::from_secs;
    assert!(acceptable(secs(5), secs(10), &none));
    assert!(!acceptable(secs(15), secs(10), &none));
    let parse = |v: &str| Directives::parse(&headers(&[("cache-control", v)]));
    assert!(!acceptable(secs(5), secs(10), &parse("no-cache")));
    assert!(!acceptable(secs(5), secs(10), &parse("max-age=0")));
    assert!(!acceptable(secs(5), secs(10), &parse("max-age=3")));
    assert!(!acceptable(secs(5), secs(10), &parse("min-fresh=6")));
    assert!(acceptable(secs(5), secs(10), &parse("min-fresh=4")));
    assert!(acceptable(secs(15), secs(10), &parse("max-stale=5")));
    assert!(!acceptable(secs(16), secs(10), &parse("max-stale=5")));
    assert!(acceptable(secs(1000), secs(10), &parse("max-stale")));
}

#[test]
fn conditionals_match_etags_and_dates() {
    let stored = headers(&[
        ("etag", "\"v1\""),
        ("last-modified", "Sat, 28 Nov 2026 12:00:00 GMT"),
    ]);
    assert!(not_modified(
        &headers(&[("if-none-match", "\"v0\", W/\"v1\"")]),
        &stored
    ));
    assert!(!not_modified(
        &headers(&[("if-none-match", "\"v2\"")]),
        &stored
    ));
    assert!(not_modified(
        &headers(&[("if-modified-since", "Sat, 28 Nov 2026 12:00:00 GMT")]),
        &stored
    ));
    assert!(!not_modified(
        &headers(&[("if-modified-since", "Sat, 28 Nov 2026 11:00:00 GMT")]),
        &stored
    ));
}

#[test]
fn vary_names_are_normalised_and_star_refuses() {
    let vary = headers(&[
        ("vary", "Accept-Encoding, accept-language"),
        ("vary", "Accept-Encoding"),
    ]);
    assert_eq!(
        vary_names(&vary),
        Some(vec![
            "accept-encoding".to_owned(),
            "accept-language".to_owned()
        ])
    );
    assert_eq!(vary_names(&headers(&[("vary", "accept, *")])), None);
}

#[test]
fn a_targeted_field_replaces_cache_control_for_this_cache() {
    let target = http::HeaderName::from_static("flotilla-cache-control");
    let of = |pairs: &[(&'static str, &str)]| {
        let h = headers(pairs);
        let d = Directives::of_response(&h, &target);
        (
            not_storable(&Method::GET, &HeaderMap::new(), StatusCode::OK, &h, &d),
            d,
        )
    };
    let (refused, _) = of(&[
        ("cache-control", "max-age=60"),
        ("cdn-cache-control", "no-store"),
    ]);
    assert_eq!(refused, Some("no-store"));
    let (refused, d) = of(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=60"),
    ]);
    assert_eq!((refused, d.max_age), (None, Some(60)));
    let (refused, _) = of(&[
        ("cache-control", "max-age=60"),
        ("cdn-cache-control", "private"),
    ]);
    assert_eq!(refused, Some("private"));
    let (_, d) = of(&[
        ("cache-control", "max-age=60"),
        ("cdn-cache-control", "no-cache"),
    ]);
    assert!(d.no_cache);
    let (refused, d) = of(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "no-store"),
        ("flotilla-cache-control", "max-age=5"),
    ]);
    assert_eq!(
        (refused, d.max_age),
        (None, Some(5)),
        "our own target comes first"
    );
    let (_, d) = of(&[("cache-control", "max-age=60")]);
    assert_eq!(
        d.max_age,
        Some(60),
        "without a targeted field, Cache-Control"
    );
}

#[test]
fn all_three_http_date_forms_are_read_whatever_the_case() {
    let lifetime = |expires: &str| {
        let h = headers(&[
            ("date", "Sat, 28 Nov 2026 12:00:00 GMT"),
            ("expires", expires),
        ]);
        freshness_lifetime(&h, &Directives::parse(&h), false)
    };
    let hundred = Duration::from_secs(100);
    for expires in [
        "Sat, 28 Nov 2026 12:01:40 GMT",
        "Saturday, 28-Nov-26 12:01:40 GMT",
        "Sat Nov 28 12:01:40 2026",
        "Sat Nov  8 12:01:40 2026",
        "sat, 28 nov 2026 12:01:40 gmt",
        "SAT, 28 NOV 2026 12:01:40 GMT",
        "SATURDAY, 28-NOV-26 12:01:40 GMT",
        "sat nov 28 12:01:40 2026",
    ] {
        let expected = if expires.contains(" 8 ") {
            Duration::ZERO
        } else {
            hundred
        };
        assert_eq!(lifetime(expires), expected, "Expires: {expires}");
    }
    let dated = headers(&[("date", "saturday, 28-nov-26 12:00:00 GMT")]);
    assert!(http_date(&dated, http::header::DATE).is_some());
    for invalid in ["0", "-1", "tomorrow", "Sat, 31 Nov 2026 12:01:40 GMT", ""] {
        assert_eq!(
            lifetime(invalid),
            Duration::ZERO,
            "{invalid:?} is already expired"
        );
    }
}

#[test]
fn max_age_accepts_the_quoted_form_but_not_spaces_around_the_equals_sign() {
    let max_age = |value: &str| Directives::parse(&headers(&[("cache-control", value)])).max_age;
    assert_eq!(max_age("max-age=3600"), Some(3600));
    assert_eq!(max_age("max-age=\"3600\""), Some(3600), "RFC 9111 §5.2");
    assert_eq!(max_age("  max-age=3600  , public"), Some(3600));
    for invalid in [
        "max-age = 3600",
        "max-age =3600",
        "max-age= 3600",
        "max-age=\"3600",
    ] {
        assert_eq!(
            max_age(invalid),
            None,
            "{invalid:?} is not a max-age directive"
        );
    }
    let spaced = headers(&[("cache-control", "max-age = 3600")]);
    assert_eq!(
        freshness_lifetime(&spaced, &Directives::parse(&spaced), false),
        Duration::ZERO,
        "so the response has no explicit lifetime"
    );
}

#[test]
fn qualified_no_cache_and_private_name_fields_instead_of_refusing() {
    assert_eq!(
        storable(
            &[],
            &[
                ("cache-control", "no-cache=\"Set-Cookie\", max-age=60"),
                ("set-cookie", "a=b")
            ]
        ),
        None
    );
    assert_eq!(
        storable(
            &[],
            &[
                ("cache-control", "private=\"x-user\", max-age=60"),
                ("x-user", "a")
            ]
        ),
        None
    );
    let d = Directives::parse(&headers(&[(
        "cache-control",
        "no-cache=\"Set-Cookie, X-Token\", max-age=60",
    )]));
    assert!(!d.no_cache);
    assert_eq!(d.no_cache_fields, ["set-cookie", "x-token"]);
}
