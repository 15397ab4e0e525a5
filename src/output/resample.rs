//! Logits -> labels and per-class scores at the caller's image or frame size.
//!
//! The label of an output pixel is the argmax over all classes of the logits bilinearly
//! resampled (half-pixel centres, as PyTorch `align_corners=False`) to that pixel. Resampling the
//! logits before the argmax gives smooth boundaries at the image's resolution; resampling the
//! R x R label map instead would give blocky, nearest-neighbour edges. Ties go to the lowest
//! class index, as torch's argmax.

use std::ops::Range;

use crate::image::align::AlignedSquare;
use crate::image::resize::SourceBox;
use crate::ops::kernels::bilinear::{self, lerp, Tap};

/// Logits of one image: `classes` planes of `size x size`, row-major.
pub struct Logits<'a> {
    pub data: &'a [f32],
    pub classes: usize,
    pub size: usize,
}

/// A caller's label buffer: `height` rows of `width` bytes, `stride` bytes apart.
pub struct LabelsMut<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

/// Reusable tables for `labels_from_logits`.
#[derive(Default)]
pub struct Postprocessor {
    rows: Vec<Tap>,
    cols: Vec<Tap>,
    scores: Vec<f32>,
    /// Two model rows resampled to the output's width, class-major (`classes x width`): the
    /// upper and lower neighbours of the output row being labelled.
    upper: ResampledRow,
    lower: ResampledRow,
    /// The best score so far of each pixel of an output row.
    best: Vec<f32>,
}

/// How a resampled row is laid out: class by class (`classes x width`, for a per-class pass
/// over the row) or pixel by pixel (`width x classes`, for a per-pixel consumer).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    ClassMajor,
    PixelMajor,
}

/// One model row resampled along x for every class, and which model row it is.
#[derive(Default)]
struct ResampledRow {
    source_row: Option<(usize, Layout)>,
    values: Vec<f32>,
}

impl ResampledRow {
    /// Makes this the model row `y` resampled at `cols` in `layout`, unless it already is.
    fn hold(&mut self, logits: &Logits, y: usize, cols: &[Tap], layout: Layout) {
        if self.source_row == Some((y, layout)) {
            return;
        }
        let (r, classes, width) = (logits.size, logits.classes, cols.len());
        self.values.resize(classes * width, 0.0);
        for c in 0..classes {
            let row = &logits.data[(c * r + y) * r..][..r];
            // `scores_at`'s `top` and `bottom`.
            let resampled = cols.iter().map(|&Tap { lo, hi, frac }| lerp(row[lo], row[hi], frac));
            match layout {
                Layout::ClassMajor => {
                    for (o, v) in self.values[c * width..][..width].iter_mut().zip(resampled) {
                        *o = v;
                    }
                }
                Layout::PixelMajor => {
                    for (o, v) in self.values[c..].iter_mut().step_by(classes).zip(resampled) {
                        *o = v;
                    }
                }
            }
        }
        self.source_row = Some((y, layout));
    }
}

/// Makes `upper` and `lower` the model rows around an output row with taps `row`, resampled at
/// `cols`. Consecutive output rows mostly share their model rows: a row already held is kept
/// (swapped into place when the lower one becomes the upper one), not resampled again.
fn hold_rows(
    (upper, lower): (&mut ResampledRow, &mut ResampledRow),
    logits: &Logits,
    row: Tap,
    cols: &[Tap],
    layout: Layout,
) {
    if upper.source_row != Some((row.lo, layout)) && lower.source_row == Some((row.lo, layout)) {
        std::mem::swap(upper, lower);
    }
    upper.hold(logits, row.lo, cols, layout);
    lower.hold(logits, row.hi, cols, layout);
}

/// A row's argmax over classes, fed one class's scores at a time so that each pass reads memory
/// in order: the first class with the largest score wins and NaN never does, as `argmax`.
struct RowArgmax<'a> {
    labels: &'a mut [u8],
    best: &'a mut Vec<f32>,
}

impl<'a> RowArgmax<'a> {
    fn new(labels: &'a mut [u8], best: &'a mut Vec<f32>) -> Self {
        best.clear();
        best.resize(labels.len(), f32::NEG_INFINITY);
        labels.fill(0);
        RowArgmax { labels, best }
    }

    fn offer(&mut self, class: usize, scores: &[f32]) {
        for ((label, best), &s) in self.labels.iter_mut().zip(self.best.iter_mut()).zip(scores) {
            if s > *best {
                *best = s;
                *label = class as u8;
            }
        }
    }
}

impl Postprocessor {
    /// Writes into `out` the argmax of `logits` resampled to the output's size.
    pub fn labels_from_logits(&mut self, logits: Logits, out: LabelsMut) {
        let (classes, r) = (logits.classes, logits.size);
        let LabelsMut { data: labels, width, height, stride } = out;
        let plane = r * r;
        debug_assert_eq!(logits.data.len(), classes * plane);
        if width == r && height == r {
            for y in 0..r {
                let mut row = RowArgmax::new(&mut labels[y * stride..y * stride + r], &mut self.best);
                for c in 0..classes {
                    row.offer(c, &logits.data[c * plane + y * r..][..r]);
                }
            }
            return;
        }
        self.rows.clear();
        self.rows.extend(bilinear::taps(r, height));
        self.cols.clear();
        self.cols.extend(bilinear::taps(r, width));
        // Row by row: the two model rows around an output row, resampled along x once (they
        // serve the neighbouring output rows too), then blended along y class by class. The
        // arithmetic is `scores_at`'s, in its order, so the labels are the same bits.
        let Postprocessor { rows, cols, upper, lower, best, scores } = self;
        // Rows resampled from an earlier call's logits are stale.
        upper.source_row = None;
        lower.source_row = None;
        // One class's blended row at a time, in a buffer reused across classes and rows.
        scores.clear();
        scores.resize(width, 0.0);
        for (y, &tap) in rows.iter().enumerate() {
            hold_rows((upper, lower), &logits, tap, cols, Layout::ClassMajor);
            let frac = tap.frac;
            let mut row = RowArgmax::new(&mut labels[y * stride..y * stride + width], best);
            for c in 0..classes {
                let (top, bottom) =
                    (&upper.values[c * width..][..width], &lower.values[c * width..][..width]);
                for (s, (&t, &b)) in scores.iter_mut().zip(top.iter().zip(bottom)) {
                    *s = lerp(t, b, frac);
                }
                row.offer(c, scores);
            }
        }
    }

    /// Class scores for the pixels `xs` x `ys` of an image in which the model saw the box
    /// `area` (image pixel units), handed to `put(x, y, scores)`: how a face crop's results go
    /// back into the frame. The whole image as the box gives exactly `labels_from_logits`'s
    /// scores.
    ///
    /// Row by row as `labels_from_logits`, but with the two resampled model rows laid out pixel
    /// by pixel: a pixel's scores are read from two short runs rather than from four places in
    /// each class plane. Same arithmetic, same bits as `scores_at`.
    pub fn scores_in_box(
        &mut self,
        logits: Logits,
        area: SourceBox,
        xs: Range<usize>,
        ys: Range<usize>,
        mut put: impl FnMut(usize, usize, &[f32]),
    ) {
        let r = logits.size;
        let Postprocessor { rows, cols, upper, lower, scores, .. } = self;
        rows.clear();
        rows.extend(bilinear::taps_in_box(r, area.y0 as f32, (area.y1 - area.y0) as f32, ys.clone()));
        cols.clear();
        cols.extend(bilinear::taps_in_box(r, area.x0 as f32, (area.x1 - area.x0) as f32, xs.clone()));
        // Rows resampled from an earlier call's logits or box are stale.
        upper.source_row = None;
        lower.source_row = None;
        let classes = logits.classes;
        scores.clear();
        scores.resize(classes, 0.0);
        for (&tap, y) in rows.iter().zip(ys) {
            hold_rows((upper, lower), &logits, tap, cols, Layout::PixelMajor);
            let frac = tap.frac;
            let pixels = upper.values.chunks_exact(classes).zip(lower.values.chunks_exact(classes));
            for ((top, bottom), x) in pixels.zip(xs.clone()) {
                for (s, (&t, &b)) in scores.iter_mut().zip(top.iter().zip(bottom)) {
                    *s = lerp(t, b, frac);
                }
                put(x, y, scores);
            }
        }
    }

    /// Class scores for the pixels `xs` x `ys` of an image in which the model saw the turned
    /// `square`, for the pixels whose centres lie inside it, handed to `put(x, y, scores)`.
    pub fn scores_in_square(
        &mut self,
        logits: Logits,
        square: &AlignedSquare,
        xs: Range<usize>,
        ys: Range<usize>,
        mut put: impl FnMut(usize, usize, &[f32]),
    ) {
        let r = logits.size;
        let rf = r as f32;
        self.scores.resize(logits.classes, 0.0);
        for y in ys {
            for x in xs.clone() {
                let (u, v) = square.to_model([x as f32 + 0.5, y as f32 + 0.5], rf);
                if !(0.0..rf).contains(&u) || !(0.0..rf).contains(&v) {
                    continue;
                }
                scores_at(
                    &mut self.scores,
                    &logits,
                    bilinear::tap_at(v - 0.5, r),
                    bilinear::tap_at(u - 0.5, r),
                );
                put(x, y, &self.scores);
            }
        }
    }
}

/// The logits bilinearly sampled between the given taps, one score per class.
#[inline]
fn scores_at(scores: &mut [f32], logits: &Logits, row: Tap, col: Tap) {
    let (r, plane) = (logits.size, logits.size * logits.size);
    let (Tap { lo: y0, hi: y1, frac: fy }, Tap { lo: x0, hi: x1, frac: fx }) = (row, col);
    for (c, score) in scores.iter_mut().enumerate() {
        let l = &logits.data[c * plane..(c + 1) * plane];
        let top = lerp(l[y0 * r + x0], l[y0 * r + x1], fx);
        let bottom = lerp(l[y1 * r + x0], l[y1 * r + x1], fx);
        *score = lerp(top, bottom, fy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::outputs::argmax;

    /// Labels as the definition says: per output pixel, the bilinear scores (at the model's own
    /// size the logits themselves), then the argmax.
    fn labels_by_definition(logits: &Logits, width: usize, height: usize) -> Vec<u8> {
        let plane = logits.size * logits.size;
        if width == logits.size && height == logits.size {
            return (0..plane)
                .map(|p| argmax(&(0..logits.classes).map(|c| logits.data[c * plane + p]).collect::<Vec<_>>()))
                .collect();
        }
        let (rows, cols): (Vec<Tap>, Vec<Tap>) =
            (bilinear::taps(logits.size, height).collect(), bilinear::taps(logits.size, width).collect());
        let mut scores = vec![0f32; logits.classes];
        let mut labels = Vec::new();
        for &row in &rows {
            for &col in &cols {
                scores_at(&mut scores, logits, row, col);
                labels.push(argmax(&scores));
            }
        }
        labels
    }

    /// A small deterministic generator of 16-bit values, for test logits.
    fn values_from(mut state: u32) -> impl FnMut() -> u32 {
        move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 16
        }
    }

    #[test]
    fn streamed_labels_equal_the_per_pixel_definition() {
        // Logits on a coarse grid of values so that ties are frequent, with some NaN.
        let mut next = values_from(12345);
        let (classes, r) = (5, 9);
        let data: Vec<f32> = (0..classes * r * r)
            .map(|_| if next().is_multiple_of(97) { f32::NAN } else { (next() % 4) as f32 })
            .collect();
        let other: Vec<f32> = data.iter().rev().copied().collect();
        let mut post = Postprocessor::default();
        for (width, height) in [(9, 9), (4, 6), (23, 17), (9, 31), (1, 1)] {
            // Twice with different logits: nothing cached from one call may leak into the next.
            for values in [&data, &other] {
                let logits = Logits { data: values, classes, size: r };
                let stride = width + 3;
                let mut labels = vec![77u8; stride * height];
                post.labels_from_logits(
                    Logits { data: values, classes, size: r },
                    LabelsMut { data: &mut labels, width, height, stride },
                );
                let expected = labels_by_definition(&logits, width, height);
                for y in 0..height {
                    assert_eq!(
                        &labels[y * stride..y * stride + width],
                        &expected[y * width..(y + 1) * width]
                    );
                    assert_eq!(
                        &labels[y * stride + width..(y + 1) * stride],
                        &[77u8; 3],
                        "bytes between rows"
                    );
                }
            }
        }
    }

    #[test]
    fn streamed_box_scores_equal_the_per_pixel_definition() {
        let mut next = values_from(777);
        let (classes, r) = (4, 7);
        let data: Vec<f32> = (0..classes * r * r).map(|_| next() as f32 / 256.0 - 128.0).collect();
        let other: Vec<f32> = data.iter().rev().copied().collect();
        let mut post = Postprocessor::default();
        // Boxes larger and smaller than the model, off-centre, partly outside the frame, and
        // pixel ranges that cover only part of them.
        let boxes = [
            (SourceBox { x0: 0.0, y0: 0.0, x1: 20.0, y1: 15.0 }, 0..20, 0..15),
            (SourceBox { x0: -3.5, y0: 2.25, x1: 11.0, y1: 30.0 }, 0..11, 2..30),
            (SourceBox { x0: 4.0, y0: 6.0, x1: 8.5, y1: 9.0 }, 4..9, 6..9),
            (SourceBox { x0: 1.0, y0: 1.0, x1: 31.0, y1: 40.0 }, 10..12, 30..40),
        ];
        for (area, xs, ys) in boxes {
            for values in [&data, &other] {
                let logits = Logits { data: values, classes, size: r };
                let rows: Vec<Tap> =
                    bilinear::taps_in_box(r, area.y0 as f32, (area.y1 - area.y0) as f32, ys.clone())
                        .collect();
                let cols: Vec<Tap> =
                    bilinear::taps_in_box(r, area.x0 as f32, (area.x1 - area.x0) as f32, xs.clone())
                        .collect();
                let mut visited = Vec::new();
                post.scores_in_box(
                    Logits { data: values, classes, size: r },
                    area,
                    xs.clone(),
                    ys.clone(),
                    |x, y, s| {
                        let mut expected = vec![0f32; classes];
                        scores_at(&mut expected, &logits, rows[y - ys.start], cols[x - xs.start]);
                        let same_bits = s.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same_bits, "({x}, {y}) in {area:?}: {s:?} vs {expected:?}");
                        visited.push((x, y));
                    },
                );
                let all: Vec<(usize, usize)> =
                    ys.clone().flat_map(|y| xs.clone().map(move |x| (x, y))).collect();
                assert_eq!(visited, all, "each pixel once, row by row");
            }
        }
    }

    #[test]
    fn argmax_prefers_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
    }

    #[test]
    fn upsampled_labels_follow_the_interpolated_boundary() {
        // Two classes on a 2x2 grid: class 1 wins in the right column only.
        let logits = [1.0, 0.0, 1.0, 0.0, /* class 1 */ 0.0, 1.0, 0.0, 1.0];
        let mut post = Postprocessor::default();
        let mut labels = vec![9u8; 4 * 4];
        post.labels_from_logits(
            Logits { data: &logits, classes: 2, size: 2 },
            LabelsMut { data: &mut labels, width: 4, height: 4, stride: 4 },
        );
        for row in labels.chunks(4) {
            // Columns 0-1 sit left of the midpoint, 2-3 right of it.
            assert_eq!(row, &[0, 0, 1, 1]);
        }
    }

    #[test]
    fn a_turned_squares_scores_come_from_the_model_point_under_each_pixel() {
        // Class 1's logit grows along the model's x axis, u - 4 at model point (u, v); class 0's
        // is 0. Bilinear sampling reproduces a linear ramp, so a frame pixel is class 1 exactly
        // when its centre maps to u > 4.
        let r = 8;
        let mut logits = vec![0f32; 2 * r * r];
        for y in 0..r {
            for x in 0..r {
                logits[r * r + y * r + x] = x as f32 + 0.5 - 4.0;
            }
        }
        let square = AlignedSquare { origin: [10.0, 5.0], x_edge: [16.0, 12.0], y_edge: [-12.0, 16.0] };
        let (xs, ys) = square.pixel_bounds(40, 40).unwrap();
        let mut seen = 0;
        Postprocessor::default().scores_in_square(
            Logits { data: &logits, classes: 2, size: r },
            &square,
            xs,
            ys,
            |x, y, scores| {
                let (u, v) = square.to_model([x as f32 + 0.5, y as f32 + 0.5], r as f32);
                assert!((0.0..r as f32).contains(&u) && (0.0..r as f32).contains(&v));
                let expected = u.clamp(0.5, r as f32 - 0.5) - 4.0;
                assert!((scores[1] - expected).abs() < 1e-4, "({x}, {y}): {} vs {expected}", scores[1]);
                seen += 1;
            },
        );
        // Every frame pixel whose centre lies in the 20 x 20 square, once.
        assert!((390..=410).contains(&seen), "{seen}");
    }

    #[test]
    fn strided_output_leaves_padding_untouched() {
        // A 1x1 logit map of 2 classes spread over a 2x2 image whose rows are 3 bytes apart.
        let logits = [0.2, 0.7];
        let mut post = Postprocessor::default();
        let mut labels = vec![7u8; 2 * 3];
        post.labels_from_logits(
            Logits { data: &logits, classes: 2, size: 1 },
            LabelsMut { data: &mut labels, width: 2, height: 2, stride: 3 },
        );
        assert_eq!(labels, vec![1, 1, 7, 1, 1, 7]);
    }
}
