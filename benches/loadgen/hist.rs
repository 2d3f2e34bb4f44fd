//! Latency histogram for the load client: log-linear buckets (128 per power of two, so any
//! reported percentile is within 0.8% of the true value), fixed size, no allocation per sample.

/// Sub-bucket bits: 2^7 = 128 buckets per octave.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any u64 value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) * SUB as usize) + 2 * SUB as usize;

/// A histogram of nanosecond values.
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Self {
        Self { counts: vec![0; BUCKETS], total: 0, max: 0, sum: 0 }
    }

    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let shift = e - SUB_BITS;
        (shift as usize) * SUB as usize + (v >> shift) as usize
    }

    /// The middle of a bucket's value range.
    fn value(idx: usize) -> u64 {
        let idx = idx as u64;
        if idx < 2 * SUB {
            return idx;
        }
        let shift = idx / SUB - 1;
        let m = idx - shift * SUB;
        (m << shift) + ((1u64 << shift) >> 1)
    }

    /// Adds one sample.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
        self.sum += u128::from(ns);
    }

    /// The value at quantile `q` (0..=1), in ns; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let want = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    /// Mean in ns.
    pub fn mean(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.sum as f64 / self.total as f64 }
    }

    /// Largest sample in ns.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Adds every sample of `other` (the histograms of several threads, merged).
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Summary in microseconds, for the JSON line.
    pub fn summary_us(&self) -> serde_json::Value {
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        serde_json::json!({
            "n": self.total,
            "mean_us": (self.mean() / 100.0).round() / 10.0,
            "p50_us": us(self.quantile(0.50)),
            "p90_us": us(self.quantile(0.90)),
            "p99_us": us(self.quantile(0.99)),
            "p999_us": us(self.quantile(0.999)),
            "max_us": us(self.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Hist;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for v in (0..1_000_000u64).step_by(7).chain([u64::MAX / 2, u64::MAX]) {
            let i = Hist::index(v);
            assert!(i >= last, "index not monotonic at {v}");
            last = i;
            let back = Hist::value(i);
            let err = back.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 0.008, "value {v} -> bucket {i} -> {back}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Hist::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.01, "{p99}");
        assert_eq!(h.max(), 1_000_000);
    }
}
