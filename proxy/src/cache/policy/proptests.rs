//! Properties of `Cache-Control` parsing and the freshness arithmetic over arbitrary
//! header values (bounded: a few hundred cases each, well under a second).

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::*;

const FLAGS: &[&str] = &[
    "no-store",
    "no-cache",
    "private",
    "public",
    "must-revalidate",
    "proxy-revalidate",
    "only-if-cached",
];
const VALUED: &[&str] = &[
    "max-age",
    "s-maxage",
    "max-stale",
    "min-fresh",
    "stale-while-revalidate",
    "stale-if-error",
];

fn with_cache_control(values: &[String]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.append(header::CACHE_CONTROL, value);
        }
    }
    map
}

/// One directive as a server might write it: any case, spaces, quoted or not.
fn directive() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(FLAGS).prop_map(str::to_owned),
        (
            proptest::sample::select(VALUED),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(name, n, quoted)| if quoted {
                format!("{name}=\"{n}\"")
            } else {
                format!("{name}={n}")
            }),
        // No `"`: an unclosed quote runs to the end of its field, so where the fields
        // split would change what it swallows.
        "[a-zA-Z0-9= ;-]{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text at all: parsing, the lifetime, the keep time and the request check never
    /// panic (a `max-age` near `u64::MAX` once overflowed the keep time), and every
    /// delta-seconds value is capped at 2^31 as RFC 9111 §1.2.2 allows.
    #[test]
    fn any_cache_control_is_parsed_without_panicking(values in proptest::collection::vec("\\PC{0,60}", 0..4)) {
        let headers = with_cache_control(&values);
        let d = Directives::parse(&headers);
        for seconds in [d.max_age, d.s_maxage, d.min_fresh, d.stale_while_revalidate, d.stale_if_error].into_iter().flatten() {
            prop_assert!(seconds <= MAX_DELTA_SECONDS);
        }
        let lifetime = freshness_lifetime(&headers, &d, true);
        let _ = acceptable(lifetime, lifetime, &d);
        let _ = d.revalidate_when_stale();
    }

    /// Directives written any way (case, spaces, quotes, split over several fields)
    /// parse the same as their canonical form.
    #[test]
    fn spelling_does_not_change_the_meaning(parts in proptest::collection::vec(directive(), 1..6), split in any::<bool>()) {
        let canonical = Directives::parse(&with_cache_control(&[parts.join(", ")]));
        let shouted: Vec<String> = parts.iter().map(|p| format!("  {}  ", p.to_ascii_uppercase())).collect();
        let respelled = if split { shouted } else { vec![shouted.join(",")] };
        prop_assert_eq!(Directives::parse(&with_cache_control(&respelled)), canonical);
    }

    /// A stored entry's keep time is finite arithmetic whatever the lifetimes say.
    #[test]
    fn entries_with_any_lifetimes_can_be_kept(max_age in any::<u64>(), stale in any::<u64>(), age in any::<u64>()) {
        let mut header = pingora::http::ResponseHeader::build(200, None).expect("header");
        header
            .insert_header("cache-control", format!("max-age={max_age}, stale-if-error={stale}, stale-while-revalidate={stale}"))
            .expect("header");
        header.insert_header("age", age.to_string()).expect("header");
        header.insert_header("etag", "\"x\"").expect("header");
        let entry = crate::cache::Entry::new(header, bytes::Bytes::new(), &crate::cache::Rules::default());
        let _ = entry.time_to_keep();
        let _ = entry.is_fresh();
        let _ = entry.staleness();
    }
}
