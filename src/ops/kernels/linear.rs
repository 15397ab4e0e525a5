//! A torch `Linear` layer on a block of rows.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayView2, ArrayViewMut2};
use tract_onnx::prelude::TractResult;

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
