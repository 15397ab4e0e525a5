//! The machine's single-thread f32 peak, measured: independent fused multiply-add chains, enough
//! of them to hide the FMA latency, on the widest vectors the CPU has. `bench --profile` sets each
//! operator class's arithmetic rate against it.

use std::time::Instant;

/// Measured single-thread f32 peak in GFLOP/s (two flops per FMA), or `None` where no vector FMA
/// path is written for this CPU.
pub fn f32_peak_gflops() -> Option<f64> {
    // Best of a few short rounds: the machine is shared, the peak is what it can do at best.
    (0..5).filter_map(|_| one_round()).reduce(f64::max)
}

#[cfg(target_arch = "x86_64")]
fn one_round() -> Option<f64> {
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was detected at run time.
        Some(unsafe { x86::avx512_round() })
    } else if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx") {
        // SAFETY: as above.
        Some(unsafe { x86::avx2_round() })
    } else {
        None
    }
}

#[cfg(target_arch = "aarch64")]
fn one_round() -> Option<f64> {
    Some(arm::neon_round())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn one_round() -> Option<f64> {
    None
}

const ITERS: usize = 2_000_000;

fn rate(flops_per_iter: usize, started: Instant) -> f64 {
    (ITERS * flops_per_iter) as f64 / started.elapsed().as_secs_f64() / 1e9
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{rate, ITERS};
    use std::arch::x86_64::*;
    use std::hint::black_box;
    use std::time::Instant;

    /// 24 chains: 2 pipes x 4 cycles of latency x 3, to spare.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_round() -> f64 {
        let mut acc = [_mm512_set1_ps(1.0); 24];
        let a = _mm512_set1_ps(black_box(0.999_9));
        let b = _mm512_set1_ps(black_box(1e-4));
        let started = Instant::now();
        for _ in 0..ITERS {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let r = rate(24 * 32, started);
        black_box(acc);
        r
    }

    /// 12 chains: the 16 ymm registers hold them and the two constants.
    #[target_feature(enable = "avx,fma")]
    pub unsafe fn avx2_round() -> f64 {
        let mut acc = [_mm256_set1_ps(1.0); 12];
        let a = _mm256_set1_ps(black_box(0.999_9));
        let b = _mm256_set1_ps(black_box(1e-4));
        let started = Instant::now();
        for _ in 0..ITERS {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let r = rate(12 * 16, started);
        black_box(acc);
        r
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{rate, ITERS};
    use std::arch::aarch64::*;
    use std::hint::black_box;
    use std::time::Instant;

    /// 24 chains of 4-lane FMAs (NEON is part of every aarch64 target).
    pub fn neon_round() -> f64 {
        // SAFETY: NEON is a baseline feature of aarch64.
        unsafe {
            let mut acc = [vdupq_n_f32(1.0); 24];
            let a = vdupq_n_f32(black_box(0.999_9));
            let b = vdupq_n_f32(black_box(1e-4));
            let started = Instant::now();
            for _ in 0..ITERS {
                for x in acc.iter_mut() {
                    *x = vfmaq_f32(b, *x, a);
                }
            }
            let r = rate(24 * 8, started);
            black_box(acc);
            r
        }
    }
}
