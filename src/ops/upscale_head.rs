//! The decoder's tail as one operator: upscaler (ConvTranspose 2x2/2 -> LayerNorm2d -> GELU ->
//! ConvTranspose 2x2/2 -> GELU) and the hypernetwork head's per-class dot product, from the
//! image tokens straight to the (1, C, R, R) logits.
//!
//! Every step after the tokens is per pixel (a 2x2 stride-2 transposed convolution maps each
//! input pixel to its own 2x2 block), so the operator walks one row of tokens at a time: three
//! matrix products on row-sized blocks, the norm and GELU in between, each result written once.
//! None of the 16 MB and 32 MB intermediate maps of the layer-by-layer graph is ever stored, and
//! the products run on contiguous blocks instead of tract's transposed and re-packed operands.
//!
//! Inputs (all float32):
//! 0. image tokens, the G x G grid row-major (G = R / 4): (G * G, E) with attribute
//!    `channels_last` = 1, the layout the exporter keeps the transformer's tokens in; channel-major
//!    (E, G * G) without it (early converters' form, docs/model-format.md)
//! 1. first kernel (E, 4 * M1): column `(2 dy + dx) * M1 + o` is ConvTranspose weight [., o, dy, dx]
//! 2. first bias (M1)   3. norm weight (M1)   4. norm bias (M1)
//! 5. second kernel (M1, 4 * M2), laid out as the first   6. second bias (M2)
//! 7. class weights (C, M2): the hypernetwork MLP's output, one row per class
//!
//! Output: (1, C, R, R) logits. Attributes: `epsilon`, the norm's epsilon; `channels_last`.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::elementwise::elementwise;
use super::kernels::threads::par_chunks;
use super::layer_norm::mean_and_inverse_deviation;
use super::tensors::{contiguous, f32_output, f32_shapes, f32_views, shape_refs};

use tract_linalg::multithread::{current_tract_executor, Executor};
use tract_linalg::routines::Func;

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "UpscaleHead";

/// The sizes of one evaluation, read off (and checked against) the input shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    grid: usize,
    embed: usize,
    mid: usize,
    last: usize,
    classes: usize,
}

impl Dims {
    fn of(shapes: &[&[usize]], channels_last: bool) -> TractResult<Dims> {
        ensure!(shapes.len() == 8, "UpscaleHead takes 8 inputs, got {}", shapes.len());
        let (embed, tokens) = match (shapes[0], channels_last) {
            (&[embed, tokens], false) | (&[tokens, embed], true) => (embed, tokens),
            _ => bail!("UpscaleHead: tokens must be a matrix, got {:?}", shapes[0]),
        };
        let grid = (tokens as f64).sqrt().round() as usize;
        ensure!(grid * grid == tokens && grid > 0, "UpscaleHead: {tokens} tokens are not a square grid");
        ensure!(embed > 0, "UpscaleHead: the tokens have no channels");
        let [e1, cols1] = *shapes[1] else { bail!("UpscaleHead: first kernel must be rank 2") };
        ensure!(e1 == embed && cols1 % 4 == 0 && cols1 > 0, "UpscaleHead: first kernel is {e1}x{cols1}");
        let mid = cols1 / 4;
        for (i, name) in [(2, "first bias"), (3, "norm weight"), (4, "norm bias")] {
            ensure!(shapes[i] == [mid], "UpscaleHead: {name} must be ({mid}), got {:?}", shapes[i]);
        }
        let [m2, cols2] = *shapes[5] else { bail!("UpscaleHead: second kernel must be rank 2") };
        ensure!(m2 == mid && cols2 % 4 == 0 && cols2 > 0, "UpscaleHead: second kernel is {m2}x{cols2}");
        let last = cols2 / 4;
        ensure!(shapes[6] == [last], "UpscaleHead: second bias must be ({last}), got {:?}", shapes[6]);
        let [classes, k] = *shapes[7] else { bail!("UpscaleHead: class weights must be rank 2") };
        ensure!(k == last && classes > 0, "UpscaleHead: class weights are {classes}x{k}, expected Cx{last}");
        Ok(Dims { grid, embed, mid, last, classes })
    }

    fn resolution(&self) -> usize {
        4 * self.grid
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpscaleHead {
    pub epsilon: f32,
    /// Tokens (G * G, E) instead of (E, G * G).
    pub channels_last: bool,
}

impl Eq for UpscaleHead {}

/// The weights of one evaluation, borrowed from the inputs.
struct Weights<'a> {
    first: ArrayView2<'a, f32>,
    first_bias: &'a [f32],
    norm_weight: &'a [f32],
    norm_bias: &'a [f32],
    second: ArrayView2<'a, f32>,
    second_bias: &'a [f32],
    classes: ArrayView2<'a, f32>,
}

/// Token rows per parallel group when a session runs several threads: their logits are written
/// to a group buffer (C x 4 x R floats per row, 39,000 at R = 512) and copied into place.
const GROUP_ROWS: usize = 8;

/// An in-place element-wise kernel over a slice (here tract's erf).
type InPlaceKernel = Box<dyn FnMut(&mut [f32]) -> TractResult<()>>;

/// Per-thread buffers for one token row.
struct Scratch {
    /// G tokens -> 4G first-stage pixels of M1 channels.
    first: Vec<f32>,
    /// -> 16G output pixels of M2 channels, in (token, first-stage pixel) order.
    second: Vec<f32>,
    /// The same 16G pixels as 4 output rows of R pixels.
    rows: Vec<f32>,
    /// tract's erf kernel for this CPU, looked up once per thread, and its input buffer.
    erf: InPlaceKernel,
    erf_input: Vec<f32>,
}

impl Scratch {
    fn new(d: Dims) -> TractResult<Scratch> {
        let (g, r) = (d.grid, d.resolution());
        Ok(Scratch {
            first: vec![0f32; g * 4 * d.mid],
            second: vec![0f32; 4 * g * 4 * d.last],
            rows: vec![0f32; 4 * r * d.last],
            erf: Box::new(elementwise(Func::Erf)?),
            erf_input: vec![0f32; 1024],
        })
    }
}

impl UpscaleHead {
    /// Writes the (C, R, R) logits of `tokens` into `out`; with a multi-threaded session, groups
    /// of token rows are shared among its threads.
    fn run(&self, d: Dims, tokens: &[f32], w: &Weights, out: &mut [f32]) -> TractResult<()> {
        let (g, r) = (d.grid, d.resolution());
        if matches!(current_tract_executor(), Executor::SingleThread) {
            let mut scratch = Scratch::new(d)?;
            for ty in 0..g {
                // Class planes are R * R apart; the token row's 4 output rows start at 4 ty.
                self.token_row(d, ty, tokens, w, &mut scratch, out, r * r, 4 * ty * r)?;
            }
            return Ok(());
        }
        let band = d.classes * 4 * r;
        let mut group = vec![0f32; GROUP_ROWS.min(g) * band];
        for first_row in (0..g).step_by(GROUP_ROWS) {
            let rows = GROUP_ROWS.min(g - first_row);
            let buffer = &mut group[..rows * band];
            let elements = buffer.len();
            par_chunks(buffer, band, elements, |i, chunk| {
                let mut scratch = Scratch::new(d)?;
                for (j, dst) in chunk.chunks_exact_mut(band).enumerate() {
                    self.token_row(d, first_row + i + j, tokens, w, &mut scratch, dst, 4 * r, 0)?;
                }
                Ok(())
            })?;
            for (j, rows_of_row) in buffer.chunks_exact(band).enumerate() {
                let y = 4 * (first_row + j);
                for (c, src) in rows_of_row.chunks_exact(4 * r).enumerate() {
                    out[c * r * r + y * r..c * r * r + (y + 4) * r].copy_from_slice(src);
                }
            }
        }
        Ok(())
    }

    /// The logits of token row `ty`: its 4 output rows of every class go to `dst`, class planes
    /// `class_stride` apart, starting at `offset`.
    #[allow(clippy::too_many_arguments)]
    fn token_row(
        &self,
        d: Dims,
        ty: usize,
        tokens: &[f32],
        w: &Weights,
        s: &mut Scratch,
        dst: &mut [f32],
        class_stride: usize,
        offset: usize,
    ) -> TractResult<()> {
        let (g, r) = (d.grid, d.resolution());
        // Tokens (ty, 0..G) as a (G, E) matrix: G rows of the input, or G columns of a
        // channel-major input (each channel's G * G tokens apart).
        let block = if self.channels_last {
            ArrayView2::from_shape((g, d.embed), &tokens[ty * g * d.embed..(ty + 1) * g * d.embed])?
        } else {
            let n = g * g;
            ArrayView2::from_shape(
                (g, d.embed).strides((1, n)),
                &tokens[ty * g..(d.embed - 1) * n + (ty + 1) * g],
            )?
        };
        let mut x1 = ArrayViewMut2::from_shape((g, 4 * d.mid), &mut s.first)?;
        general_mat_mul(1.0, &block, &w.first, 0.0, &mut x1);
        for pixel in s.first.chunks_exact_mut(d.mid) {
            self.norm(pixel, w);
        }
        gelu_with(&mut *s.erf, &mut s.erf_input, &mut s.first)?;
        let x1 = ArrayView2::from_shape((4 * g, d.mid), &s.first)?;
        let mut x2 = ArrayViewMut2::from_shape((4 * g, 4 * d.last), &mut s.second)?;
        general_mat_mul(1.0, &x1, &w.second, 0.0, &mut x2);
        // Row (tx, dy1, dx1) of `second`, column block (dy2, dx2) is output pixel
        // (4 ty + 2 dy1 + dy2, 4 tx + 2 dx1 + dx2).
        for (i, pixel) in s.second.chunks_exact(4 * d.last).enumerate() {
            let (tx, dy1, dx1) = (i / 4, (i / 2) % 2, i % 2);
            for (s2, values) in pixel.chunks_exact(d.last).enumerate() {
                let (dy2, dx2) = (s2 / 2, s2 % 2);
                let (band, x) = (2 * dy1 + dy2, 4 * tx + 2 * dx1 + dx2);
                let out = &mut s.rows[(band * r + x) * d.last..(band * r + x + 1) * d.last];
                for ((o, v), b) in out.iter_mut().zip(values).zip(w.second_bias) {
                    *o = v + b;
                }
            }
        }
        gelu_with(&mut *s.erf, &mut s.erf_input, &mut s.rows)?;
        // The 4 output rows of a class are 4 R contiguous pixels (one product for all four);
        // classes are `class_stride` apart.
        let pixels = ArrayView2::from_shape((4 * r, d.last), &s.rows[..])?;
        let end = (d.classes - 1) * class_stride + offset + 4 * r;
        let mut logits =
            ArrayViewMut2::from_shape((d.classes, 4 * r).strides((class_stride, 1)), &mut dst[offset..end])?;
        general_mat_mul(1.0, &w.classes, &pixels.t(), 0.0, &mut logits);
        Ok(())
    }

    /// Bias and LayerNorm over the channels (biased variance) of one first-stage pixel.
    fn norm(&self, pixel: &mut [f32], w: &Weights) {
        for (v, b) in pixel.iter_mut().zip(w.first_bias) {
            *v += b;
        }
        let (mean, inv) = mean_and_inverse_deviation(pixel, self.epsilon);
        for ((v, g), b) in pixel.iter_mut().zip(w.norm_weight).zip(w.norm_bias) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// The exact GELU, x (1 + erf(x / sqrt 2)) / 2, in place, on tract's vectorised erf kernel for
/// this CPU (the one tract's own GELU runs, so the fused and the portable graphs round alike).
fn gelu_with(
    erf: &mut dyn FnMut(&mut [f32]) -> TractResult<()>,
    scaled: &mut [f32],
    values: &mut [f32],
) -> TractResult<()> {
    for chunk in values.chunks_mut(scaled.len()) {
        let scaled = &mut scaled[..chunk.len()];
        for (s, x) in scaled.iter_mut().zip(chunk.iter()) {
            *s = x * std::f32::consts::FRAC_1_SQRT_2;
        }
        erf(scaled)?;
        for (x, e) in chunk.iter_mut().zip(scaled.iter()) {
            *x = (*x * 0.5) * (e + 1.0);
        }
    }
    Ok(())
}

impl Op for UpscaleHead {
    fn name(&self) -> StaticName {
        "SegFaceUpscaleHead".into()
    }

    op_as_typed_op!();
}

impl EvalOp for UpscaleHead {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let d = Dims::of(&shapes, self.channels_last)?;
        let slice = |i: usize| contiguous("UpscaleHead", &views[i]);
        let matrix = |i: usize| -> TractResult<ArrayView2<f32>> {
            let s = shapes[i];
            Ok(ArrayView2::from_shape((s[0], s[1]), slice(i)?)?)
        };
        let w = Weights {
            first: matrix(1)?,
            first_bias: slice(2)?,
            norm_weight: slice(3)?,
            norm_bias: slice(4)?,
            second: matrix(5)?,
            second_bias: slice(6)?,
            classes: matrix(7)?,
        };
        let tokens = slice(0)?;
        let r = d.resolution();
        let output = f32_output(&[1, d.classes, r, r], |out| self.run(d, tokens, &w, out))?;
        Ok(tvec!(output))
    }
}

impl TypedOp for UpscaleHead {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = Dims::of(&shape_refs(&f32_shapes("UpscaleHead", inputs)?), self.channels_last)?;
        let r = d.resolution();
        Ok(tvec!(f32::fact([1, d.classes, r, r])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let d = Dims::of(&shape_refs(&f32_shapes("UpscaleHead", inputs)?), self.channels_last)?;
        let tokens = d.grid * d.grid;
        let macs =
            tokens * d.embed * 4 * d.mid + 4 * tokens * d.mid * 4 * d.last + 16 * tokens * d.last * d.classes;
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let epsilon: f32 = node.get_attr("epsilon")?;
    ensure!(epsilon.is_finite() && epsilon > 0.0, "UpscaleHead: epsilon must be positive, got {epsilon}");
    let channels_last = super::wiring::flag(node, "UpscaleHead", "channels_last")?;
    Ok((super::wiring::inference(UpscaleHead { epsilon, channels_last }), vec![]))
}

impl super::wiring::InferenceRules for UpscaleHead {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 8)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], 1.to_dim())?;
        s.equals(&outputs[0].shape[1], &inputs[7].shape[0])?;
        let tokens_axis = if self.channels_last { 0 } else { 1 };
        s.given(&inputs[0].shape[tokens_axis], move |s, tokens| {
            let tokens = tokens.to_usize()?;
            let grid = (tokens as f64).sqrt().round() as usize;
            ensure!(grid * grid == tokens, "UpscaleHead: {tokens} tokens are not a square grid");
            s.equals(&outputs[0].shape[2], (4 * grid).to_dim())?;
            s.equals(&outputs[0].shape[3], (4 * grid).to_dim())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(tokens: [usize; 2], first: [usize; 2], classes: [usize; 2]) -> Vec<Vec<usize>> {
        vec![
            tokens.to_vec(),
            first.to_vec(),
            vec![64],
            vec![64],
            vec![64],
            vec![64, 128],
            vec![32],
            classes.to_vec(),
        ]
    }

    /// The buffers of a test's weights, each filled by `values(len, seed)`.
    struct WeightData([Vec<f32>; 7]);

    impl WeightData {
        fn new(d: Dims, values: impl Fn(usize, usize) -> Vec<f32>) -> WeightData {
            let lens =
                [d.embed * 4 * d.mid, d.mid, d.mid, d.mid, d.mid * 4 * d.last, d.last, d.classes * d.last];
            WeightData(std::array::from_fn(|i| values(lens[i], i + 1)))
        }

        fn weights(&self, d: Dims) -> Weights<'_> {
            let [first, first_bias, norm_weight, norm_bias, second, second_bias, classes] = &self.0;
            Weights {
                first: ArrayView2::from_shape((d.embed, 4 * d.mid), first).unwrap(),
                first_bias,
                norm_weight,
                norm_bias,
                second: ArrayView2::from_shape((d.mid, 4 * d.last), second).unwrap(),
                second_bias,
                classes: ArrayView2::from_shape((d.classes, d.last), classes).unwrap(),
            }
        }
    }

    /// Tokens channels last and channel-major give the same logits.
    #[test]
    fn both_token_layouts_give_the_same_logits() {
        let d = Dims { grid: 3, embed: 5, mid: 4, last: 3, classes: 2 };
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 29 + seed * 13) % 17) as f32 * 0.15 - 1.2).collect()
        };
        let n = d.grid * d.grid;
        let data = WeightData::new(d, values);
        let w = data.weights(d);
        let rows = values(n * d.embed, 8);
        let mut columns = vec![0f32; rows.len()];
        for t in 0..n {
            for e in 0..d.embed {
                columns[e * n + t] = rows[t * d.embed + e];
            }
        }
        let r = d.resolution();
        let logits = |channels_last: bool, tokens: &[f32]| {
            let mut out = vec![0f32; d.classes * r * r];
            UpscaleHead { epsilon: 1e-6, channels_last }.run(d, tokens, &w, &mut out).unwrap();
            out
        };
        let (a, b) = (logits(true, &rows), logits(false, &columns));
        assert!(a.iter().any(|v| v.abs() > 1e-3));
        assert_eq!(a, b);
        // The layouts are not interchangeable: the same buffer read the other way differs.
        assert_ne!(logits(true, &columns), b);
    }

    /// The logits by the definition, pixel by pixel in f64: ConvTranspose 2x2/2 (+ bias) ->
    /// LayerNorm2d -> GELU -> ConvTranspose 2x2/2 (+ bias) -> GELU -> per-class dot product.
    fn definition(d: Dims, eps: f64, tokens: &[f32], w: &Weights) -> Vec<f64> {
        // erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7, far inside the tolerance).
        let erf = |x: f64| {
            let t = 1.0 / (1.0 + 0.3275911 * x.abs());
            let poly = t
                * (0.254829592
                    + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
            (1.0 - poly * (-x * x).exp()).copysign(x)
        };
        let gelu = |x: f64| 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2));
        let r = d.resolution();
        let mut out = vec![0f64; d.classes * r * r];
        for (t, token) in tokens.chunks_exact(d.embed).enumerate() {
            let (ty, tx) = (t / d.grid, t % d.grid);
            for s1 in 0..4 {
                let mut x1: Vec<f64> = (0..d.mid)
                    .map(|o| {
                        let dot: f64 = token
                            .iter()
                            .enumerate()
                            .map(|(e, &v)| v as f64 * w.first[[e, s1 * d.mid + o]] as f64)
                            .sum();
                        dot + w.first_bias[o] as f64
                    })
                    .collect();
                let mean = x1.iter().sum::<f64>() / d.mid as f64;
                let var = x1.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.mid as f64;
                for (o, x) in x1.iter_mut().enumerate() {
                    *x = gelu(
                        (*x - mean) / (var + eps).sqrt() * w.norm_weight[o] as f64 + w.norm_bias[o] as f64,
                    );
                }
                for s2 in 0..4 {
                    let x2: Vec<f64> = (0..d.last)
                        .map(|o| {
                            let dot: f64 = x1
                                .iter()
                                .enumerate()
                                .map(|(m, &v)| v * w.second[[m, s2 * d.last + o]] as f64)
                                .sum();
                            gelu(dot + w.second_bias[o] as f64)
                        })
                        .collect();
                    let y = 4 * ty + 2 * (s1 / 2) + s2 / 2;
                    let x = 4 * tx + 2 * (s1 % 2) + s2 % 2;
                    for c in 0..d.classes {
                        let logit: f64 =
                            x2.iter().enumerate().map(|(o, &v)| v * w.classes[[c, o]] as f64).sum();
                        out[c * r * r + y * r + x] = logit;
                    }
                }
            }
        }
        out
    }

    /// On one thread, and on a pool of 2 threads (token rows in groups, written through a buffer).
    #[test]
    fn logits_follow_the_definition_on_one_thread_and_on_a_pool() {
        // Grid 24 with 19 classes: 8 token rows of logits are enough work for tract to share them.
        let d = Dims { grid: 24, embed: 12, mid: 8, last: 4, classes: 19 };
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 7919 + seed * 131) % 97) as f32 / 48.0 - 1.0).collect()
        };
        let data = WeightData::new(d, values);
        let w = data.weights(d);
        let tokens = values(d.grid * d.grid * d.embed, 8);
        let want = definition(d, 1e-6, &tokens, &w);
        let r = d.resolution();
        let op = UpscaleHead { epsilon: 1e-6, channels_last: true };
        let mut single = vec![f32::NAN; d.classes * r * r];
        op.run(d, &tokens, &w, &mut single).unwrap();
        for (i, (got, want)) in single.iter().zip(&want).enumerate() {
            assert!((*got as f64 - want).abs() < 1e-4, "logit {i}: {got}, expected {want}");
        }
        let pool = Executor::multithread(2);
        let mut pooled = vec![f32::NAN; d.classes * r * r];
        tract_linalg::multithread::multithread_tract_scope(pool, || op.run(d, &tokens, &w, &mut pooled))
            .unwrap();
        assert_eq!(pooled, single);
    }

    #[test]
    fn sizes_come_from_the_inputs_and_misfits_are_errors() {
        let ok = shapes([256, 4096], [256, 256], [19, 32]);
        let d = Dims::of(&shape_refs(&ok), false).unwrap();
        let transposed = shapes([4096, 256], [256, 256], [19, 32]);
        assert_eq!(Dims::of(&shape_refs(&transposed), true).unwrap(), d);
        assert_eq!(d, Dims { grid: 64, embed: 256, mid: 64, last: 32, classes: 19 });
        assert_eq!(d.resolution(), 256);
        for bad in [
            shapes([256, 4095], [256, 256], [19, 32]), // not a square grid
            shapes([0, 4096], [0, 256], [19, 32]),     // no channels
            shapes([256, 4096], [256, 255], [19, 32]), // kernel columns not 4 x M1
            shapes([256, 4096], [128, 256], [19, 32]), // kernel rows are not E
            shapes([256, 4096], [256, 256], [19, 16]), // class weights are not C x M2
            shapes([256, 4096], [256, 256], [0, 32]),  // no classes
        ] {
            assert!(Dims::of(&shape_refs(&bad), false).is_err(), "{bad:?}");
        }
        assert!(Dims::of(&shape_refs(&ok[..7]), false).is_err());
        assert!(Dims::of(&shape_refs(&ok), true).is_err(), "4096 channels do not fit the kernel");
    }
}
