//! Antialiased bicubic resize of RGB8 images, bit-exact with PIL's `Image.resize(BICUBIC)`, which
//! is the reference's preprocessing (spec 2.1, 15.2).
//!
//! Why our own: general-purpose resizers (fast_image_resize's Catmull-Rom, image's CatmullRom)
//! use other support, rounding and pass orders and differ from PIL by up to 4 levels on the
//! reference image, which shifts labels. The algorithm below is PIL's published one: separable
//! convolution with a cubic kernel (a = -0.5) stretched by the downscale factor, weights
//! normalised per output pixel and quantised to 22-bit fixed point, horizontal pass first into
//! an 8-bit intermediate, then vertical.

/// Fixed-point precision of the weights (PIL: 32 - 8 - 2 bits).
const PRECISION_BITS: u32 = 32 - 8 - 2;
const CUBIC_A: f64 = -0.5;
const CUBIC_SUPPORT: f64 = 2.0;

fn cubic(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * CUBIC_A
    } else {
        0.0
    }
}

/// For each output index along one axis: the first input index and the fixed-point weights.
#[derive(Default)]
struct AxisWeights {
    first: Vec<usize>,
    count: Vec<usize>,
    /// `taps` weights per output index (unused tail entries are zero).
    weights: Vec<i32>,
    taps: usize,
}

impl AxisWeights {
    fn build(&mut self, input: usize, output: usize) {
        let scale = input as f64 / output as f64;
        let filter_scale = scale.max(1.0);
        let support = CUBIC_SUPPORT * filter_scale;
        self.taps = support.ceil() as usize * 2 + 1;
        self.first.clear();
        self.count.clear();
        self.weights.clear();
        self.weights.resize(output * self.taps, 0);
        let mut row = vec![0f64; self.taps];
        for out in 0..output {
            let center = (out as f64 + 0.5) * scale;
            // PIL truncates toward zero here (C int casts).
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let n = hi - lo;
            let mut total = 0.0;
            let inv_scale = 1.0 / filter_scale;
            for (i, w) in row.iter_mut().enumerate().take(n) {
                *w = cubic((i as f64 + lo as f64 - center + 0.5) * inv_scale);
                total += *w;
            }
            let unit = (1u32 << PRECISION_BITS) as f64;
            for (i, &w) in row.iter().enumerate().take(n) {
                let w = if total != 0.0 { w / total } else { w };
                let fixed = if w < 0.0 { -0.5 + w * unit } else { 0.5 + w * unit };
                self.weights[out * self.taps + i] = fixed as i32;
            }
            self.first.push(lo);
            self.count.push(n);
        }
    }

    fn tap(&self, out: usize) -> (usize, &[i32]) {
        let n = self.count[out];
        (self.first[out], &self.weights[out * self.taps..out * self.taps + n])
    }
}

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Reusable weights and intermediate image.
#[derive(Default)]
pub struct BicubicResizer {
    columns: AxisWeights,
    rows: AxisWeights,
    horizontal: Vec<u8>,
}

impl BicubicResizer {
    /// Resizes packed RGB8 `src` (`w x h`) into packed RGB8 `dst` (`dw x dh`).
    pub fn resize_rgb(&mut self, src: &[u8], w: usize, h: usize, dst: &mut Vec<u8>, dw: usize, dh: usize) {
        assert_eq!(src.len(), w * h * 3);
        dst.clear();
        dst.resize(dw * dh * 3, 0);
        let round = 1i32 << (PRECISION_BITS - 1);
        // Horizontal pass (skipped when the width is unchanged), into `horizontal` (dw x h).
        let horizontal: &[u8] = if dw != w {
            self.columns.build(w, dw);
            self.horizontal.clear();
            self.horizontal.resize(dw * h * 3, 0);
            for y in 0..h {
                let in_row = &src[y * w * 3..(y + 1) * w * 3];
                let out_row = &mut self.horizontal[y * dw * 3..(y + 1) * dw * 3];
                for x in 0..dw {
                    let (first, weights) = self.columns.tap(x);
                    let mut acc = [round; 3];
                    for (i, &k) in weights.iter().enumerate() {
                        let px = &in_row[(first + i) * 3..(first + i) * 3 + 3];
                        for c in 0..3 {
                            acc[c] += px[c] as i32 * k;
                        }
                    }
                    for c in 0..3 {
                        out_row[x * 3 + c] = clip8(acc[c]);
                    }
                }
            }
            &self.horizontal
        } else {
            src
        };
        if dh == h {
            dst.copy_from_slice(horizontal);
            return;
        }
        // Vertical pass.
        self.rows.build(h, dh);
        let stride = dw * 3;
        for y in 0..dh {
            let (first, weights) = self.rows.tap(y);
            let out_row = &mut dst[y * stride..(y + 1) * stride];
            for (x, out) in out_row.iter_mut().enumerate() {
                let mut acc = round;
                for (i, &k) in weights.iter().enumerate() {
                    acc += horizontal[(first + i) * stride + x] as i32 * k;
                }
                *out = clip8(acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        let mut axis = AxisWeights::default();
        for (input, output) in [(512, 256), (600, 256), (100, 512), (7, 3)] {
            axis.build(input, output);
            for out in 0..output {
                let (_, w) = axis.tap(out);
                let total: i64 = w.iter().map(|&k| k as i64).sum();
                assert!(
                    (total - (1 << PRECISION_BITS)).abs() <= w.len() as i64,
                    "{input}->{output} at {out}"
                );
            }
        }
    }

    #[test]
    fn flat_images_stay_flat() {
        let src = vec![77u8; 40 * 30 * 3];
        let mut dst = Vec::new();
        BicubicResizer::default().resize_rgb(&src, 40, 30, &mut dst, 16, 64);
        assert!(dst.iter().all(|&v| v == 77));
    }
}
