//! Work shared across a session's thread pool.

use tract_onnx::prelude::TractResult;

/// tract's `par_chunks_mut`, each chunk's thread first clearing the upper vector state
/// (`crate::ops::kernels::vector_state`): a worker thread may come straight from one of tract's AVX kernels.
pub(crate) fn par_chunks<T: Send>(
    out: &mut [T],
    row_len: usize,
    total_elements: usize,
    f: impl Fn(usize, &mut [T]) -> TractResult<()> + Sync + Send,
) -> TractResult<()> {
    tract_linalg::multithread::par_chunks_mut(out, row_len, total_elements, |first, chunk| {
        crate::ops::kernels::vector_state::clear_upper_vector_state();
        f(first, chunk)
    })
}
