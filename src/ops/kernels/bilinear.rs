//! One axis of bilinear resampling with half-pixel centres (PyTorch `align_corners=False`, no
//! antialias), shared by the exported fusion upsampling and the logits-to-image resize.

/// The two source indices and the weight of the second, for one output index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    pub lo: usize,
    pub hi: usize,
    pub frac: f32,
}

/// `a` and `b` blended with weight `frac` on `b`. Every bilinear sample in the crate goes
/// through this one expression, so the row-streamed paths give the same bits as the per-pixel
/// definition.
#[inline]
pub fn lerp(a: f32, b: f32, frac: f32) -> f32 {
    a * (1.0 - frac) + b * frac
}

/// src = (dst + 0.5) * input / output - 0.5, clamped at 0; the upper neighbour clamped to
/// input - 1. Computed in f32 as PyTorch does.
pub fn taps(input: usize, output: usize) -> impl Iterator<Item = Tap> {
    let scale = input as f32 / output as f32;
    (0..output).map(move |dst| {
        let src = ((dst as f32 + 0.5) * scale - 0.5).max(0.0);
        let lo = (src as usize).min(input - 1);
        Tap { lo, hi: (lo + 1).min(input - 1), frac: src - lo as f32 }
    })
}

/// Taps for the output pixels `dst` of an image in which an `input`-sample axis covers the box
/// `start..start + len` (output pixel units): src = (dst + 0.5 - start) * input / len - 0.5,
/// clamped to the input. With `start = 0` and `len = output` these are exactly [`taps`].
pub fn taps_in_box(
    input: usize,
    start: f32,
    len: f32,
    dst: std::ops::Range<usize>,
) -> impl Iterator<Item = Tap> {
    let scale = input as f32 / len;
    dst.map(move |dst| {
        let src = ((dst as f32 + 0.5 - start) * scale - 0.5).max(0.0);
        let lo = (src as usize).min(input - 1);
        Tap { lo, hi: (lo + 1).min(input - 1), frac: (src - lo as f32).min(1.0) }
    })
}

/// The tap for one source coordinate `src` (source pixel units, centres at integers), clamped
/// to the `input` samples.
pub fn tap_at(src: f32, input: usize) -> Tap {
    let src = src.clamp(0.0, (input - 1) as f32);
    let lo = src as usize;
    Tap { lo, hi: (lo + 1).min(input - 1), frac: src - lo as f32 }
}

/// The (output, input) matrix of 1-D bilinear resampling with half-pixel centres, row-major:
/// row `dst` holds the weights of [`taps`]' two inputs for output `dst`, summing to one.
pub fn bilinear_matrix(input: usize, output: usize) -> Vec<f32> {
    let mut data = vec![0f32; output * input];
    for (dst, tap) in taps(input, output).enumerate() {
        data[dst * input + tap.lo] += 1.0 - tap.frac;
        data[dst * input + tap.hi] += tap.frac;
    }
    data
}
