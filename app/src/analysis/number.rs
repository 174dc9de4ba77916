//! Fast paths for the numbers most cells hold: plain integers and plain decimals. Each
//! returns exactly what the standard library's parser would, or `None` to send the cell
//! down the general path ([`classify`](super::infer::classify)), so column types and
//! values never depend on which path a cell took.

/// Largest integer an `f64` holds exactly, and so the largest decimal mantissa the
/// division fast path may use.
const EXACT_MANTISSA: u64 = 1 << 53;

/// Powers of ten an `f64` holds exactly.
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `[+-]?[0-9]+` as an `i64`, what `str::parse::<i64>` accepts; `None` on anything else,
/// overflow included.
pub(super) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        // Accumulating downwards reaches i64::MIN, which has no positive counterpart.
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// The value a numeric column gets from a cell: an integer (`[+-]?[0-9]+`, as an `i64`)
/// or a plain decimal `[+-]?[0-9]*.[0-9]*` with at least one digit and no exponent, whose
/// digits fit an exact `f64` mantissa. Then `mantissa / 10^fraction_digits` is one
/// correctly rounded division of two exact values, so it equals the correctly rounded
/// decimal that `str::parse::<f64>` gives (Clinger's fast path).
pub(super) fn parse_number(bytes: &[u8]) -> Option<Number> {
    let (negative, body) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut point = None;
    for (at, &byte) in body.iter().enumerate() {
        let digit = byte.wrapping_sub(b'0');
        if digit <= 9 {
            if digits >= 19 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(digit);
            digits += 1;
        } else if byte == b'.' && point.is_none() {
            point = Some(at);
        } else {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    let Some(point) = point else {
        // Eighteen digits cannot overflow an i64; more go the careful way.
        if digits <= 18 {
            let magnitude = mantissa as i64;
            return Some(Number::Integer(if negative {
                -magnitude
            } else {
                magnitude
            }));
        }
        return parse_i64(bytes).map(Number::Integer);
    };
    let fraction_digits = body.len() - point - 1;
    if mantissa > EXACT_MANTISSA || fraction_digits >= POWERS.len() {
        return None;
    }
    let magnitude = mantissa as f64 / POWERS[fraction_digits];
    Some(Number::Float(if negative { -magnitude } else { magnitude }))
}

/// A numeric cell's value, as the general path classifies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    /// Fits an `i64`.
    Integer(i64),
    /// Has a decimal point.
    Float(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_the_standard_library_does() {
        for text in [
            "0",
            "-0",
            "+7",
            "-12",
            "007",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "",
            "+",
            "-",
            "1-",
            "1 ",
            "١",
        ] {
            assert_eq!(parse_i64(text.as_bytes()), text.parse().ok(), "{text:?}");
        }
    }

    #[test]
    fn decimals_parse_as_the_standard_library_does() {
        let cases = [
            "1.5",
            "-2.25",
            "+0.1",
            ".5",
            "5.",
            "-.5",
            "0.30000000000000004",
            "123456.789",
            "9007199254740993.0",
            "1234567890.1234567",
            "0.0000000000000000000001",
            "-0.0",
            "99999999999999999999.5",
        ];
        for text in cases {
            let expected: f64 = text.parse().expect("valid decimal");
            match parse_number(text.as_bytes()) {
                Some(Number::Float(value)) => {
                    assert_eq!(value.to_bits(), expected.to_bits(), "{text}");
                }
                Some(other) => panic!("{text}: {other:?}"),
                // Outside the fast path; the general parser handles it.
                None => {}
            }
        }
        for text in [
            "", ".", "-", "1.2.3", "1e5", "1,5", "inf", "0x10", "1..", "+-1",
        ] {
            assert_eq!(parse_number(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(parse_number(b"-0"), Some(Number::Integer(0)));
        assert_eq!(parse_number(b"42"), Some(Number::Integer(42)));
    }
}
