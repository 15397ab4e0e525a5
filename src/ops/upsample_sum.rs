//! The MLP fusion's sum of upsampled maps as one operator: out = x_0 + up(x_1) + up(x_2) + ...,
//! each `up` a bilinear resize (half-pixel centres, PyTorch `align_corners=False`) to x_0's size.
//!
//! The standard graph writes each resize as two matrix products with the interpolation matrix,
//! whose outputs tract transposes back, then adds the maps. Here
//! one channel is done at a time, its output plane summed while in the cache: each map's rows
//! are resized by a small matrix product on the low-resolution plane, then each output row is
//! the two-tap blend of two of those rows, added in place.
//!
//! Channels last (attribute `channels_last` = 1, what the exporter writes) each pixel's C
//! channels are contiguous, which is how the transformer after it wants its tokens: an output
//! row is the first map's row plus, per smaller map, the blend of two of its rows resized along
//! the row by two-tap blends of whole pixels. Channels first (the attribute absent or 0: early
//! converters' form, see the format-version table in docs/model-format.md) is the per-channel
//! plane path above, and the plain form the channels-last path is tested against.
//!
//! Inputs: maps (1, C, h_i, w_i), or (1, h_i, w_i, C) channels last, float32, the first the
//! largest. Output: the first map's shape.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::bilinear::{bilinear_matrix, taps, Tap};
use super::kernels::threads::par_chunks;
use super::tensors::{
    f32_output, f32_shapes, f32_slice_mut, f32_uninitialised, remaining_data, shape_refs, take_exclusive,
};

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
    Ok(Array2::from_shape_vec((output, input), bilinear_matrix(input, output))?.reversed_axes())
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
/// values: W pixels of C channels; `None` where `out` holds them already) plus the bilinear
/// resize of each small map `(x, h, w)`. Each row is finished while in the cache before the
/// next one starts.
#[allow(clippy::too_many_arguments)]
fn upsampled_rows_channels_last(
    first: Option<&[f32]>,
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
        if let Some(first) = first {
            dst.copy_from_slice(&first[y * row_len..(y + 1) * row_len]);
        }
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

    /// Channels last: `out` gets the sum. `first` is the first map, `None` where `out` is its
    /// buffer already.
    fn eval_channels_last(
        &self,
        dims: &[(usize, usize, usize)],
        first: Option<&[f32]>,
        small_maps: &[&[f32]],
        mut out: Tensor,
    ) -> TractResult<Tensor> {
        let (c, h, w) = dims[0];
        let small: Vec<(&[f32], usize, usize)> =
            small_maps.iter().zip(&dims[1..]).map(|(x, &(_, hi, wi))| (*x, hi, wi)).collect();
        let resizes: Vec<(Vec<Tap>, Vec<Tap>)> =
            small.iter().map(|&(_, hi, wi)| (taps(hi, h).collect(), taps(wi, w).collect())).collect();
        let widest = small.iter().map(|&(_, _, wi)| wi).max().unwrap_or(0);
        let row_len = w * c;
        // Rows are independent: a multi-threaded session shares them among its threads.
        par_chunks(f32_slice_mut(&mut out)?, row_len, h * row_len, |first_row, rows| {
            let mut blended = vec![0f32; widest * c];
            upsampled_rows_channels_last(first, &small, &resizes, c, row_len, first_row, rows, &mut blended);
            Ok(())
        })?;
        Ok(out)
    }

    /// The output of these inputs. Channels last, a first map that nothing else holds any more
    /// becomes the output's buffer, its rows added to in place (at R = 512 the fusion's 16 MB
    /// full-resolution product).
    fn run(&self, inputs: TVec<TValue>) -> TractResult<Tensor> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let dims = dims(&shape_refs(&shapes), self.channels_last)?;
        let mut inputs: Vec<Option<TValue>> = inputs.into_iter().map(Some).collect();
        let out = if self.channels_last { take_exclusive(&mut inputs[0]) } else { None };
        let data = remaining_data("UpsampleSum", &inputs)?;
        let small = data[1..].iter().map(|m| m.context("a map")).collect::<TractResult<Vec<_>>>()?;
        match out {
            Some(out) => self.eval_channels_last(&dims, None, &small, out),
            None => {
                let first = data[0].context("the first map")?;
                if self.channels_last {
                    self.eval_channels_last(&dims, Some(first), &small, f32_uninitialised(&shapes[0])?)
                } else {
                    let maps: Vec<&[f32]> = std::iter::once(first).chain(small).collect();
                    Ok(self.eval_channels_first(&dims, &maps)?.into_tensor())
                }
            }
        }
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
        Ok(tvec!(self.run(inputs)?.into_tvalue()))
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
    let channels_last = super::wiring::flag(node, "UpsampleSum", "channels_last")?;
    Ok((super::wiring::inference(UpsampleSum { channels_last }), vec![]))
}

impl super::wiring::InferenceRules for UpsampleSum {
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
    fn channels_last_pixels(x: &[f32], (c, h, w): (usize, usize, usize)) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        for ch in 0..c {
            for p in 0..h * w {
                out[p * c + ch] = x[ch * h * w + p];
            }
        }
        out
    }

    /// The sum through `run`, on maps given as (1, C, h, w) planes, in either layout; `held`:
    /// whether another holder keeps the first map (so that it may not be written over).
    fn sum(maps: &[Vec<f32>], dims: &[(usize, usize, usize)], channels_last: bool, held: bool) -> Vec<f32> {
        let inputs: TVec<TValue> = maps
            .iter()
            .zip(dims)
            .map(|(x, &(c, h, w))| {
                let t = match channels_last {
                    true => Tensor::from_shape(&[1, h, w, c], &channels_last_pixels(x, (c, h, w))),
                    false => Tensor::from_shape(&[1, c, h, w], x),
                };
                t.unwrap().into_tvalue()
            })
            .collect();
        let first = inputs[0].clone().into_tensor();
        let holder = held.then(|| inputs[0].clone());
        let out = UpsampleSum { channels_last }.run(inputs).unwrap();
        if let Some(holder) = holder {
            assert_eq!(*holder, first, "the first map, still held elsewhere, was written over");
        }
        crate::ops::tensors::f32_values(&out)
    }

    /// Both layouts compute the same sum, on odd sizes and a map as large as the first, in a
    /// fresh buffer or in the first map's.
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
        let planes = sum(&maps, &dims, false, true);
        let expected = channels_last_pixels(&planes, dims[0]);
        for held in [true, false] {
            let pixels = sum(&maps, &dims, true, held);
            for (i, (got, want)) in pixels.iter().zip(&expected).enumerate() {
                assert!((got - want).abs() < 1e-5, "element {i} (held {held}): {got} vs {want}");
            }
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
                            expected += m[y * h + i] * m[xo * w + j] * x[ch * h * w + i * w + j];
                        }
                    }
                    let got = out[ch * big * big + y * big + xo];
                    assert!((got - expected).abs() < 1e-5, "({ch}, {y}, {xo}): {got} vs {expected}");
                }
            }
        }
    }
}
