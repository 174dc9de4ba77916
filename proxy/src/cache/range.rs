//! Byte ranges answered from a stored complete response (RFC 9110 §14): one range, a
//! suffix or an open-ended one becomes a 206 of the stored body; a range past its end a
//! 416; `If-Range` that no longer matches, a list of ranges or a malformed `Range` the
//! whole response (a server may always ignore `Range`).

use http::{HeaderMap, header};

/// What a `GET` with `Range` gets from a stored body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole response, as if `Range` were absent.
    Full,
    /// 206 with the bytes `first..=last`.
    Partial {
        /// The first byte sent.
        first: u64,
        /// The last byte sent (inclusive, as `Content-Range` counts).
        last: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// How the stored response of `len` bytes answers `request`'s `Range`.
pub fn answer(request: &HeaderMap, stored: &HeaderMap, len: u64) -> RangeAnswer {
    let Some(range) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeAnswer::Full;
    };
    if !if_range_holds(request, stored) {
        return RangeAnswer::Full;
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    match (first.is_empty(), number(first), number(last)) {
        (true, _, Some(0)) => RangeAnswer::Unsatisfiable,
        (true, _, Some(_)) if len == 0 => RangeAnswer::Unsatisfiable,
        (true, _, Some(suffix)) => RangeAnswer::Partial {
            first: len.saturating_sub(suffix),
            last: len - 1,
        },
        (false, Some(first), _) if first >= len => {
            if last.is_empty() || number(last).is_some_and(|last| last >= first) {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Full
            }
        }
        (false, Some(first), None) if last.is_empty() => RangeAnswer::Partial {
            first,
            last: len - 1,
        },
        (false, Some(first), Some(last)) if last >= first => RangeAnswer::Partial {
            first,
            last: last.min(len - 1),
        },
        _ => RangeAnswer::Full,
    }
}

/// `If-Range` (RFC 9110 §13.1.5): absent, or a strong entity tag equal to the stored
/// `ETag`, or a date equal to the stored `Last-Modified`; otherwise the whole response.
fn if_range_holds(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let Some(condition) = request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let condition = condition.trim();
    if condition.starts_with('"') {
        return stored
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|etag| !etag.starts_with("W/") && etag.trim() == condition);
    }
    if condition.starts_with("W/") {
        return false;
    }
    stored
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|modified| modified.trim() == condition)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("valid header"));
        }
        map
    }

    fn of(range: &str) -> RangeAnswer {
        answer(&headers(&[("range", range)]), &HeaderMap::new(), 100)
    }

    #[test]
    fn single_suffix_and_open_ranges_are_parts_of_the_stored_body() {
        assert_eq!(of("bytes=0-9"), RangeAnswer::Partial { first: 0, last: 9 });
        assert_eq!(
            of("bytes=90-200"),
            RangeAnswer::Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            of("bytes=-10"),
            RangeAnswer::Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            of("bytes=-500"),
            RangeAnswer::Partial { first: 0, last: 99 }
        );
        assert_eq!(
            of("bytes=50-"),
            RangeAnswer::Partial {
                first: 50,
                last: 99
            }
        );
        assert_eq!(of("bytes=100-"), RangeAnswer::Unsatisfiable);
        assert_eq!(of("bytes=150-160"), RangeAnswer::Unsatisfiable);
        assert_eq!(of("bytes=-0"), RangeAnswer::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-1",
            "items=0-1",
            "bytes=a-b",
            "bytes=1",
        ] {
            assert_eq!(of(ignored), RangeAnswer::Full, "{ignored}");
        }
        assert_eq!(
            answer(&HeaderMap::new(), &HeaderMap::new(), 100),
            RangeAnswer::Full
        );
    }

    #[test]
    fn if_range_must_match_a_strong_validator() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Sat, 28 Nov 2026 12:00:00 GMT"),
        ]);
        let with = |if_range: &str| {
            answer(
                &headers(&[("range", "bytes=0-0"), ("if-range", if_range)]),
                &stored,
                10,
            )
        };
        let part = RangeAnswer::Partial { first: 0, last: 0 };
        assert_eq!(with("\"v1\""), part);
        assert_eq!(with("Sat, 28 Nov 2026 12:00:00 GMT"), part);
        assert_eq!(with("\"v2\""), RangeAnswer::Full);
        assert_eq!(with("W/\"v1\""), RangeAnswer::Full);
        assert_eq!(with("Sat, 28 Nov 2026 12:00:01 GMT"), RangeAnswer::Full);
    }
}
