//! tract's vectorised element-wise kernels (exp, erf, ...) as segface's operators call them.

use tract_linalg::routines::Func;
use tract_onnx::prelude::TractResult;

/// tract's vectorised element-wise kernel for `func` on this CPU, as an in-place function that
/// clears the upper vector state after each call: tract's kernels leave it dirty, and segface's
/// operators continue in SSE code within the same node (`crate::ops::kernels::vector_state`).
pub(crate) fn elementwise(func: Func) -> TractResult<impl FnMut(&mut [f32]) -> TractResult<()>> {
    let kernel = func.ew_f32()?;
    Ok(move |values: &mut [f32]| {
        let done = kernel.run(values);
        crate::ops::kernels::vector_state::clear_upper_vector_state();
        done
    })
}
