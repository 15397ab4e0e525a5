//! Antialiased bicubic resize of RGB8 images, bit-exact with PIL's `Image.resize(BICUBIC)`, which
//! is the reference's preprocessing (spec 2.1, 15.2).
//!
//! Why our own: general-purpose resizers (fast_image_resize's Catmull-Rom, image's CatmullRom)
//! use other support, rounding and pass orders and differ from PIL by up to 4 levels on the
//! reference image, which shifts labels. The algorithm below is PIL's published one: separable
//! convolution with a cubic kernel (a = -0.5) stretched by the downscale factor, weights
//! normalised per output pixel and quantised to 22-bit fixed point, horizontal pass first into
//! an 8-bit intermediate, then vertical. Like PIL's `resize(size, box=...)`, a (fractional) box of
//! the source can be resized, and only the source rows and columns the filters touch are read:
//! pixels come from a [`RowSource`], so a camera frame is converted, rotated and cropped while it
//! is read, with no full-frame copy.

/// Where the resizer reads its pixels: an upright RGB8 image, one row segment at a time.
pub trait RowSource {
    fn width(&self) -> usize;
    fn height(&self) -> usize;
    /// Writes pixels `x0..x1` of row `y` as packed RGB8 into `out` (`(x1 - x0) * 3` bytes).
    fn read_row(&self, y: usize, x0: usize, x1: usize, out: &mut [u8]);
}

/// A tightly packed RGB8 image.
#[cfg(any(test, feature = "eval"))]
pub struct PackedRgb<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
}

#[cfg(any(test, feature = "eval"))]
impl RowSource for PackedRgb<'_> {
    fn width(&self) -> usize {
        self.width
    }
    fn height(&self) -> usize {
        self.height
    }
    fn read_row(&self, y: usize, x0: usize, x1: usize, out: &mut [u8]) {
        let row = y * self.width * 3;
        out.copy_from_slice(&self.data[row + x0 * 3..row + x1 * 3]);
    }
}

/// A region of the source in pixel units (left, top, right, bottom); fractional edges allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl SourceBox {
    pub fn whole(width: usize, height: usize) -> Self {
        SourceBox { x0: 0.0, y0: 0.0, x1: width as f64, y1: height as f64 }
    }
}

/// Fixed-point precision of the weights (PIL: 32 - 8 - 2 bits).
const PRECISION_BITS: u32 = 32 - 8 - 2;
const CUBIC_A: f64 = -0.5;
const CUBIC_SUPPORT: f64 = 2.0;

/// Keys' cubic kernel with PIL's a = -0.5 (also LaPa's bicubic augmentation).
pub(crate) fn cubic(x: f64) -> f64 {
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
    /// Weights resampling `in0..in1` of an axis of `input` pixels to `output` pixels.
    fn build(&mut self, input: usize, in0: f64, in1: f64, output: usize) {
        let scale = (in1 - in0) / output as f64;
        let filter_scale = scale.max(1.0);
        let support = CUBIC_SUPPORT * filter_scale;
        self.taps = support.ceil() as usize * 2 + 1;
        self.first.clear();
        self.count.clear();
        self.weights.clear();
        self.weights.resize(output * self.taps, 0);
        let mut row = vec![0f64; self.taps];
        for out in 0..output {
            let center = in0 + (out as f64 + 0.5) * scale;
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

    /// The input range all taps together read.
    fn span(&self) -> (usize, usize) {
        let lo = self.first.iter().copied().min().unwrap_or(0);
        let hi = self.first.iter().zip(&self.count).map(|(f, n)| f + n).max().unwrap_or(0);
        (lo, hi.max(lo))
    }
}

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Reusable weights and buffers.
#[derive(Default)]
pub struct BicubicResizer {
    columns: AxisWeights,
    rows: AxisWeights,
    /// The horizontally resampled rows the vertical pass needs.
    horizontal: Vec<u8>,
    /// One source row segment.
    row: Vec<u8>,
}

impl BicubicResizer {
    /// Resizes packed RGB8 `src` (`w x h`) into packed RGB8 `dst` (`dw x dh`).
    #[cfg(any(test, feature = "eval"))]
    pub fn resize_rgb(&mut self, src: &[u8], w: usize, h: usize, dst: &mut Vec<u8>, dw: usize, dh: usize) {
        assert_eq!(src.len(), w * h * 3);
        let source = PackedRgb { data: src, width: w, height: h };
        self.resize_box(&source, SourceBox::whole(w, h), dst, dw, dh);
    }

    /// Resizes the `area` of `src` into packed RGB8 `dst` (`dw x dh`), as PIL's
    /// `resize((dw, dh), BICUBIC, box=area)`. Reads only the source pixels the filters touch.
    pub fn resize_box(
        &mut self,
        src: &impl RowSource,
        area: SourceBox,
        dst: &mut Vec<u8>,
        dw: usize,
        dh: usize,
    ) {
        let (w, h) = (src.width(), src.height());
        dst.clear();
        dst.resize(dw * dh * 3, 0);
        let round = 1i32 << (PRECISION_BITS - 1);
        // As PIL: a pass runs only when its axis changes.
        let horizontal_pass = dw != w || area.x0 != 0.0 || area.x1 != w as f64;
        let vertical_pass = dh != h || area.y0 != 0.0 || area.y1 != h as f64;
        let (row0, row1) = if vertical_pass {
            self.rows.build(h, area.y0, area.y1, dh);
            self.rows.span()
        } else {
            (0, h)
        };
        let (col0, col1) = if horizontal_pass {
            self.columns.build(w, area.x0, area.x1, dw);
            self.columns.span()
        } else {
            (0, w)
        };
        // Horizontal pass over the rows the vertical pass needs, into `horizontal`.
        self.horizontal.clear();
        self.horizontal.resize(dw * (row1 - row0) * 3, 0);
        self.row.resize((col1 - col0) * 3, 0);
        for y in row0..row1 {
            let out_row = &mut self.horizontal[(y - row0) * dw * 3..(y - row0 + 1) * dw * 3];
            if !horizontal_pass {
                src.read_row(y, 0, w, out_row);
                continue;
            }
            src.read_row(y, col0, col1, &mut self.row);
            for (x, out) in out_row.chunks_exact_mut(3).enumerate() {
                let (first, weights) = self.columns.tap(x);
                let mut acc = [round; 3];
                let pixels = self.row[(first - col0) * 3..].chunks_exact(3);
                for (&k, px) in weights.iter().zip(pixels) {
                    for (a, &p) in acc.iter_mut().zip(px) {
                        *a += p as i32 * k;
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = clip8(a);
                }
            }
        }
        if !vertical_pass {
            dst.copy_from_slice(&self.horizontal);
            return;
        }
        let stride = dw * 3;
        for y in 0..dh {
            let (first, weights) = self.rows.tap(y);
            let out_row = &mut dst[y * stride..(y + 1) * stride];
            for (x, out) in out_row.iter_mut().enumerate() {
                let mut acc = round;
                for (i, &k) in weights.iter().enumerate() {
                    acc += self.horizontal[(first - row0 + i) * stride + x] as i32 * k;
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
            axis.build(input, 0.0, input as f64, output);
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
