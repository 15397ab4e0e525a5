//! The class tokens attending to the image (SAM's token-to-image cross-attention) without the
//! image's keys and values ever stored.
//!
//! As separate nodes, each of the three token-to-image attentions of a parse holds the image
//! tokens plus their positional encoding, their keys and values and tract's packed copies of
//! the tokens for both projections, and spends time packing them. Here the few-queries kernel
//! (`attention_lanes`) walks the image tokens in blocks of 128 and projects each block's keys and values as it needs them, from the tokens
//! plus the encoding computed on the fly (`positional_encoding`): nothing larger than a block
//! is written, and the tokens are read once.
//!
//! Inputs (float32): Q (M, I), the class tokens' projected queries (M <= 32); X (N, E), the
//! image tokens row-major over the grid; the key projection's W (E, I) and b (I); the value
//! projection's W (E, I) and b (I); G (2, E / 2), SAM's Gaussian matrix, a constant. Attributes
//! `heads`, `rows`, `cols` (the grid). Output: (M, I), the heads' outputs side by side (before
//! the output projection), as `Attention` on the projected Q, (X + P) W_k + b_k and X W_v + b_v.

use tract_linalg::multithread::{current_tract_executor, Executor};
use tract_linalg::routines::Func;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::attention_lanes::{self, Job, KeyBlocks, Layout, Shape, KEY_BLOCK, MAX_SHORT_SIDE};
use super::kernels::elementwise::elementwise;
use super::kernels::linear::Linear;
use super::positional_encoding::{self, AddPositionalEncoding, TakesEncoding};
use super::tensors::{contiguous, f32_output, f32_shapes, f32_views, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "TokenToImageAttention";

/// Its name in tract's graph.
const NAME: &str = "SegFaceTokenToImageAttention";

/// The sizes of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    queries: usize,
    tokens: usize,
    embed: usize,
    width: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenToImageAttention {
    heads: usize,
    encoding: AddPositionalEncoding,
}

impl Eq for TokenToImageAttention {}

/// The two projections of the image tokens.
#[derive(Clone, Copy)]
struct Projections<'a> {
    key: Linear<'a>,
    value: Linear<'a>,
}

impl TokenToImageAttention {
    /// Checks the typed inputs: Q, X, W_k, b_k, W_v, b_v.
    fn dims(&self, shapes: &[&[usize]]) -> TractResult<Dims> {
        ensure!(
            shapes.len() == 6,
            "{OP_TYPE} takes Q, X, W_k, b_k, W_v and b_v, got {} inputs",
            shapes.len()
        );
        let (&[queries, width], &[tokens, embed]) = (shapes[0], shapes[1]) else {
            bail!("{OP_TYPE}: Q and X must be matrices, got {:?} and {:?}", shapes[0], shapes[1])
        };
        self.encoding.check(OP_TYPE, shapes[1])?;
        ensure!(
            (1..=MAX_SHORT_SIDE).contains(&queries),
            "{OP_TYPE}: 1 to {MAX_SHORT_SIDE} queries, got {queries}"
        );
        ensure!(
            width > 0 && width.is_multiple_of(self.heads),
            "{OP_TYPE}: width {width} is not a multiple of {} heads",
            self.heads
        );
        for (i, name) in [(2, "W_k"), (4, "W_v")] {
            ensure!(
                shapes[i] == [embed, width],
                "{OP_TYPE}: {name} must be [{embed}, {width}], got {:?}",
                shapes[i]
            );
            ensure!(
                shapes[i + 1] == [width],
                "{OP_TYPE}: its bias must be [{width}], got {:?}",
                shapes[i + 1]
            );
        }
        Ok(Dims { queries, tokens, embed, width })
    }

    /// Writes the attention of the queries `q` over the image tokens `x` into `out`; a
    /// multi-threaded session shares the heads, each thread projecting its heads' columns only.
    fn run(&self, d: Dims, q: &[f32], x: &[f32], w: Projections, out: &mut [f32]) -> TractResult<()> {
        let head_dim = d.width / self.heads;
        let shape = Shape { queries: d.queries, keys: d.tokens, heads: self.heads, head_dim };
        let job = |heads, layout| Job { shape, q, k: &[], v: &[], heads, layout };
        if matches!(current_tract_executor(), Executor::SingleThread) || self.heads == 1 {
            let interleaved = Layout { row_stride: d.width, head_stride: head_dim };
            return self.part(&job(0..self.heads, interleaved), d, x, w, out);
        }
        let work = 2 * d.tokens * d.embed * d.width;
        attention_lanes::share_heads(shape, work, out, |heads, layout, chunk| {
            self.part(&job(heads, layout), d, x, w, chunk)
        })
    }

    /// `job`'s heads, written to `out` in its layout.
    fn part(&self, job: &Job, d: Dims, x: &[f32], w: Projections, out: &mut [f32]) -> TractResult<()> {
        let head_dim = d.width / self.heads;
        let columns = job.heads.start * head_dim..job.heads.end * head_dim;
        let mut blocks = ProjectedBlocks {
            x,
            embed: d.embed,
            encoding: &self.encoding,
            projections: w,
            columns,
            with_encoding: vec![0f32; KEY_BLOCK * d.embed],
            keys: vec![0f32; KEY_BLOCK * d.width],
            values: vec![0f32; KEY_BLOCK * d.width],
        };
        let mut exp = elementwise(Func::Exp)?;
        attention_lanes::few_queries_from(job, &mut blocks, out, &mut exp)
    }
}

/// Key and value rows projected from the image tokens a block at a time.
struct ProjectedBlocks<'a> {
    x: &'a [f32],
    embed: usize,
    encoding: &'a AddPositionalEncoding,
    projections: Projections<'a>,
    /// The columns of the heads computed here.
    columns: std::ops::Range<usize>,
    /// The block's tokens plus their encoding, and its keys and values.
    with_encoding: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl KeyBlocks for ProjectedBlocks<'_> {
    fn block(&mut self, first: usize, count: usize) -> TractResult<(&[f32], &[f32])> {
        let e = self.embed;
        let width = self.projections.key.bias.len();
        let x = &self.x[first * e..(first + count) * e];
        let with_encoding = &mut self.with_encoding[..count * e];
        self.encoding.tokens(first, with_encoding, Some(x));
        let (keys, values) = (&mut self.keys[..count * width], &mut self.values[..count * width]);
        self.projections.key.apply(with_encoding, e, self.columns.clone(), keys)?;
        self.projections.value.apply(x, e, self.columns.clone(), values)?;
        Ok((keys, values))
    }
}

impl Op for TokenToImageAttention {
    fn name(&self) -> StaticName {
        NAME.into()
    }

    op_as_typed_op!();
}

impl EvalOp for TokenToImageAttention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let d = self.dims(&shapes)?;
        let data = views.iter().map(|v| contiguous(OP_TYPE, v)).collect::<TractResult<Vec<_>>>()?;
        let w = Projections {
            key: Linear { weight: data[2], bias: data[3] },
            value: Linear { weight: data[4], bias: data[5] },
        };
        let output = f32_output(&[d.queries, d.width], |out| self.run(d, data[0], data[1], w, out))?;
        Ok(tvec!(output))
    }
}

impl TypedOp for TokenToImageAttention {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = self.dims(&shape_refs(&f32_shapes(OP_TYPE, inputs)?))?;
        Ok(tvec!(f32::fact([d.queries, d.width])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let d = self.dims(&shape_refs(&f32_shapes(OP_TYPE, inputs)?))?;
        // The two projections, then the scores and the weighted sums.
        let fma = 2 * d.tokens * d.embed * d.width + 2 * d.queries * d.tokens * d.width;
        Ok(tvec!((Cost::FMA(f32::datum_type()), fma.to_dim())))
    }
}

/// The node as read: G is its last input.
#[derive(Clone, Debug)]
struct Read {
    heads: usize,
}

impl TakesEncoding for Read {
    const OP_TYPE: &'static str = OP_TYPE;
    const NAME: &'static str = NAME;
    const INPUTS: usize = 7;

    fn typed(&self, encoding: AddPositionalEncoding) -> TractResult<Box<dyn TypedOp>> {
        Ok(Box::new(TokenToImageAttention { heads: self.heads, encoding }))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let heads: i64 = node.get_attr("heads")?;
    ensure!((1..=1024).contains(&heads), "{OP_TYPE}: {heads} heads");
    Ok((positional_encoding::read_with_encoding(node, Read { heads: heads as usize })?, vec![]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::kernels::attention_lanes::tests::{assert_close, reference, values};
    use tract_linalg::multithread::multithread_tract_scope;

    /// The encoding of a `rows x cols` grid with F = `frequencies`.
    pub(crate) fn encoding(rows: usize, cols: usize, frequencies: usize) -> AddPositionalEncoding {
        AddPositionalEncoding::new(rows, cols, &values(2, frequencies, 9, 1.5)).unwrap()
    }

    /// The tokens `x` plus their encoding.
    pub(crate) fn with_encoding(encoding: &AddPositionalEncoding, x: &[f32]) -> Vec<f32> {
        let mut sum = x.to_vec();
        encoding.tokens(0, &mut sum, None);
        sum
    }

    /// `x W + b` in f64, rounded to f32.
    pub(crate) fn linear(x: &[f32], inputs: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
        let outputs = b.len();
        let mut out = Vec::with_capacity(x.len() / inputs * outputs);
        for row in x.chunks_exact(inputs) {
            for (o, bias) in b.iter().enumerate() {
                let dot: f64 =
                    row.iter().enumerate().map(|(i, &v)| v as f64 * w[i * outputs + o] as f64).sum();
                out.push((dot + *bias as f64) as f32);
            }
        }
        out
    }

    #[test]
    fn matches_attention_over_the_projected_keys_and_values_with_any_thread_count() {
        // One token; less than a key block; two blocks (144 = 128 + 16) with SAM's 19 queries.
        for (rows, cols, f, width, heads, queries) in
            [(1, 1, 4, 8, 1, 1), (4, 5, 8, 16, 2, 3), (12, 12, 16, 64, 8, 19)]
        {
            let (e, n) = (2 * f, rows * cols);
            let op = TokenToImageAttention { heads, encoding: encoding(rows, cols, f) };
            let (q, x) = (values(queries, width, 1, 2.0), values(n, e, 2, 1.0));
            let (wk, bk) = (values(e, width, 3, 0.4), values(1, width, 4, 0.5));
            let (wv, bv) = (values(e, width, 5, 0.4), values(1, width, 6, 0.5));
            let k = linear(&with_encoding(&op.encoding, &x), e, &wk, &bk);
            let v = linear(&x, e, &wv, &bv);
            let shape = Shape { queries, keys: n, heads, head_dim: width / heads };
            let want = reference(shape, &q, &k, &v);
            let d = Dims { queries, tokens: n, embed: e, width };
            let w = Projections {
                key: Linear { weight: &wk, bias: &bk },
                value: Linear { weight: &wv, bias: &bv },
            };
            let run = || {
                let mut out = vec![f32::NAN; queries * width];
                op.run(d, &q, &x, w, &mut out).map(|_| out)
            };
            assert_close(&run().unwrap(), &want, &format!("{d:?}, one thread"));
            let pooled = multithread_tract_scope(Executor::multithread(3), run).unwrap();
            assert_close(&pooled, &want, &format!("{d:?}, three threads"));
        }
    }

    #[test]
    fn inputs_are_checked() {
        let op = TokenToImageAttention { heads: 2, encoding: encoding(4, 5, 8) };
        let good: [&[usize]; 6] = [&[3, 16], &[20, 16], &[16, 16], &[16], &[16, 16], &[16]];
        assert!(op.dims(&good).is_ok());
        for (i, bad) in
            [(0, &[33usize, 16][..]), (0, &[3, 15]), (1, &[21, 16]), (2, &[16, 8]), (5, &[8]), (1, &[20])]
        {
            let mut shapes = good;
            shapes[i] = bad;
            assert!(op.dims(&shapes).is_err(), "input {i} as {bad:?}");
        }
        assert!(op.dims(&good[..5]).is_err());
    }
}
