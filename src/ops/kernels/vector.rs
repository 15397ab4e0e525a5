//! Eight f32 lanes as one vector, for the kernels of segface's operators that lay a short side
//! across lanes (`attention_lanes`): the compiler does not vectorise those loops reliably by
//! itself (it kept the lanes of a dot product in scalar registers), so they are written with
//! the CPU's vector instructions here, chosen per architecture.
//!
//! - x86-64: [`Avx2`] where the CPU has AVX2 (picked at run time; the crate's baseline is
//!   SSE2), else [`Portable`].
//! - arm64: [`Neon`] (NEON is part of the baseline), two 4-lane registers.
//! - elsewhere: [`Portable`], a plain array.
//!
//! `mul_add` is fused where the CPU has a fused multiply-add (AVX2 with FMA, NEON) and two
//! roundings elsewhere, so results differ between them in the last bits.

/// Eight f32 lanes.
pub(crate) trait Vector: Copy {
    fn splat(x: f32) -> Self;
    /// `self * b + c`.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// The largest lane (for finite lanes).
    fn max_lane(self) -> f32;
    /// The sum of the lanes.
    fn sum_lanes(self) -> f32;
    fn load(from: &[f32; 8]) -> Self;
    fn store(self, to: &mut [f32; 8]);
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    /// Lane-wise maximum (for finite lanes; which NaN rule applies differs by CPU).
    fn max(self, other: Self) -> Self;
}

/// Calls `kernel::<V, N>(args)` with N = 1..=4 vectors for `lanes_needed` (1 to 32) lanes.
macro_rules! by_width {
    ($kernel:ident::<$v:ty>, $lanes_needed:expr, $args:tt) => {
        match $lanes_needed.div_ceil(8) {
            1 => $kernel::<$v, 1> $args,
            2 => $kernel::<$v, 2> $args,
            3 => $kernel::<$v, 3> $args,
            _ => $kernel::<$v, 4> $args,
        }
    };
}
pub(crate) use by_width;

/// The vector type of the baseline build for this architecture.
#[cfg(target_arch = "aarch64")]
pub(crate) type Native = Neon;
#[cfg(not(target_arch = "aarch64"))]
pub(crate) type Native = Portable;

/// Whether [`Avx2`] may be used on this CPU (AVX2 and FMA).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Plain arrays, for CPUs without a vector type here (arm64 uses it in tests only).
#[cfg(any(not(target_arch = "aarch64"), test))]
#[derive(Clone, Copy)]
pub(crate) struct Portable([f32; 8]);

#[cfg(any(not(target_arch = "aarch64"), test))]
impl Portable {
    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        Portable(std::array::from_fn(|i| f(self.0[i], other.0[i])))
    }
}

#[cfg(any(not(target_arch = "aarch64"), test))]
impl Vector for Portable {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Portable([x; 8])
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self.mul(b).add(c)
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        self.0.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))
    }
    #[inline(always)]
    fn sum_lanes(self) -> f32 {
        let [a, b, c, d, e, f, g, h] = self.0;
        ((a + e) + (c + g)) + ((b + f) + (d + h))
    }
    #[inline(always)]
    fn load(from: &[f32; 8]) -> Self {
        Portable(*from)
    }
    #[inline(always)]
    fn store(self, to: &mut [f32; 8]) {
        *to = self.0;
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.zip(other, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self.zip(other, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        self.zip(other, |a, b| a * b)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        self.zip(other, f32::max)
    }
}

/// AVX2's 256-bit vector. Only kernels compiled with `#[target_feature(enable = "avx2,fma")]`,
/// and called after [`has_avx2`], may use it: its methods are inlined into them.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2(std::arch::x86_64::__m256);

// SAFETY (every method): the intrinsics need AVX, which the CPU has whenever an `Avx2` value
// exists (see the type's documentation); loads and stores go through references to 8 floats.
#[cfg(target_arch = "x86_64")]
impl Vector for Avx2 {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_set1_ps(x) })
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        use std::arch::x86_64::*;
        unsafe {
            let m = _mm_max_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
        }
    }
    #[inline(always)]
    fn sum_lanes(self) -> f32 {
        use std::arch::x86_64::*;
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
    }
    #[inline(always)]
    fn load(from: &[f32; 8]) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_loadu_ps(from.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, to: &mut [f32; 8]) {
        unsafe { std::arch::x86_64::_mm256_storeu_ps(to.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_add_ps(self.0, other.0) })
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_sub_ps(self.0, other.0) })
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_mul_ps(self.0, other.0) })
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        Avx2(unsafe { std::arch::x86_64::_mm256_max_ps(self.0, other.0) })
    }
}

/// Two NEON registers.
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy)]
pub(crate) struct Neon(std::arch::aarch64::float32x4x2_t);

#[cfg(target_arch = "aarch64")]
impl Neon {
    #[inline(always)]
    fn zip(
        self,
        other: Self,
        f: impl Fn(
            std::arch::aarch64::float32x4_t,
            std::arch::aarch64::float32x4_t,
        ) -> std::arch::aarch64::float32x4_t,
    ) -> Self {
        Neon(std::arch::aarch64::float32x4x2_t(f(self.0 .0, other.0 .0), f(self.0 .1, other.0 .1)))
    }
}

// SAFETY (every method): NEON is part of the aarch64 baseline; loads and stores go through
// references to 8 floats.
#[cfg(target_arch = "aarch64")]
impl Vector for Neon {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        let v = unsafe { std::arch::aarch64::vdupq_n_f32(x) };
        Neon(std::arch::aarch64::float32x4x2_t(v, v))
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        use std::arch::aarch64::*;
        unsafe {
            Neon(float32x4x2_t(vfmaq_f32(c.0 .0, self.0 .0, b.0 .0), vfmaq_f32(c.0 .1, self.0 .1, b.0 .1)))
        }
    }
    #[inline(always)]
    fn max_lane(self) -> f32 {
        unsafe { std::arch::aarch64::vmaxvq_f32(std::arch::aarch64::vmaxq_f32(self.0 .0, self.0 .1)) }
    }
    #[inline(always)]
    fn sum_lanes(self) -> f32 {
        unsafe { std::arch::aarch64::vaddvq_f32(std::arch::aarch64::vaddq_f32(self.0 .0, self.0 .1)) }
    }
    #[inline(always)]
    fn load(from: &[f32; 8]) -> Self {
        Neon(unsafe { std::arch::aarch64::vld1q_f32_x2(from.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, to: &mut [f32; 8]) {
        unsafe { std::arch::aarch64::vst1q_f32_x2(to.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.zip(other, |a, b| unsafe { std::arch::aarch64::vaddq_f32(a, b) })
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self.zip(other, |a, b| unsafe { std::arch::aarch64::vsubq_f32(a, b) })
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        self.zip(other, |a, b| unsafe { std::arch::aarch64::vmulq_f32(a, b) })
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        self.zip(other, |a, b| unsafe { std::arch::aarch64::vmaxq_f32(a, b) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(v: impl Vector) -> [f32; 8] {
        let mut out = [0f32; 8];
        v.store(&mut out);
        out
    }

    fn check<V: Vector>() {
        let a: [f32; 8] = std::array::from_fn(|i| i as f32 * 1.5 - 3.0);
        let b: [f32; 8] = std::array::from_fn(|i| 2.0 - i as f32 * 0.75);
        let (x, y) = (V::load(&a), V::load(&b));
        assert_eq!(lanes(x), a);
        assert_eq!(lanes(V::splat(2.5)), [2.5; 8]);
        assert_eq!(lanes(x.add(y)), std::array::from_fn(|i| a[i] + b[i]));
        assert_eq!(lanes(x.sub(y)), std::array::from_fn(|i| a[i] - b[i]));
        assert_eq!(lanes(x.mul(y)), std::array::from_fn(|i| a[i] * b[i]));
        assert_eq!(lanes(x.max(y)), std::array::from_fn(|i| a[i].max(b[i])));
        let fused: [f32; 8] = lanes(x.mul_add(y, V::splat(0.5)));
        for i in 0..8 {
            assert!((fused[i] - (a[i] * b[i] + 0.5)).abs() <= 1e-6 * (a[i] * b[i]).abs().max(1.0));
        }
        assert_eq!(x.max_lane(), 7.5);
        assert_eq!(y.max_lane(), 2.0);
        assert_eq!(x.sum_lanes(), a.iter().sum::<f32>());
    }

    #[test]
    fn every_vector_type_computes_lane_by_lane() {
        check::<Portable>();
        check::<Native>();
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            check::<Avx2>();
        }
    }
}
