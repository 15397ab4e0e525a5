//! segface's own operators for tract, where the layer-by-layer ONNX graph would leave tract on
//! slow generic code. The exporter's runtime graph uses them (domain [`DOMAIN`]); its portable
//! graph (`--portable`) computes the same function with standard ONNX operators only.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayView2, ArrayViewMut2};
use tract_linalg::routines::Func;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::ArrayViewD;
use tract_onnx::tract_hir::internal::*;

pub mod attention;
mod attention_lanes;
pub mod depthwise_conv;
pub mod image_to_token;
pub mod layer_norm;
pub mod positional_encoding;
pub mod token_to_image;
pub mod upsample_sum;
pub mod upscale_head;
mod vector;

pub use attention_lanes::MAX_SHORT_SIDE;

/// The ONNX domain of segface's operators.
pub const DOMAIN: &str = "ai.segface";

/// tract's ONNX reader with segface's operators registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(attention::OP_TYPE, attention::parse);
    onnx.op_register.insert(depthwise_conv::OP_TYPE, depthwise_conv::parse);
    onnx.op_register.insert(image_to_token::OP_TYPE, image_to_token::parse);
    onnx.op_register.insert(layer_norm::OP_TYPE, layer_norm::parse);
    onnx.op_register.insert(positional_encoding::OP_TYPE, positional_encoding::parse);
    onnx.op_register.insert(token_to_image::OP_TYPE, token_to_image::parse);
    onnx.op_register.insert(upsample_sum::OP_TYPE, upsample_sum::parse);
    onnx.op_register.insert(upscale_head::OP_TYPE, upscale_head::parse);
    onnx
}

/// The shape rules of one of segface's operators, checked while tract reads the ONNX graph
/// (before the typed operator exists for its inputs).
pub(crate) trait InferenceRules: TypedOp + Clone {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult;
}

/// The inference-time face of a segface operator: its shape rules, then the operator itself.
#[derive(Clone, Debug)]
struct Inference<O>(O);

impl<O: InferenceRules> Expansion for Inference<O> {
    fn name(&self) -> StaticName {
        Op::name(&self.0)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.0.shape_rules(s, inputs, outputs)
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}

/// `op` as tract's ONNX reader takes it.
pub(crate) fn inference<O: InferenceRules>(op: O) -> Box<dyn InferenceOp> {
    expand(Inference(op))
}

/// A 0/1 attribute, 0 when absent (files written before it existed).
pub(crate) fn flag(node: &NodeProto, op: &str, name: &str) -> TractResult<bool> {
    match node.get_attr_opt::<i64>(name)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(other) => bail!("{op}: attribute `{name}` must be 0 or 1, got {other}"),
    }
}

/// The concrete shapes of typed inputs, every input float32 (segface's operators run on float32
/// only); `op` names the operator in the error.
pub(crate) fn f32_shapes(op: &str, inputs: &[&TypedFact]) -> TractResult<Vec<Vec<usize>>> {
    inputs
        .iter()
        .map(|f| {
            ensure!(f.datum_type == f32::datum_type(), "{op}: inputs must be float32");
            f.shape.iter().map(|d| Ok(d.to_usize()?)).collect()
        })
        .collect()
}

/// Borrowed shapes, as the operators' size checks take them.
pub(crate) fn shape_refs(shapes: &[Vec<usize>]) -> Vec<&[usize]> {
    shapes.iter().map(Vec::as_slice).collect()
}

/// Float32 views of evaluated inputs.
pub(crate) fn f32_views(inputs: &[TValue]) -> TractResult<Vec<ArrayViewD<'_, f32>>> {
    inputs.iter().map(|t| t.to_plain_array_view::<f32>()).collect()
}

/// A view's data as one contiguous slice.
pub(crate) fn contiguous<'a>(op: &str, view: &ArrayViewD<'a, f32>) -> TractResult<&'a [f32]> {
    view.to_slice().with_context(|| format!("{op}: an input is not contiguous"))
}

/// tract's `par_chunks_mut`, each chunk's thread first clearing the upper vector state
/// (`crate::vector_state`): a worker thread may come straight from one of tract's AVX kernels.
pub(crate) fn par_chunks<T: Send>(
    out: &mut [T],
    row_len: usize,
    total_elements: usize,
    f: impl Fn(usize, &mut [T]) -> TractResult<()> + Sync + Send,
) -> TractResult<()> {
    tract_linalg::multithread::par_chunks_mut(out, row_len, total_elements, |first, chunk| {
        crate::vector_state::clear_upper_vector_state();
        f(first, chunk)
    })
}

/// Lanes of the row reductions: independent partial results that the compiler keeps in one
/// vector register (a single f32 accumulator is a serial chain, several times slower).
const LANES: usize = 8;

/// The sum of `f(v)` over `values`, in `LANES` partial sums.
pub(crate) fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest of `values` (negative infinity for none), in `LANES` partial maxima.
pub(crate) fn lane_max(values: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = a.max(v);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// tract's vectorised element-wise kernel for `func` on this CPU, as an in-place function that
/// clears the upper vector state after each call: tract's kernels leave it dirty, and segface's
/// operators continue in SSE code within the same node (`crate::vector_state`).
pub(crate) fn elementwise(func: Func) -> TractResult<impl FnMut(&mut [f32]) -> TractResult<()>> {
    let kernel = func.ew_f32()?;
    Ok(move |values: &mut [f32]| {
        let done = kernel.run(values);
        crate::vector_state::clear_upper_vector_state();
        done
    })
}

/// A float32 tensor of `shape` for an operator's output, every element of which the operator
/// must write before anything reads it.
///
/// It is not zeroed: at R = 512 a parse would clear about 100 MB that its operators overwrite
/// anyway. Builds with debug assertions (the test suite) fill it with NaN instead, so that an
/// element a kernel leaves unwritten turns a test's output into NaN.
pub(crate) fn f32_uninitialised(shape: &[usize]) -> TractResult<Tensor> {
    // SAFETY: as for tract's own operators' outputs: the caller writes every element before
    // anything reads it (the NaN fill below makes the tests check that), and f32 has no invalid
    // values.
    let mut output = unsafe { Tensor::uninitialized::<f32>(shape)? };
    if cfg!(debug_assertions) {
        f32_slice_mut(&mut output)?.fill(f32::NAN);
    }
    Ok(output)
}

/// The tensor of an input that nothing else holds (tract has let go of it: this operator is its
/// last reader), to be written over as an output; `None` where it is shared (a constant, or a
/// value another node still reads), is not float32, or has already been taken.
pub(crate) fn take_exclusive(input: &mut Option<TValue>) -> Option<Tensor> {
    match input {
        Some(t) if t.is_exclusive() && t.datum_type() == f32::datum_type() => {
            // Exclusive: into_tensor moves the tensor out of its Arc without copying it.
            input.take().map(|t| t.into_tensor())
        }
        _ => None,
    }
}

/// The buffer an operator writes its float32 output of `shape` into: the first of the inputs
/// `candidates` (same shape) that nothing else holds ([`take_exclusive`]), else a fresh tensor
/// ([`f32_uninitialised`]); and whether it is fresh, when the operator must fill it from its
/// inputs rather than update it in place.
pub(crate) fn output_buffer(
    inputs: &mut [Option<TValue>],
    candidates: &[usize],
    shape: &[usize],
) -> TractResult<(Tensor, bool)> {
    for &i in candidates {
        if let Some(taken) = take_exclusive(&mut inputs[i]) {
            return Ok((taken, false));
        }
    }
    Ok((f32_uninitialised(shape)?, true))
}

/// The float32 data of the inputs an operator has not taken ([`take_exclusive`]), each
/// contiguous; `op` names the operator in the error.
pub(crate) fn remaining_data<'a>(
    op: &str,
    inputs: &'a [Option<TValue>],
) -> TractResult<Vec<Option<&'a [f32]>>> {
    inputs
        .iter()
        .map(|t| t.as_ref().map(|t| contiguous(op, &t.to_plain_array_view::<f32>()?)).transpose())
        .collect()
}

/// A torch Linear as segface's operators take it: `x W + b` with W (in, out) row-major.
#[derive(Clone, Copy)]
pub(crate) struct Linear<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
}

impl Linear<'_> {
    fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// Columns `columns` of `x W + b` for the rows of `x` (`inputs` wide), written to the same
    /// columns of `out` (rows as wide as W); the other columns are left as they are.
    pub(crate) fn apply(
        &self,
        x: &[f32],
        inputs: usize,
        columns: Range<usize>,
        out: &mut [f32],
    ) -> TractResult<()> {
        let (rows, width) = (x.len() / inputs, self.outputs());
        let x = ArrayView2::from_shape((rows, inputs), x)?;
        let weight = ArrayView2::from_shape((inputs, width), self.weight)?;
        for row in out.chunks_exact_mut(width) {
            row[columns.clone()].copy_from_slice(&self.bias[columns.clone()]);
        }
        let mut out = ArrayViewMut2::from_shape((rows, width), out)?;
        general_mat_mul(
            1.0,
            &x,
            &weight.slice(s![.., columns.clone()]),
            1.0,
            &mut out.slice_mut(s![.., columns]),
        );
        Ok(())
    }
}

/// A float32 tensor's elements, to write.
pub(crate) fn f32_slice_mut(t: &mut Tensor) -> TractResult<&mut [f32]> {
    t.to_plain_array_view_mut::<f32>()?.into_slice().context("output tensor not contiguous")
}

/// A float32 tensor's elements, copied (for tests).
#[cfg(test)]
pub(crate) fn f32_values(t: &Tensor) -> Vec<f32> {
    t.to_plain_array_view::<f32>().expect("a float32 tensor").iter().copied().collect()
}

/// A float32 output of `shape`, every element of which `fill` writes ([`f32_uninitialised`]).
pub(crate) fn f32_output(
    shape: &[usize],
    fill: impl FnOnce(&mut [f32]) -> TractResult<()>,
) -> TractResult<TValue> {
    let mut output = f32_uninitialised(shape)?;
    fill(f32_slice_mut(&mut output)?)?;
    Ok(output.into_tvalue())
}
