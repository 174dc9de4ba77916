use std::time::{Duration, UNIX_EPOCH};

use super::{LogFormat, civil, clean_prefix, escape, is_special, render};

fn line(format: LogFormat, seconds: u64, micros: u32) -> String {
    let mut buffer = Vec::new();
    let now = UNIX_EPOCH + Duration::new(seconds, micros * 1000);
    render(&mut buffer, format, now, "proxy::access", |line| {
        line.str("method", "GET")
            .str("path", "/a\"b\\c\nd\u{1}")
            .u64("status", 200)
            .millis("duration_ms", Duration::from_micros(12_034))
            .display("backend", &"127.0.0.1:3001");
    });
    String::from_utf8(buffer).expect("utf-8")
}

#[test]
fn a_human_line_has_the_subscribers_shape_with_every_string_escaped() {
    assert_eq!(
        line(LogFormat::Human, 1_764_660_601, 42),
        "2025-12-02T07:30:01.000042Z  INFO proxy::access: method=\"GET\" \
         path=\"/a\\\"b\\\\c\\nd\\x01\" status=200 duration_ms=12.034 \
         backend=\"127.0.0.1:3001\"\n"
    );
}

#[test]
fn a_json_line_parses_with_every_field_in_it() {
    let text = line(LogFormat::Json, 1_764_660_601, 999_999);
    assert!(text.ends_with("}\n"), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(value["timestamp"], "2025-12-02T07:30:01.999999Z");
    assert_eq!(value["level"], "INFO");
    assert_eq!(value["target"], "proxy::access");
    assert_eq!(value["method"], "GET");
    assert_eq!(value["path"], "/a\"b\\c\nd\u{1}");
    assert_eq!(value["status"], 200);
    assert_eq!(value["duration_ms"], 12.034);
    assert_eq!(value["backend"], "127.0.0.1:3001");
}

#[test]
fn dates_are_the_proleptic_gregorian_calendar() {
    let cases = [
        (0, "1970-01-01T00:00:00"),
        (951_782_400, "2000-02-29T00:00:00"),
        (4_107_542_399, "2100-02-28T23:59:59"),
        (4_107_542_400, "2100-03-01T00:00:00"),
        (1_798_761_599, "2026-12-31T23:59:59"),
    ];
    for (seconds, want) in cases {
        assert_eq!(std::str::from_utf8(&civil(seconds)).expect("ASCII"), want);
    }
}

#[test]
fn the_clean_prefix_never_passes_a_byte_that_needs_escaping() {
    // Every byte value in every lane of a word, after clean words and clean bytes.
    for len in [1, 7, 13, 32] {
        for byte in 0..=u8::MAX {
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = byte;
                let clean = clean_prefix(&bytes);
                assert!(
                    clean % 8 == 0 || clean == len,
                    "length {len}: prefix {clean}"
                );
                if is_special(byte) {
                    assert!(
                        clean <= at,
                        "byte {byte:#x} at {at} of {len}: prefix {clean}"
                    );
                } else {
                    assert_eq!(clean, len, "byte {byte:#x} at {at} of {len} is clean");
                }
            }
        }
    }
}

#[test]
fn escaping_is_the_same_whether_a_special_byte_falls_in_the_clean_prefix_or_after_it() {
    for at in 0..20 {
        let mut text = "x".repeat(20);
        text.replace_range(at..=at, "\"");
        let mut buffer = Vec::new();
        escape(&mut buffer, LogFormat::Human, &text);
        let expected = format!("{}\\\"{}", "x".repeat(at), "x".repeat(19 - at));
        assert_eq!(
            String::from_utf8(buffer).expect("utf-8"),
            expected,
            "quote at {at}"
        );
    }
}
