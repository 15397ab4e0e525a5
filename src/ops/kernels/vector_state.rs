//! tract's operators evaluated one by one, each followed on x86-64 by `vzeroupper`.
//!
//! tract's AVX and AVX-512 kernels return with the upper halves of the vector registers in use
//! (they do not end with `vzeroupper`). Until those halves are cleared, legacy-SSE code runs
//! slower (x86's penalty for SSE code after a dirty upper state): all Rust code built for the
//! baseline x86-64 target, that is tract's generic operators, segface's own operators and its
//! post-processing. On the 2-vCPU AMD Zen 4 here, a depthwise convolution loop ran 2-2.5x slower
//! inside a parse than on its own with the same inputs, and with the state cleared after every
//! operator tract's own depthwise convolutions take about a third less time (README, "Speed").
//! A `vzeroupper` costs a few cycles. Other architectures have no such state; there the
//! evaluation is tract's own.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::OpState;
use tract_onnx::tract_core::plan::eval;

/// Evaluates `node` as tract's plan does, then clears the upper vector state. Pass it to
/// `SimpleState::run_plan_with_eval`.
pub(crate) fn eval_then_clear<F, O>(
    ctx: &tract_onnx::tract_core::internal::EvalContext,
    state: Option<&mut (dyn OpState + 'static)>,
    node: &Node<F, O>,
    inputs: TVec<TValue>,
) -> TractResult<TVec<TValue>>
where
    F: Fact + Clone + 'static,
    O: std::fmt::Debug + std::fmt::Display + AsRef<dyn Op> + AsMut<dyn Op> + Clone + 'static,
{
    let outputs = eval(ctx, state, node, inputs);
    clear_upper_vector_state();
    outputs
}

/// `vzeroupper` where the CPU has AVX; nothing elsewhere.
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above), which is all `vzeroupper` needs. It
        // only zeroes the upper halves of the vector registers, and between two function calls
        // no live value is held there (the ABI saves no vector register across a call).
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper()
}
