//! Float32 tensors as segface's operators read and write them: shapes and contiguous data of
//! their inputs, and output buffers (fresh, or an input nothing else holds, written over).

use tract_onnx::prelude::tract_ndarray::ArrayViewD;
use tract_onnx::tract_hir::internal::*;

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

/// A float32 tensor of `shape` for an operator's output, every element of which the operator
/// must write before anything reads it.
///
/// It is not zeroed: a parse would clear every operator output once more, only for the operator
/// to overwrite it. Builds with debug assertions (the test suite) fill it with NaN instead, so that an
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
