//! Sorting a column's values in the order of `f64::total_cmp`, by radix.
//!
//! A least-significant-digit radix sort over the bits of each value, remapped so that
//! unsigned order is `total_cmp` order, does eight linear passes and skips every byte
//! position where all values agree (the high bytes of small integers, for one). Values
//! with equal keys are bitwise equal, so the result is exactly what
//! `sort_unstable_by(f64::total_cmp)` gives.

/// Below this, a comparison sort is faster than eight counting passes.
const RADIX_MIN: usize = 2048;

/// Sorts `values` ascending by `f64::total_cmp`.
pub(super) fn sort(values: &mut Vec<f64>) {
    if values.len() < RADIX_MIN {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    if values.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        return;
    }
    let mut keys: Vec<u64> = std::mem::take(values).into_iter().map(key).collect();
    radix(&mut keys);
    *values = keys.into_iter().map(value).collect();
}

/// The bits of `value`, remapped so that unsigned order is `total_cmp` order.
fn key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn value(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

fn radix(keys: &mut Vec<u64>) {
    let mut counts = [[0usize; 256]; 8];
    for &key in keys.iter() {
        for (byte, count) in counts.iter_mut().enumerate() {
            count[((key >> (byte * 8)) & 0xFF) as usize] += 1;
        }
    }
    let mut scratch = vec![0u64; keys.len()];
    for (byte, count) in counts.iter().enumerate() {
        // Every key has the same byte here: this pass would not move anything.
        if count.contains(&keys.len()) {
            continue;
        }
        let mut offsets = [0usize; 256];
        let mut total = 0;
        for (offset, &n) in offsets.iter_mut().zip(count) {
            *offset = total;
            total += n;
        }
        for &key in keys.iter() {
            let digit = ((key >> (byte * 8)) & 0xFF) as usize;
            scratch[offsets[digit]] = key;
            offsets[digit] += 1;
        }
        std::mem::swap(keys, &mut scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_order_is_total_cmp_order() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut values: Vec<f64> = (0..10_000)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match i % 7 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => (state % 1000) as f64,
                    3 => -((state % 1000) as f64),
                    4 => f64::from_bits(state) % 1e300,
                    5 => f64::MIN_POSITIVE / 4.0,
                    _ => (state as f64) * 1e-10 - 1e9,
                }
            })
            .filter(|value: &f64| value.is_finite())
            .collect();
        let mut expected = values.clone();
        expected.sort_unstable_by(f64::total_cmp);
        sort(&mut values);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&expected));
    }
}
