//! Multi-head attention's core as one operator: softmax(Q_h K_h^T / sqrt(d)) V_h for every head
//! h, with Q, K and V already projected and the heads side by side in their columns.
//!
//! The layer-by-layer graph splits the heads with reshapes and transpositions that tract
//! materialises and runs the image-to-token softmax as one short
//! row at a time. Here each head's columns are read in place, scores live in a block-sized
//! buffer, and the softmax exponentiates a whole block in one call of tract's vectorised exp.
//! Where one side has at most 32 rows (the class tokens) the kernels of `attention_lanes` run;
//! otherwise strided per-head matrix products.
//!
//! Inputs (float32): Q (M, I), K (L, I), V (L, I) with I = heads * d. Output: (M, I).
//! Attribute `heads`.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

use tract_linalg::multithread::{current_tract_executor, Executor};
use tract_linalg::routines::Func;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::attention_lanes::{self, Job, Layout, Shape, MAX_SHORT_SIDE};
use super::kernels::elementwise::elementwise;
use super::kernels::lanes::{lane_max, lane_sum};
use super::kernels::threads::par_chunks;
use super::tensors::{contiguous, f32_output, f32_shapes, f32_views, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "Attention";

/// Query rows per block: the scores of a block (rows x L) stay small enough for the cache,
/// but a block has at least `MIN_BLOCK_ROWS` rows, or all of them, so that each head's keys are
/// packed for the matrix product a few times, not once per couple of rows.
const BLOCK_ELEMENTS: usize = 1 << 15;
const MIN_BLOCK_ROWS: usize = 64;
/// From this many query rows, a multi-threaded session shares them among its threads.
const PARALLEL_MIN_QUERIES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    queries: usize,
    keys: usize,
    width: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attention {
    pub heads: usize,
}

impl Attention {
    fn dims(&self, shapes: &[&[usize]]) -> TractResult<Dims> {
        ensure!(shapes.len() == 3, "Attention takes Q, K and V, got {} inputs", shapes.len());
        let ([m, i], [l, ik], [lv, iv]) = (shapes[0], shapes[1], shapes[2]) else {
            bail!("Attention: Q, K and V must be matrices, got {:?}", shapes)
        };
        ensure!(
            i == ik && i == iv && l == lv,
            "Attention: Q {:?}, K {:?} and V {:?} do not fit",
            shapes[0],
            shapes[1],
            shapes[2]
        );
        ensure!(
            *i > 0 && i % self.heads == 0,
            "Attention: width {i} is not a multiple of {} heads",
            self.heads
        );
        ensure!(*l > 0, "Attention: no keys");
        Ok(Dims { queries: *m, keys: *l, width: *i })
    }

    /// Writes the attention of every query row into `out`. Many query rows (the image tokens
    /// attending to the class tokens) are shared among a multi-threaded session's threads; a
    /// few rows attending to many keys share the heads.
    fn run(&self, d: Dims, q: &[f32], k: &[f32], v: &[f32], out: &mut [f32]) -> TractResult<()> {
        let head_dim = d.width / self.heads;
        let shape = Shape { queries: d.queries, keys: d.keys, heads: self.heads, head_dim };
        let interleaved = Layout { row_stride: d.width, head_stride: head_dim };
        let all = Job { shape, q, k, v, heads: 0..self.heads, layout: interleaved };
        if d.queries >= PARALLEL_MIN_QUERIES {
            let elements = out.len();
            return par_chunks(out, d.width, elements, |first, chunk| {
                let rows = chunk.len() / d.width;
                let q = &q[first * d.width..(first + rows) * d.width];
                self.part(&Job { shape: Shape { queries: rows, ..shape }, q, ..all.clone() }, chunk)
            });
        }
        if matches!(current_tract_executor(), Executor::SingleThread) || self.heads == 1 {
            return self.part(&all, out);
        }
        // Few queries, many keys: a multi-threaded session shares the heads.
        let work = d.queries * d.keys * d.width;
        attention_lanes::share_heads(shape, work, out, |heads, layout, chunk| {
            self.part(&Job { heads, layout, ..all.clone() }, chunk)
        })
    }

    /// `job`'s heads of all its query rows, written to `out` in its layout (relative to the
    /// first of its heads): with lanes across a short side (`attention_lanes`) where one side is
    /// short, else with per-head matrix products.
    fn part(&self, job: &Job, out: &mut [f32]) -> TractResult<()> {
        let s = job.shape;
        let mut exp = elementwise(Func::Exp)?;
        // The kernel depends on the shape only, never on which heads or rows a thread got, so
        // that any thread count computes the same sums.
        if s.queries <= MAX_SHORT_SIDE {
            return attention_lanes::few_queries(job, out, &mut exp);
        }
        if s.keys <= MAX_SHORT_SIDE && s.head_dim.is_multiple_of(8) {
            return attention_lanes::few_keys(job, out, &mut exp);
        }
        self.run_rows(job, out, &mut exp)
    }

    /// `part` with per-head matrix products, for two long sides.
    fn run_rows(&self, job: &Job, out: &mut [f32], exp: attention_lanes::Exp) -> TractResult<()> {
        let Job { shape, q, k, v, ref heads, layout } = *job;
        let d = Dims { queries: shape.queries, keys: shape.keys, width: shape.heads * shape.head_dim };
        let head_dim = d.width / self.heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let block = (BLOCK_ELEMENTS / d.keys).max(MIN_BLOCK_ROWS).min(d.queries.max(1));
        let mut scores = vec![0f32; block * d.keys];
        let columns = |data, rows, h| head_columns(data, rows, d.width, head_dim, h);
        for first in (0..d.queries).step_by(block) {
            let rows = block.min(d.queries - first);
            let q_block = &q[first * d.width..(first + rows) * d.width];
            for h in heads.clone() {
                let s = &mut scores[..rows * d.keys];
                let mut s_view = ArrayViewMut2::from_shape((rows, d.keys), &mut *s)?;
                general_mat_mul(
                    scale,
                    &columns(q_block, rows, h)?,
                    &columns(k, d.keys, h)?.t(),
                    0.0,
                    &mut s_view,
                );
                for row in s.chunks_exact_mut(d.keys) {
                    let max = lane_max(row);
                    for x in row.iter_mut() {
                        *x -= max;
                    }
                }
                exp(s)?;
                let start = first * layout.row_stride + (h - heads.start) * layout.head_stride;
                let end = start + (rows - 1) * layout.row_stride + head_dim;
                let mut o = ArrayViewMut2::from_shape(
                    (rows, head_dim).strides((layout.row_stride, 1)),
                    &mut out[start..end],
                )?;
                let weights = ArrayView2::from_shape((rows, d.keys), &*s)?;
                general_mat_mul(1.0, &weights, &columns(v, d.keys, h)?, 0.0, &mut o);
                // Softmax's division, applied to the head_dim outputs of a row rather than to its
                // (up to 16384) weights.
                for (mut values, weights) in o.rows_mut().into_iter().zip(s.chunks_exact(d.keys)) {
                    let inv = 1.0 / lane_sum(weights, |w| w);
                    values.mapv_inplace(|x| x * inv);
                }
            }
        }
        Ok(())
    }
}

/// Head `h`'s columns of a (rows, width) row-major matrix.
fn head_columns(
    data: &[f32],
    rows: usize,
    width: usize,
    head_dim: usize,
    h: usize,
) -> TractResult<ArrayView2<'_, f32>> {
    let start = h * head_dim;
    let end = (rows - 1) * width + start + head_dim;
    Ok(ArrayView2::from_shape((rows, head_dim).strides((width, 1)), &data[start..end])?)
}

impl Op for Attention {
    fn name(&self) -> StaticName {
        "SegFaceAttention".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Attention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let d = self.dims(&shapes)?;
        let [q, k, v] = [0, 1, 2].map(|i| contiguous("Attention", &views[i]));
        let (q, k, v) = (q?, k?, v?);
        let output = f32_output(&[d.queries, d.width], |out| match d.queries {
            0 => Ok(()),
            _ => self.run(d, q, k, v, out),
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for Attention {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = self.dims(&shape_refs(&f32_shapes("Attention", inputs)?))?;
        Ok(tvec!(f32::fact([d.queries, d.width])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let d = self.dims(&shape_refs(&f32_shapes("Attention", inputs)?))?;
        Ok(tvec!((Cost::FMA(f32::datum_type()), (2 * d.queries * d.keys * d.width).to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let heads: i64 = node.get_attr("heads")?;
    ensure!((1..=1024).contains(&heads), "Attention: {heads} heads");
    Ok((super::wiring::inference(Attention { heads: heads as usize }), vec![]))
}

impl super::wiring::InferenceRules for Attention {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[0].shape[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::multithread_tract_scope;

    /// A pool of threads (which shares heads, or query rows, among its threads) computes the same
    /// sums as one thread, whichever kernel the shape takes.
    #[test]
    fn a_pool_of_threads_gives_the_same_outputs_as_one() {
        let attention = Attention { heads: 8 };
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 7919 + seed * 131) % 97) as f32 / 48.0 - 1.0).collect()
        };
        // Both sides short (the class tokens' self-attention), few queries, few keys, neither.
        for (queries, keys, width) in [(19, 19, 256), (19, 4096, 128), (4096, 19, 128), (100, 120, 64)] {
            let d = Dims { queries, keys, width };
            let (q, k, v) = (values(queries * width, 1), values(keys * width, 2), values(keys * width, 3));
            let mut single = vec![f32::NAN; queries * width];
            attention.run(d, &q, &k, &v, &mut single).unwrap();
            let mut pooled = vec![f32::NAN; queries * width];
            multithread_tract_scope(Executor::multithread(3), || attention.run(d, &q, &k, &v, &mut pooled))
                .unwrap();
            assert!(single.iter().all(|x| x.is_finite()), "{d:?}");
            assert_eq!(single, pooled, "{d:?}");
        }
    }
}
