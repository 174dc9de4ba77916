//! Row-indexed bookkeeping shared by the statistics that relate columns: which rows a
//! column is missing, and a uniform sample of rows.

/// A set of data rows (0-based), one bit per row: where a column's cells are missing.
/// A row costs an eighth of a byte whatever the column holds.
#[derive(Debug, Default)]
pub(super) struct RowSet {
    words: Vec<u64>,
}

impl RowSet {
    pub(super) fn insert(&mut self, row: u64) {
        let word = (row / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (row % 64);
    }

    pub(super) fn contains(&self, row: u64) -> bool {
        self.words
            .get((row / 64) as usize)
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }

    /// Members in `start..end`.
    pub(super) fn count_in(&self, start: u64, end: u64) -> u64 {
        let mut count = 0;
        let mut row = start;
        while row < end {
            let (word, bit) = ((row / 64) as usize, row % 64);
            let Some(&bits) = self.words.get(word) else {
                break;
            };
            let span = (64 - bit).min(end - row);
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1 << span) - 1) << bit
            };
            count += u64::from((bits & mask).count_ones());
            row += span;
        }
        count
    }
}

/// A uniform random sample of up to `size` rows (Vitter's algorithm R), from a fixed seed
/// so the same file always gives the same sample.
#[derive(Debug)]
pub(super) struct Reservoir {
    size: usize,
    rows: Vec<u64>,
    rng: SplitMix,
}

/// The sample's seed: any constant does; this one is the golden ratio's bits.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

impl Reservoir {
    pub(super) fn new(size: usize) -> Self {
        Self {
            size,
            rows: Vec::with_capacity(size.min(4096)),
            rng: SplitMix(SEED),
        }
    }

    /// Offers row `row`, the `row + 1`-th seen.
    pub(super) fn offer(&mut self, row: u64) {
        if self.rows.len() < self.size {
            self.rows.push(row);
            return;
        }
        // Keep it with probability size / (row + 1), in place of a uniform choice.
        let slot = ((u128::from(self.rng.next()) * u128::from(row + 1)) >> 64) as usize;
        if let Some(kept) = self.rows.get_mut(slot) {
            *kept = row;
        }
    }

    /// The sampled rows, ascending.
    pub(super) fn into_rows(mut self) -> Vec<u64> {
        self.rows.sort_unstable();
        self.rows
    }
}

/// SplitMix64: a tiny, well-mixed generator for the sample.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
