//! SplitMix64: a tiny seeded generator for the crate's own deterministic randomness (seeded test
//! weights, the training loop's shuffling and augmentation), so results are a function of their
//! seeds alone.

pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    #[cfg_attr(not(feature = "training"), allow(dead_code))] // the training loop's only
    pub fn new(seed: u64) -> Self {
        Self::from_state(seed ^ 0xD1B5_4A32_D192_ED03)
    }

    /// Starts from a raw state (no seed scrambling).
    pub fn from_state(state: u64) -> Self {
        SplitMix64(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    #[cfg_attr(not(feature = "training"), allow(dead_code))] // the training loop's only
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
