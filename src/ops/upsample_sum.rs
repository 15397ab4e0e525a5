//! The MLP fusion's sum of upsampled maps as one operator: out = x_0 + up(x_1) + up(x_2) + ...,
//! each `up` a bilinear resize (half-pixel centres, PyTorch `align_corners=False`) to x_0's size.
//!
//! The standard graph writes each resize as two matrix products with the interpolation matrix,
//! whose outputs tract transposes back (a 16 MB copy each at R = 512), then adds the maps. Here
//! one channel is done at a time, its output plane summed while in the cache: each map's rows
//! are resized by a small matrix product on the low-resolution plane, then each output row is
//! the two-tap blend of two of those rows, added in place.
//!
//! Channels last (attribute `channels_last` = 1, what the exporter writes) each pixel's C
//! channels are contiguous, which is how the transformer after it wants its tokens: an output
//! row is the first map's row plus, per smaller map, the blend of two of its rows resized along
//! the row by two-tap blends of whole pixels. Channels first (the attribute absent or 0, as
//! files converted before it have it) is the per-channel plane path above.
//!
//! Inputs: maps (1, C, h_i, w_i), or (1, h_i, w_i, C) channels last, float32, the first the
//! largest. Output: the first map's shape.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::{contiguous, f32_output, f32_shapes, f32_views, par_chunks, shape_refs};
use crate::bilinear::{taps, Tap};
use crate::export::constants::bilinear_matrix;

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "UpsampleSum";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpsampleSum {
    /// (1, H, W, C) maps instead of (1, C, H, W).
    pub channels_last: bool,
}

/// (channels, height, width) of each input, checked: same channels, none larger than the first.
fn dims(shapes: &[&[usize]], channels_last: bool) -> TractResult<Vec<(usize, usize, usize)>> {
    ensure!(!shapes.is_empty(), "UpsampleSum needs at least one input");
    let layout = if channels_last { "(1, H, W, C)" } else { "(1, C, H, W)" };
    let dims = shapes
        .iter()
        .map(|s| match (*s, channels_last) {
            (&[1, c, h, w], false) | (&[1, h, w, c], true) if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
            _ => bail!("UpsampleSum: inputs must be non-empty {layout} maps, got {s:?}"),
        })
        .collect::<TractResult<Vec<_>>>()?;
    let (c, h, w) = dims[0];
    for &(ci, hi, wi) in &dims[1..] {
        ensure!(
            ci == c && hi <= h && wi <= w,
            "UpsampleSum: a ({ci}, {hi}, {wi}) map does not fit ({c}, {h}, {w})"
        );
    }
    Ok(dims)
}

/// The (input, output) matrix of a bilinear resize along one axis (the portable graph's
/// interpolation matrix, transposed): column j holds output j's two taps. Multiplying by it
/// resizes every row at once (a gather per output is far slower).
fn resize_matrix(input: usize, output: usize) -> TractResult<Array2<f32>> {
    let m = bilinear_matrix(input, output);
    Ok(Array2::from_shape_vec((m.rows, m.cols), m.data)?.reversed_axes())
}

/// Adds the bilinear resize of the plane `x` (h, w) to `out` (rows.len(), W): the plane's rows
/// are resized into `wide` (h, W) by the product with `cols` (w, W), then each output row is
/// the two-tap blend of two rows of `wide`.
fn add_upsampled(
    x: &[f32],
    h: usize,
    rows: &[Tap],
    cols: &Array2<f32>,
    wide: &mut [f32],
    out: &mut [f32],
) -> TractResult<()> {
    let (w, width) = cols.dim();
    let plane = ArrayView2::from_shape((h, w), x)?;
    let mut wide_view = ArrayViewMut2::from_shape((h, width), &mut *wide)?;
    general_mat_mul(1.0, &plane, cols, 0.0, &mut wide_view);
    for (dst, t) in out.chunks_exact_mut(width).zip(rows) {
        let (lo, hi) = (&wide[t.lo * width..(t.lo + 1) * width], &wide[t.hi * width..(t.hi + 1) * width]);
        let (a, b) = (1.0 - t.frac, t.frac);
        for ((o, l), u) in dst.iter_mut().zip(lo).zip(hi) {
            *o += l * a + u * b;
        }
    }
    Ok(())
}

/// Channels last: writes output rows `first_row..` into `out`: the first map's row (`row_len`
/// values: W pixels of C channels) plus the bilinear resize of each small map `(x, h, w)`. Each
/// row is finished while in the cache before the next one starts.
#[allow(clippy::too_many_arguments)]
fn upsampled_rows_channels_last(
    first: &[f32],
    maps: &[(&[f32], usize, usize)],
    resizes: &[(Vec<Tap>, Vec<Tap>)],
    channels: usize,
    row_len: usize,
    first_row: usize,
    out: &mut [f32],
    blended: &mut [f32],
) {
    let c = channels;
    for (i, dst) in out.chunks_exact_mut(row_len).enumerate() {
        let y = first_row + i;
        dst.copy_from_slice(&first[y * row_len..(y + 1) * row_len]);
        for (&(x, _, w), (rows, cols)) in maps.iter().zip(resizes) {
            let small_len = w * c;
            let blended = &mut blended[..small_len];
            let t = &rows[y];
            let (lo, hi) =
                (&x[t.lo * small_len..(t.lo + 1) * small_len], &x[t.hi * small_len..(t.hi + 1) * small_len]);
            let (a, b) = (1.0 - t.frac, t.frac);
            for ((o, l), u) in blended.iter_mut().zip(lo).zip(hi) {
                *o = l * a + u * b;
            }
            for (pixel, t) in dst.chunks_exact_mut(c).zip(cols) {
                let (lo, hi) = (&blended[t.lo * c..(t.lo + 1) * c], &blended[t.hi * c..(t.hi + 1) * c]);
                let (a, b) = (1.0 - t.frac, t.frac);
                for ((o, l), u) in pixel.iter_mut().zip(lo).zip(hi) {
                    *o += l * a + u * b;
                }
            }
        }
    }
}

impl UpsampleSum {
    fn eval_channels_first(&self, dims: &[(usize, usize, usize)], maps: &[&[f32]]) -> TractResult<TValue> {
        let (_, h, w) = dims[0];
        let resizes = dims[1..]
            .iter()
            .map(|&(_, hi, wi)| Ok((taps(hi, h).collect::<Vec<Tap>>(), resize_matrix(wi, w)?)))
            .collect::<TractResult<Vec<_>>>()?;
        f32_output(&[1, dims[0].0, h, w], |out| {
            out.copy_from_slice(maps[0]);
            let elements = out.len();
            // Channels are independent: a multi-threaded session shares them among its threads.
            par_chunks(out, h * w, elements, |first_channel, planes| {
                let mut wide: Vec<Vec<f32>> =
                    dims[1..].iter().map(|&(_, hi, _)| vec![0f32; hi * w]).collect();
                for (i, plane) in planes.chunks_exact_mut(h * w).enumerate() {
                    let channel = first_channel + i;
                    for (((x, &(_, hi, wi)), (rows, cols)), wide) in
                        maps[1..].iter().zip(&dims[1..]).zip(&resizes).zip(&mut wide)
                    {
                        let src = &x[channel * hi * wi..(channel + 1) * hi * wi];
                        add_upsampled(src, hi, rows, cols, wide, plane)?;
                    }
                }
                Ok(())
            })
        })
    }

    fn eval_channels_last(&self, dims: &[(usize, usize, usize)], maps: &[&[f32]]) -> TractResult<TValue> {
        let (c, h, w) = dims[0];
        let small: Vec<(&[f32], usize, usize)> =
            maps[1..].iter().zip(&dims[1..]).map(|(x, &(_, hi, wi))| (*x, hi, wi)).collect();
        let resizes: Vec<(Vec<Tap>, Vec<Tap>)> =
            small.iter().map(|&(_, hi, wi)| (taps(hi, h).collect(), taps(wi, w).collect())).collect();
        let widest = small.iter().map(|&(_, _, wi)| wi).max().unwrap_or(0);
        f32_output(&[1, h, w, c], |out| {
            let elements = out.len();
            // Rows are independent: a multi-threaded session shares them among its threads.
            par_chunks(out, w * c, elements, |first_row, rows| {
                let mut blended = vec![0f32; widest * c];
                upsampled_rows_channels_last(
                    maps[0],
                    &small,
                    &resizes,
                    c,
                    w * c,
                    first_row,
                    rows,
                    &mut blended,
                );
                Ok(())
            })
        })
    }
}

impl Op for UpsampleSum {
    fn name(&self) -> StaticName {
        "SegFaceUpsampleSum".into()
    }

    op_as_typed_op!();
}

impl EvalOp for UpsampleSum {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let dims = dims(&shapes, self.channels_last)?;
        let maps = views.iter().map(|v| contiguous("UpsampleSum", v)).collect::<TractResult<Vec<_>>>()?;
        let output = if self.channels_last {
            self.eval_channels_last(&dims, &maps)?
        } else {
            self.eval_channels_first(&dims, &maps)?
        };
        Ok(tvec!(output))
    }
}

impl TypedOp for UpsampleSum {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shapes = f32_shapes("UpsampleSum", inputs)?;
        dims(&shape_refs(&shapes), self.channels_last)?;
        Ok(tvec!(f32::fact(&shapes[0])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let dims = dims(&shape_refs(&f32_shapes("UpsampleSum", inputs)?), self.channels_last)?;
        let (_, h, w) = dims[0];
        // Per map, channels first: the row product (h_i x w_i x W) and two multiply-adds per
        // output value; channels last: two multiply-adds per blended value and per output value.
        let macs: usize = if self.channels_last {
            dims[1..].iter().map(|&(c, _, wi)| c * h * 2 * (wi + w)).sum()
        } else {
            dims[1..].iter().map(|&(c, hi, wi)| c * (hi * wi * w + 2 * h * w)).sum()
        };
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let channels_last = super::flag(node, "UpsampleSum", "channels_last")?;
    Ok((super::inference(UpsampleSum { channels_last }), vec![]))
}

impl super::InferenceRules for UpsampleSum {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        ensure!(!inputs.is_empty(), "UpsampleSum needs at least one input");
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (C, h, w) planes as (h, w, C) pixels.
    fn channels_last(x: &[f32], (c, h, w): (usize, usize, usize)) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        for ch in 0..c {
            for p in 0..h * w {
                out[p * c + ch] = x[ch * h * w + p];
            }
        }
        out
    }

    /// Both layouts compute the same sum, on odd sizes and a map as large as the first.
    #[test]
    fn channels_last_and_channels_first_agree() {
        let dims = [(5, 9, 7), (5, 9, 7), (5, 4, 3), (5, 1, 2)];
        let maps: Vec<Vec<f32>> = dims
            .iter()
            .enumerate()
            .map(|(m, &(c, h, w))| {
                (0..c * h * w).map(|i| ((i * 31 + m * 7) % 19) as f32 * 0.3 - 2.5).collect()
            })
            .collect();
        let first: Vec<&[f32]> = maps.iter().map(Vec::as_slice).collect();
        let transposed: Vec<Vec<f32>> = maps.iter().zip(&dims).map(|(x, &d)| channels_last(x, d)).collect();
        let last: Vec<&[f32]> = transposed.iter().map(Vec::as_slice).collect();
        let planes = UpsampleSum { channels_last: false }.eval_channels_first(&dims, &first).unwrap();
        let pixels = UpsampleSum { channels_last: true }.eval_channels_last(&dims, &last).unwrap();
        assert_eq!(pixels.shape(), [1, 9, 7, 5]);
        let planes = planes.to_plain_array_view::<f32>().unwrap();
        let expected = channels_last(planes.as_slice().unwrap(), dims[0]);
        let pixels = pixels.to_plain_array_view::<f32>().unwrap();
        for (i, (got, want)) in pixels.as_slice().unwrap().iter().zip(&expected).enumerate() {
            assert!((got - want).abs() < 1e-5, "element {i}: {got} vs {want}");
        }
    }

    #[test]
    fn shapes_are_read_in_the_layout_asked_for() {
        let last: [&[usize]; 2] = [&[1, 8, 6, 3], &[1, 4, 3, 3]];
        assert_eq!(dims(&last, true).unwrap(), vec![(3, 8, 6), (3, 4, 3)]);
        // Read channels first, the same shapes have different channel counts.
        assert!(dims(&last, false).is_err());
        assert!(dims(&[&[1, 8, 6, 3], &[1, 9, 6, 3]], true).is_err(), "taller than the first");
        assert!(dims(&[&[8, 6, 3]], true).is_err(), "rank 3");
    }

    /// The two-tap resize equals the interpolation matrices the portable graph multiplies by.
    #[test]
    fn two_tap_resize_equals_the_interpolation_matrices() {
        let (c, h, w, big) = (3, 4, 4, 16);
        let x: Vec<f32> = (0..c * h * w).map(|i| ((i * 37) % 23) as f32 * 0.25 - 2.0).collect();
        let mut out = vec![0f32; c * big * big];
        let t: Vec<Tap> = taps(h, big).collect();
        let mut wide = vec![0f32; h * big];
        for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(big * big)) {
            add_upsampled(src, h, &t, &resize_matrix(w, big).unwrap(), &mut wide, dst).unwrap();
        }
        let m = bilinear_matrix(h, big);
        for ch in 0..c {
            for y in 0..big {
                for xo in 0..big {
                    let mut expected = 0f32;
                    for i in 0..h {
                        for j in 0..w {
                            expected += m.data[y * h + i] * m.data[xo * w + j] * x[ch * h * w + i * w + j];
                        }
                    }
                    let got = out[ch * big * big + y * big + xo];
                    assert!((got - expected).abs() < 1e-5, "({ch}, {y}, {xo}): {got} vs {expected}");
                }
            }
        }
    }
}
