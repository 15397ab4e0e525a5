//! The backbone's depthwise convolutions as one operator: each channel convolved with its own
//! k x k kernel (k odd), stride 1 or 2, zero padding k / 2, plus a bias.
//!
//! tract's depthwise convolution runs the backbone's stride-2 layers and the 5 x 5 kernels on
//! the 16 x 16 maps through generic per-pixel code, far below the CPU's vector throughput. Here
//! each channel is copied once into a zero-padded plane (split into even and odd columns for
//! stride 2), so that every tap of a row of outputs is a contiguous load of
//! 8 lanes (`super::kernels::vector`) times one weight.
//!
//! Inputs (float32): X (1, C, H, W), W (C, 1, k, k), B (C). Output (1, C, Ho, Wo) with
//! Ho = (H - 1) / s + 1. Attribute `stride` (1 or 2).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::threads::par_chunks;
#[cfg(target_arch = "x86_64")]
use super::kernels::vector::{has_avx2, Avx2};
use super::kernels::vector::{Native, Vector};
use super::tensors::{contiguous, f32_output, f32_shapes, f32_views, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "DepthwiseConv";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
}

impl Dims {
    fn of(shapes: &[&[usize]], stride: usize) -> TractResult<Dims> {
        ensure!(shapes.len() == 3, "DepthwiseConv takes X, W and B, got {} inputs", shapes.len());
        let [1, channels, height, width] = *shapes[0] else {
            bail!("DepthwiseConv: X must be (1, C, H, W), got {:?}", shapes[0])
        };
        let [wc, 1, kernel, kw] = *shapes[1] else {
            bail!("DepthwiseConv: W must be (C, 1, k, k), got {:?}", shapes[1])
        };
        ensure!(
            wc == channels && kw == kernel && kernel % 2 == 1 && kernel <= 15,
            "DepthwiseConv: W {:?} does not fit X {:?} (an odd square kernel of at most 15 per channel)",
            shapes[1],
            shapes[0]
        );
        ensure!(shapes[2] == [channels], "DepthwiseConv: B must be ({channels}), got {:?}", shapes[2]);
        ensure!(channels > 0 && height > 0 && width > 0, "DepthwiseConv: X {:?} is empty", shapes[0]);
        Ok(Dims { channels, height, width, kernel, stride })
    }

    fn out_height(&self) -> usize {
        (self.height - 1) / self.stride + 1
    }

    fn out_width(&self) -> usize {
        (self.width - 1) / self.stride + 1
    }

    /// Outputs of a row, rounded up to whole groups of [`GROUP`] vectors.
    fn padded_out_width(&self) -> usize {
        self.out_width().div_ceil(8 * GROUP) * 8 * GROUP
    }

    /// Columns of a padded plane (per phase for stride 2): every tap's 8-lane loads of the last
    /// (partial) group of outputs stay inside.
    fn plane_width(&self) -> usize {
        self.padded_out_width() + self.kernel / self.stride + 1
    }

    fn plane_rows(&self) -> usize {
        self.height + 2 * (self.kernel / 2)
    }
}

/// The most vectors of outputs computed together (fewer on rows of fewer than 32 outputs):
/// their sums are independent chains of multiply-adds, so that one does not wait for the
/// previous one's result.
const GROUP: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthwiseConv {
    pub stride: usize,
}

/// A channel's input, zero-padded by k / 2 on every side. For stride 2 each padded row is stored
/// as its even columns then its odd columns (`phases` = 2), so that the inputs of 8 consecutive
/// outputs are contiguous for every tap.
struct Plane {
    values: Vec<f32>,
    phases: usize,
    phase_width: usize,
}

impl Plane {
    fn new(d: Dims) -> Plane {
        Plane {
            values: vec![0f32; d.plane_rows() * d.stride * d.plane_width()],
            phases: d.stride,
            phase_width: d.plane_width(),
        }
    }

    #[inline(always)]
    fn row_len(&self) -> usize {
        self.phases * self.phase_width
    }

    /// Copies `channel` (H x W) into the padded plane; the padding stays zero.
    #[inline(always)]
    fn fill(&mut self, d: Dims, channel: &[f32]) {
        let pad = d.kernel / 2;
        let row_len = self.row_len();
        for (y, src) in channel.chunks_exact(d.width).enumerate() {
            let row = &mut self.values[(y + pad) * row_len..(y + pad + 1) * row_len];
            if self.phases == 1 {
                row[pad..pad + d.width].copy_from_slice(src);
                continue;
            }
            // Padded column x + pad goes to phase (x + pad) % 2, position (x + pad) / 2: the
            // even columns of `src` to phase pad % 2 from pad / 2 on, the odd ones to the other
            // phase from ceil(pad / 2) on.
            let (phase0, phase1) = row.split_at_mut(self.phase_width);
            let (even, odd) = if pad.is_multiple_of(2) { (phase0, phase1) } else { (phase1, phase0) };
            let (even, odd) = (&mut even[pad / 2..], &mut odd[pad.div_ceil(2)..]);
            let (pairs, last) = src.as_chunks::<2>();
            for ((pair, e), o) in pairs.iter().zip(even.iter_mut()).zip(odd.iter_mut()) {
                (*e, *o) = (pair[0], pair[1]);
            }
            if let [v] = last {
                even[pairs.len()] = *v;
            }
        }
    }

    /// Where, in a padded row, the input of output column 0 for kernel column `tap` is.
    #[inline(always)]
    fn tap_offset(&self, tap: usize) -> usize {
        (tap % self.phases) * self.phase_width + tap / self.phases
    }
}

impl DepthwiseConv {
    /// The output tensor of the inputs' data.
    fn output(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32]) -> TractResult<TValue> {
        let plane = d.out_height() * d.out_width();
        f32_output(&[1, d.channels, d.out_height(), d.out_width()], |out| {
            // Channels are independent: a multi-threaded session shares them among its threads.
            let work = out.len() * d.kernel * d.kernel;
            par_chunks(out, plane, work, |first, chunk| {
                self.run(d, x, w, b, first, chunk);
                Ok(())
            })
        })
    }

    /// Convolves `channels` (first `first`, each H x W) into `out` (each Ho x Wo).
    fn run(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], first: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above), all the function requires.
            return unsafe { run_avx2(d, x, w, b, first, out) };
        }
        run_with::<Native>(d, x, w, b, first, out)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(d: Dims, x: &[f32], w: &[f32], b: &[f32], first: usize, out: &mut [f32]) {
    run_with::<Avx2>(d, x, w, b, first, out)
}

#[inline(always)]
fn run_with<V: Vector>(d: Dims, x: &[f32], w: &[f32], b: &[f32], first: usize, out: &mut [f32]) {
    match d.out_width().div_ceil(8) {
        1 => run_grouped::<V, 1>(d, x, w, b, first, out),
        2 | 3 => run_grouped::<V, 2>(d, x, w, b, first, out),
        _ => run_grouped::<V, GROUP>(d, x, w, b, first, out),
    }
}

/// `run_with`, `G` vectors of outputs at a time.
#[inline(always)]
fn run_grouped<V: Vector, const G: usize>(
    d: Dims,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    first: usize,
    out: &mut [f32],
) {
    let (k, s) = (d.kernel, d.stride);
    let (out_h, out_w) = (d.out_height(), d.out_width());
    let mut plane = Plane::new(d);
    let offsets: Vec<usize> = (0..k).map(|tap| plane.tap_offset(tap)).collect();
    let mut row = vec![0f32; d.padded_out_width()];
    for (i, dst) in out.chunks_exact_mut(out_h * out_w).enumerate() {
        let c = first + i;
        plane.fill(d, &x[c * d.height * d.width..(c + 1) * d.height * d.width]);
        let taps = &w[c * k * k..(c + 1) * k * k];
        let row_len = plane.row_len();
        for (oy, dst_row) in dst.chunks_exact_mut(out_w).enumerate() {
            // Padded rows oy s .. oy s + k, the inputs of this output row.
            let window = &plane.values[oy * s * row_len..(oy * s + k) * row_len];
            let groups = row.as_chunks_mut::<8>().0.chunks_mut(G).take(out_w.div_ceil(8 * G));
            for (j, group) in groups.enumerate() {
                let mut acc = [V::splat(b[c]); G];
                for (input_row, kernel_row) in window.chunks_exact(row_len).zip(taps.chunks_exact(k)) {
                    for (&offset, &weight) in offsets.iter().zip(kernel_row) {
                        let start = offset + 8 * G * j;
                        let (inputs, _) = input_row[start..start + 8 * G].as_chunks::<8>();
                        let weight = V::splat(weight);
                        for (acc, inputs) in acc.iter_mut().zip(inputs) {
                            *acc = weight.mul_add(V::load(inputs), *acc);
                        }
                    }
                }
                for (acc, lanes) in acc.iter().zip(group) {
                    acc.store(lanes);
                }
            }
            dst_row.copy_from_slice(&row[..out_w]);
        }
    }
}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        "SegFaceDepthwiseConv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let d = Dims::of(&shapes, self.stride)?;
        let [x, w, b] = [0, 1, 2].map(|i| contiguous("DepthwiseConv", &views[i]));
        Ok(tvec!(self.output(d, x?, w?, b?)?))
    }
}

impl TypedOp for DepthwiseConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = Dims::of(&shape_refs(&f32_shapes("DepthwiseConv", inputs)?), self.stride)?;
        Ok(tvec!(f32::fact([1, d.channels, d.out_height(), d.out_width()])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let d = Dims::of(&shape_refs(&f32_shapes("DepthwiseConv", inputs)?), self.stride)?;
        let macs = d.channels * d.out_height() * d.out_width() * d.kernel * d.kernel;
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let stride: i64 = node.get_attr("stride")?;
    ensure!(stride == 1 || stride == 2, "DepthwiseConv: stride must be 1 or 2, got {stride}");
    Ok((super::wiring::inference(DepthwiseConv { stride: stride as usize }), vec![]))
}

impl super::wiring::InferenceRules for DepthwiseConv {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[0].shape[1])?;
        let stride = self.stride;
        for axis in [2, 3] {
            s.given(&inputs[0].shape[axis], move |s, size| {
                let size = size.to_usize()?;
                ensure!(size > 0, "DepthwiseConv: X has an empty axis");
                s.equals(&outputs[0].shape[axis], ((size - 1) / stride + 1).to_dim())
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::{multithread_tract_scope, Executor};

    /// The convolution by its definition, in f64.
    fn definition(d: Dims, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let (k, s, pad) = (d.kernel, d.stride, (d.kernel / 2) as isize);
        let (out_h, out_w) = (d.out_height(), d.out_width());
        let mut out = vec![0f64; d.channels * out_h * out_w];
        for c in 0..d.channels {
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let mut acc = b[c] as f64;
                    for ky in 0..k {
                        for kx in 0..k {
                            let (y, x0) = ((oy * s + ky) as isize - pad, (ox * s + kx) as isize - pad);
                            if (0..d.height as isize).contains(&y) && (0..d.width as isize).contains(&x0) {
                                let v = x[(c * d.height + y as usize) * d.width + x0 as usize];
                                acc += v as f64 * w[(c * k + ky) * k + kx] as f64;
                            }
                        }
                    }
                    out[(c * out_h + oy) * out_w + ox] = acc;
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 131) % 97) as f32 / 48.0 - 1.0).collect()
    }

    fn check(d: Dims) {
        let (k, plane_in) = (d.kernel, d.height * d.width);
        let (x, w, b) =
            (values(d.channels * plane_in, 1), values(d.channels * k * k, 2), values(d.channels, 3));
        let want = definition(d, &x, &w, &b);
        let op = DepthwiseConv { stride: d.stride };
        let mut got = vec![f32::NAN; want.len()];
        op.run(d, &x, &w, &b, 0, &mut got);
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - e).abs() < 1e-4, "{d:?}: output {i} is {g}, expected {e}");
        }
        let mut baseline = vec![f32::NAN; want.len()];
        run_with::<Native>(d, &x, &w, &b, 0, &mut baseline);
        for (g, e) in baseline.iter().zip(&want) {
            assert!((*g as f64 - e).abs() < 1e-4, "{d:?}, baseline build: {g}, expected {e}");
        }
    }

    #[test]
    fn outputs_match_the_definition() {
        // Both strides, 3 x 3 and 5 x 5, odd and even sizes, widths below, at and above 8 lanes.
        for (height, width) in [(1, 1), (5, 7), (8, 8), (9, 17), (16, 16), (6, 33)] {
            for kernel in [1, 3, 5] {
                for stride in [1, 2] {
                    check(Dims { channels: 3, height, width, kernel, stride });
                }
            }
        }
    }

    /// Channels shared among 3 threads (in chunks tract chooses) give the same outputs.
    #[test]
    fn a_pool_of_threads_gives_the_same_outputs() {
        let pool = Executor::multithread(3);
        for (channels, size, kernel, stride) in
            [(40, 12, 5, 2), (64, 64, 3, 2), (96, 16, 5, 1), (16, 64, 3, 1)]
        {
            let d = Dims { channels, height: size, width: size, kernel, stride };
            let (x, w, b) = (
                values(channels * size * size, 1),
                values(channels * kernel * kernel, 2),
                values(channels, 3),
            );
            let op = DepthwiseConv { stride };
            let single = op.output(d, &x, &w, &b).unwrap();
            let pooled = multithread_tract_scope(pool.clone(), || op.output(d, &x, &w, &b)).unwrap();
            assert_eq!(single.shape(), [1, channels, d.out_height(), d.out_width()]);
            assert_eq!(single, pooled, "{d:?}");
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        assert!(Dims::of(&[&[1, 4, 8, 8], &[4, 1, 3, 3], &[4]], 2).is_ok());
        for bad in [
            [&[1, 4, 8, 8][..], &[4, 1, 3, 3], &[5]],
            [&[1, 4, 8, 8], &[4, 1, 3, 5], &[4]],
            [&[1, 4, 8, 8], &[4, 1, 4, 4], &[4]],
            [&[1, 4, 8, 8], &[4, 2, 3, 3], &[4]],
            [&[2, 4, 8, 8], &[4, 1, 3, 3], &[4]],
            [&[1, 4, 0, 8], &[4, 1, 3, 3], &[4]],
            [&[1, 4, 8], &[4, 1, 3], &[4]],
        ] {
            assert!(Dims::of(&bad, 1).is_err(), "{bad:?}");
        }
    }
}
