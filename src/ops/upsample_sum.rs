//! The MLP fusion's sum of upsampled maps as one operator: out = x_0 + up(x_1) + up(x_2) + ...,
//! each `up` a bilinear resize (half-pixel centres, PyTorch `align_corners=False`) to x_0's size.
//!
//! The standard graph writes each resize as two matrix products with the interpolation matrix,
//! whose outputs tract transposes back (a 16 MB copy each at R = 512), then adds the maps. Here
//! one channel is done at a time, its output plane summed while in the cache: each map's rows
//! are resized by a small matrix product on the low-resolution plane, then each output row is
//! the two-tap blend of two of those rows, added in place.
//!
//! Inputs: maps (1, C, h_i, w_i), float32, the first the largest. Output: (1, C, h_0, w_0).

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
pub struct UpsampleSum;

/// (channels, height, width) of each input, checked: same channels, none larger than the first.
fn dims(shapes: &[&[usize]]) -> TractResult<Vec<(usize, usize, usize)>> {
    ensure!(!shapes.is_empty(), "UpsampleSum needs at least one input");
    let dims = shapes
        .iter()
        .map(|s| match **s {
            [1, c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
            _ => bail!("UpsampleSum: inputs must be non-empty (1, C, H, W) maps, got {s:?}"),
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
        let dims = dims(&shapes)?;
        let maps = views.iter().map(|v| contiguous("UpsampleSum", v)).collect::<TractResult<Vec<_>>>()?;
        let (_, h, w) = dims[0];
        let resizes = dims[1..]
            .iter()
            .map(|&(_, hi, wi)| Ok((taps(hi, h).collect::<Vec<Tap>>(), resize_matrix(wi, w)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let output = f32_output(&[1, dims[0].0, h, w], |out| {
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
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for UpsampleSum {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (c, h, w) = dims(&shape_refs(&f32_shapes("UpsampleSum", inputs)?))?[0];
        Ok(tvec!(f32::fact([1, c, h, w])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let dims = dims(&shape_refs(&f32_shapes("UpsampleSum", inputs)?))?;
        let (_, h, w) = dims[0];
        // Per map: the row product (h_i x w_i x W) and two multiply-adds per output value.
        let macs: usize = dims[1..].iter().map(|&(c, hi, wi)| c * (hi * wi * w + 2 * h * w)).sum();
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, _node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(UpsampleSumInference), vec![]))
}

#[derive(Clone, Debug)]
struct UpsampleSumInference;

impl Expansion for UpsampleSumInference {
    fn name(&self) -> StaticName {
        "SegFaceUpsampleSum".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
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

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, UpsampleSum, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
