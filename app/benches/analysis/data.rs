//! The bench's file: the shape the analysis engine is measured on, generated the same way
//! every run.

/// Rows in the generated file (about 50 MB).
pub(crate) const ROWS: u64 = 900_000;
/// Distinct labels in the text column.
const LABELS: u64 = 500;

/// A small deterministic generator (xorshift64*), so every run benches the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `rows` rows of six columns: an integer id, a price with two decimals, one of 500
/// labels, a boolean, an ISO timestamp within a year, and an integer quantity whose cell
/// is empty in 5 % of the rows.
pub(crate) fn generate(rows: u64) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut csv = String::with_capacity(rows as usize * 60 + 64);
    csv.push_str("id,price,label,active,at,quantity\n");
    let start = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    for id in 0..rows {
        let r = rng.next();
        let cents = r % 10_000_000;
        let at = start + chrono::Duration::seconds((r >> 24) as i64 % 31_536_000);
        let quantity = (r >> 40) % 100_000;
        let _ = write!(
            csv,
            "{id},{}.{:02},label_{:03},{},{},",
            cents / 100,
            cents % 100,
            (r >> 8) % LABELS,
            r >> 63 == 1,
            at.format("%Y-%m-%dT%H:%M:%SZ"),
        );
        if (r >> 16) % 20 != 0 {
            let _ = write!(csv, "{quantity}");
        }
        csv.push('\n');
    }
    csv.into_bytes()
}
