//! The image attending to the class tokens (SAM's image-to-token cross-attention), with its
//! residual sum and norm, one block of image tokens at a time.
//!
//! As separate nodes, an image-to-token attention at R = 512 writes the image tokens plus their
//! positional encoding, their queries, the heads' outputs, the output
//! projection and the norm's result, and tract packs the tokens twice for its products.
//! Here each block of 128 image tokens goes through all of it while it is in the cache: the
//! encoding is added on the fly (`positional_encoding`), the queries projected, the few-keys
//! kernel (`attention_lanes`) reads the class tokens, the output is projected, added to the
//! tokens and normalised, and written over the tokens when nothing else holds them.
//!
//! Inputs (float32): X (N, E), the image tokens row-major over the grid; K (M, I) and V (M, I),
//! the class tokens' projected keys and values (M <= 32); the query projection's W (E, I) and b
//! (I); the output projection's W (I, E) and b (E); the norm's scale (E) and bias (E); G (2, E /
//! 2), SAM's Gaussian matrix, a constant. Attributes `heads` (I / heads a multiple of 8),
//! `epsilon`, `rows`, `cols` (the grid). Output (N, E): LayerNorm(X + out_proj(attention of
//! (X + P) W_q + b_q over K and V)).

use tract_linalg::routines::Func;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::attention_lanes::{self, Job, Layout, Shape, MAX_SHORT_SIDE};
use super::kernels::elementwise::elementwise;
use super::kernels::linear::Linear;
use super::kernels::threads::par_chunks;
use super::layer_norm::{Affine, LayerNorm, Rows};
use super::positional_encoding::{self, AddPositionalEncoding, TakesEncoding};
use super::tensors::{f32_shapes, f32_slice_mut, output_buffer, remaining_data, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "ImageToTokenAttention";

/// Its name in tract's graph.
const NAME: &str = "SegFaceImageToTokenAttention";

/// Image tokens per block: a block's intermediates (about 0.5 MB at E = 256) stay in L2.
const BLOCK: usize = 128;

/// The sizes of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    tokens: usize,
    embed: usize,
    keys: usize,
    width: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImageToTokenAttention {
    heads: usize,
    epsilon: f32,
    encoding: AddPositionalEncoding,
}

impl Eq for ImageToTokenAttention {}

/// The weights of one evaluation, borrowed from the inputs.
#[derive(Clone, Copy)]
struct Weights<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    query: Linear<'a>,
    output: Linear<'a>,
    norm: Affine<'a>,
}

/// Per-thread buffers for one block.
struct Scratch {
    with_encoding: Vec<f32>,
    queries: Vec<f32>,
    heads: Vec<f32>,
    projected: Vec<f32>,
}

impl ImageToTokenAttention {
    /// Checks the typed inputs: X, K, V, W_q, b_q, W_o, b_o, scale, bias.
    fn dims(&self, shapes: &[&[usize]]) -> TractResult<Dims> {
        ensure!(shapes.len() == 9, "{OP_TYPE} takes 9 inputs once typed, got {}", shapes.len());
        let (&[tokens, embed], &[keys, width]) = (shapes[0], shapes[1]) else {
            bail!("{OP_TYPE}: X and K must be matrices, got {:?} and {:?}", shapes[0], shapes[1])
        };
        self.encoding.check(OP_TYPE, shapes[0])?;
        ensure!((1..=MAX_SHORT_SIDE).contains(&keys), "{OP_TYPE}: 1 to {MAX_SHORT_SIDE} keys, got {keys}");
        ensure!(shapes[2] == [keys, width], "{OP_TYPE}: V must be K's shape, got {:?}", shapes[2]);
        ensure!(
            width > 0 && width.is_multiple_of(self.heads) && (width / self.heads).is_multiple_of(8),
            "{OP_TYPE}: width {width} is not {} heads of a multiple of 8 columns",
            self.heads
        );
        let expected: [(&str, &[usize]); 6] = [
            ("W_q", &[embed, width]),
            ("b_q", &[width]),
            ("W_o", &[width, embed]),
            ("b_o", &[embed]),
            ("the norm's scale", &[embed]),
            ("the norm's bias", &[embed]),
        ];
        for (i, (name, shape)) in expected.into_iter().enumerate() {
            ensure!(shapes[3 + i] == shape, "{OP_TYPE}: {name} must be {shape:?}, got {:?}", shapes[3 + i]);
        }
        Ok(Dims { tokens, embed, keys, width })
    }

    /// The output rows of tokens `first..` (`out`, holding those tokens already unless `copy`
    /// gives them), a block at a time.
    fn rows(
        &self,
        d: Dims,
        first: usize,
        out: &mut [f32],
        copy: Option<&[f32]>,
        w: Weights,
    ) -> TractResult<()> {
        let (e, i) = (d.embed, d.width);
        let mut s = Scratch {
            with_encoding: vec![0f32; BLOCK * e],
            queries: vec![0f32; BLOCK * i],
            heads: vec![0f32; BLOCK * i],
            projected: vec![0f32; BLOCK * e],
        };
        let mut exp = elementwise(Func::Exp)?;
        let norm = LayerNorm { epsilon: self.epsilon, residual: true };
        for (b, block) in out.chunks_mut(BLOCK * e).enumerate() {
            let n = block.len() / e;
            let span = b * BLOCK * e..b * BLOCK * e + block.len();
            let copy = copy.map(|x| &x[span]);
            let x: &[f32] = copy.unwrap_or(block);
            let with_encoding = &mut s.with_encoding[..n * e];
            self.encoding.tokens(first + b * BLOCK, with_encoding, Some(x));
            let queries = &mut s.queries[..n * i];
            w.query.apply(with_encoding, e, 0..i, queries)?;
            let shape = Shape { queries: n, keys: d.keys, heads: self.heads, head_dim: i / self.heads };
            let layout = Layout { row_stride: i, head_stride: i / self.heads };
            let job = Job { shape, q: queries, k: w.keys, v: w.values, heads: 0..self.heads, layout };
            let heads = &mut s.heads[..n * i];
            attention_lanes::few_keys(&job, heads, &mut exp)?;
            let projected = &mut s.projected[..n * e];
            w.output.apply(heads, i, 0..e, projected)?;
            norm.rows(block, Rows { copy, add: Some(projected) }, w.norm);
        }
        Ok(())
    }

    /// The output, in X's buffer when nothing else holds X.
    fn run(&self, inputs: TVec<TValue>) -> TractResult<Tensor> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let d = self.dims(&shape_refs(&shapes))?;
        let mut inputs: Vec<Option<TValue>> = inputs.into_iter().map(Some).collect();
        let (mut out, fresh) = output_buffer(&mut inputs, &[0], &shapes[0])?;
        let data = remaining_data(OP_TYPE, &inputs)?;
        let input = |i: usize| data[i].with_context(|| format!("{OP_TYPE}: input {i}"));
        let w = Weights {
            keys: input(1)?,
            values: input(2)?,
            query: Linear { weight: input(3)?, bias: input(4)? },
            output: Linear { weight: input(5)?, bias: input(6)? },
            norm: Affine { scale: input(7)?, bias: input(8)? },
        };
        let copy = if fresh { data[0] } else { None };
        let e = d.embed;
        let work = d.tokens * e * d.width;
        // Tokens are independent: a multi-threaded session shares them among its threads.
        par_chunks(f32_slice_mut(&mut out)?, e, work, |first, rows| {
            let copy = copy.map(|x| &x[first * e..first * e + rows.len()]);
            self.rows(d, first, rows, copy, w)
        })?;
        Ok(out)
    }
}

impl Op for ImageToTokenAttention {
    fn name(&self) -> StaticName {
        NAME.into()
    }

    op_as_typed_op!();
}

impl EvalOp for ImageToTokenAttention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(inputs)?.into_tvalue()))
    }
}

impl TypedOp for ImageToTokenAttention {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shapes = f32_shapes(OP_TYPE, inputs)?;
        self.dims(&shape_refs(&shapes))?;
        Ok(tvec!(f32::fact(&shapes[0])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let d = self.dims(&shape_refs(&f32_shapes(OP_TYPE, inputs)?))?;
        // The two projections, the scores and weighted sums, and the norm.
        let fma = 2 * d.tokens * d.embed * d.width + 2 * d.tokens * d.keys * d.width + 3 * d.tokens * d.embed;
        Ok(tvec!((Cost::FMA(f32::datum_type()), fma.to_dim())))
    }
}

/// The node as read: G is its last input.
#[derive(Clone, Debug)]
struct Read {
    heads: usize,
    epsilon: f32,
}

impl TakesEncoding for Read {
    const OP_TYPE: &'static str = OP_TYPE;
    const NAME: &'static str = NAME;
    const INPUTS: usize = 10;

    fn typed(&self, encoding: AddPositionalEncoding) -> TractResult<Box<dyn TypedOp>> {
        Ok(Box::new(ImageToTokenAttention { heads: self.heads, epsilon: self.epsilon, encoding }))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let heads: i64 = node.get_attr("heads")?;
    ensure!((1..=1024).contains(&heads), "{OP_TYPE}: {heads} heads");
    let epsilon: f32 = node.get_attr("epsilon")?;
    ensure!(epsilon.is_finite() && epsilon > 0.0, "{OP_TYPE}: epsilon must be positive, got {epsilon}");
    let read = Read { heads: heads as usize, epsilon };
    Ok((positional_encoding::read_with_encoding(node, read)?, vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::kernels::attention_lanes::tests::{reference, values};
    use crate::ops::tensors::f32_values;
    use crate::ops::token_to_image::tests::{encoding, linear, with_encoding};
    use tract_linalg::multithread::{multithread_tract_scope, Executor};

    /// LayerNorm(X + out_proj(attention)) by the layers' definitions, in f64 where it matters.
    fn expected(op: &ImageToTokenAttention, inputs: &[Vec<f32>], width: usize, keys: usize) -> Vec<f64> {
        let [x, k, v, wq, bq, wo, bo, scale, bias] = inputs else { unreachable!() };
        let e = scale.len();
        let q = linear(&with_encoding(&op.encoding, x), e, wq, bq);
        let shape = Shape { queries: x.len() / e, keys, heads: op.heads, head_dim: width / op.heads };
        let attended: Vec<f32> = reference(shape, &q, k, v).into_iter().map(|a| a as f32).collect();
        let projected = linear(&attended, width, wo, bo);
        let mut out = Vec::with_capacity(x.len());
        for (row, y) in x.chunks_exact(e).zip(projected.chunks_exact(e)) {
            let z: Vec<f64> = row.iter().zip(y).map(|(&a, &b)| a as f64 + b as f64).collect();
            let mean = z.iter().sum::<f64>() / e as f64;
            let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / e as f64;
            let inv = 1.0 / (var + op.epsilon as f64).sqrt();
            out.extend(
                z.iter().enumerate().map(|(j, v)| (v - mean) * inv * scale[j] as f64 + bias[j] as f64),
            );
        }
        out
    }

    /// The operator's output with X exclusive (written over) or held elsewhere (left alone).
    fn run(op: &ImageToTokenAttention, inputs: &[Vec<f32>], shapes: &[Vec<usize>], held: bool) -> Vec<f32> {
        let values: TVec<TValue> = inputs
            .iter()
            .zip(shapes)
            .map(|(data, shape)| Tensor::from_shape(shape, data).unwrap().into_tvalue())
            .collect();
        let kept = held.then(|| values[0].clone());
        let out = f32_values(&op.run(values).unwrap());
        if let Some(kept) = kept {
            assert_eq!(f32_values(&kept.into_tensor()), inputs[0], "a held X was written over");
        }
        out
    }

    #[test]
    fn matches_the_layers_in_any_buffer_with_any_thread_count() {
        // Less than a block; two blocks (144 = 128 + 16) with SAM's 19 class tokens.
        for (rows, cols, f, width, heads, keys) in [(3, 5, 8, 16, 2, 3), (12, 12, 16, 64, 4, 19)] {
            let (e, n) = (2 * f, rows * cols);
            let op = ImageToTokenAttention { heads, epsilon: 1e-5, encoding: encoding(rows, cols, f) };
            let shapes = [
                vec![n, e],
                vec![keys, width],
                vec![keys, width],
                vec![e, width],
                vec![width],
                vec![width, e],
                vec![e],
                vec![e],
                vec![e],
            ];
            let inputs: Vec<Vec<f32>> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    values(s[0], s.get(1).copied().unwrap_or(1), i + 1, if i == 0 { 1.0 } else { 0.5 })
                })
                .collect();
            let want = expected(&op, &inputs, width, keys);
            let scale = want.iter().fold(1f64, |m, x| m.max(x.abs()));
            for (held, threads) in [(true, 1), (false, 1), (true, 3), (false, 3)] {
                let got = multithread_tract_scope(Executor::multithread(threads), || {
                    run(&op, &inputs, &shapes, held)
                });
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-4 * scale,
                        "{rows}x{cols}, held {held}, {threads} threads: element {i} is {g}, expected {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn inputs_are_checked() {
        let op = ImageToTokenAttention { heads: 2, epsilon: 1e-5, encoding: encoding(4, 5, 8) };
        let good: [&[usize]; 9] =
            [&[20, 16], &[3, 16], &[3, 16], &[16, 16], &[16], &[16, 16], &[16], &[16], &[16]];
        assert!(op.dims(&good).is_ok());
        let bad: [(usize, &[usize]); 7] = [
            (0, &[21, 16]),
            (1, &[33, 16]),
            (2, &[4, 16]),
            (3, &[16, 8]),
            (5, &[8, 16]),
            (7, &[15]),
            (8, &[16, 1]),
        ];
        for (i, shape) in bad {
            let mut shapes = good;
            shapes[i] = shape;
            assert!(op.dims(&shapes).is_err(), "input {i} as {shape:?}");
        }
        // Heads of 4 columns: not a multiple of the kernel's 8 lanes.
        let narrow = ImageToTokenAttention { heads: 4, ..op };
        assert!(narrow.dims(&good).is_err());
    }
}
