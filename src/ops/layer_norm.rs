//! LayerNorm over the last axis as one operator: y = (x - mean) / sqrt(var + eps) * scale + bias,
//! mean and (biased) variance over each row.
//!
//! tract splits ONNX's LayerNormalization into a reduction, a subtraction, its RMS norm and a
//! multiply-add chain. With the image tokens channels last (16384 rows of 256 at R = 512) that
//! chain broadcasts the scale and bias along the rows, a case tract runs element by element.
//! Here each row is normalised in one pass while in the cache.
//!
//! The transformer's post-norms take a residual sum, otherwise a separate pass over all the
//! image tokens. With the attribute `residual` = 1 the norm is of X + R (R a fourth input of
//! X's shape), each row summed (rounded to float32 first, as the Add it replaces) while in the
//! cache. An input that nothing else holds any more becomes the output's buffer: the image
//! tokens' norms then allocate nothing.
//!
//! Inputs (float32): X (..., E), scale (E), bias (E), then R if `residual`. Output: X's shape.
//! Attributes `epsilon`, `residual`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::lanes::lane_sum;
use super::kernels::threads::par_chunks;
use super::tensors::{f32_shapes, f32_slice_mut, output_buffer, remaining_data, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "LayerNorm";

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub epsilon: f32,
    /// The norm is of the sum of X and a fourth input R.
    pub residual: bool,
}

impl Eq for LayerNorm {}

impl LayerNorm {
    /// How many inputs the attributes call for.
    fn inputs(&self) -> usize {
        3 + self.residual as usize
    }

    /// The row width E, checked against the scale, bias and the inputs of X's shape.
    fn width(&self, shapes: &[&[usize]]) -> TractResult<usize> {
        ensure!(
            shapes.len() == self.inputs(),
            "LayerNorm takes X, scale, bias{}: {} inputs, got {}",
            if self.residual { ", residual" } else { "" },
            self.inputs(),
            shapes.len()
        );
        let Some(&width) = shapes[0].last() else { bail!("LayerNorm: X must have at least one axis") };
        ensure!(width > 0, "LayerNorm: rows of X are empty");
        for (i, name) in [(1, "scale"), (2, "bias")] {
            ensure!(shapes[i] == [width], "LayerNorm: {name} must be ({width}), got {:?}", shapes[i]);
        }
        for (i, shape) in shapes.iter().enumerate().skip(3) {
            ensure!(
                *shape == shapes[0],
                "LayerNorm: input {i} must have X's shape {:?}, got {shape:?}",
                shapes[0]
            );
        }
        Ok(width)
    }

    /// Normalises the rows of `out` after setting them to `rows.copy` (where they do not hold
    /// an input already) and adding `rows.add`.
    pub(crate) fn rows(&self, out: &mut [f32], rows: Rows, weights: Affine) {
        let width = weights.scale.len();
        for (i, row) in out.chunks_exact_mut(width).enumerate() {
            let span = i * width..(i + 1) * width;
            if let Some(x) = rows.copy {
                row.copy_from_slice(&x[span.clone()]);
            }
            if let Some(r) = rows.add {
                for (v, r) in row.iter_mut().zip(&r[span]) {
                    *v += r;
                }
            }
            let (mean, inv) = mean_and_inverse_deviation(row, self.epsilon);
            for ((v, g), b) in row.iter_mut().zip(weights.scale).zip(weights.bias) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

/// What makes the rows to normalise, besides what the output holds already.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// Rows to copy into the output first (a fresh output buffer).
    pub copy: Option<&'a [f32]>,
    /// Rows to add (the other summand of a residual norm).
    pub add: Option<&'a [f32]>,
}

/// The per-column scale and bias of the norm.
#[derive(Clone, Copy)]
pub(crate) struct Affine<'a> {
    pub scale: &'a [f32],
    pub bias: &'a [f32],
}

/// A row's mean and 1 / sqrt(var + epsilon), with the biased variance (the reference's LayerNorm
/// and LayerNorm2d both): the row normalises to (x - mean) * inv.
pub(crate) fn mean_and_inverse_deviation(row: &[f32], epsilon: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + epsilon).sqrt())
}

impl Op for LayerNorm {
    fn name(&self) -> StaticName {
        "SegFaceLayerNorm".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LayerNorm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(inputs)?.into_tvalue()))
    }
}

impl LayerNorm {
    /// The output of these inputs. A summand that nothing else holds any more (X, else the
    /// residual) becomes the output's buffer, written over row by row.
    fn run(&self, inputs: TVec<TValue>) -> TractResult<Tensor> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let width = self.width(&shape_refs(&shapes))?;
        let mut inputs: Vec<Option<TValue>> = inputs.into_iter().map(Some).collect();
        // x + r and r + x are the same float32 sum: the residual's buffer serves as well as X's.
        let candidates: &[usize] = if self.residual { &[0, 3] } else { &[0] };
        let (mut out, fresh) = output_buffer(&mut inputs, candidates, &shapes[0])?;
        let data = remaining_data("LayerNorm", &inputs)?;
        let weights = Affine { scale: data[1].context("scale")?, bias: data[2].context("bias")? };
        // The summands the output does not hold: the first is copied into a fresh output.
        let mut summands = [data[0], data.get(3).copied().flatten()].into_iter().flatten();
        let copy = if fresh { summands.next() } else { None };
        let add = summands.next();
        let elements = shapes[0].iter().product();
        // Rows are independent: a multi-threaded session shares them among its threads (tract
        // keeps small inputs, such as the 19 class tokens, on one).
        par_chunks(f32_slice_mut(&mut out)?, width, elements, |first_row, rows| {
            let span = first_row * width..first_row * width + rows.len();
            let sources = Rows { copy: copy.map(|x| &x[span.clone()]), add: add.map(|r| &r[span.clone()]) };
            self.rows(rows, sources, weights);
            Ok(())
        })?;
        Ok(out)
    }
}

impl TypedOp for LayerNorm {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shapes = f32_shapes("LayerNorm", inputs)?;
        self.width(&shape_refs(&shapes))?;
        Ok(tvec!(f32::fact(&shapes[0])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let shapes = f32_shapes("LayerNorm", inputs)?;
        self.width(&shape_refs(&shapes))?;
        // A square for the variance and a multiply-add for the affine map per element, and an add
        // for the residual.
        let elements: usize = shapes[0].iter().product();
        let per_element = 2 + self.residual as usize;
        Ok(tvec!((Cost::FMA(f32::datum_type()), (per_element * elements).to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let epsilon: f32 = node.get_attr("epsilon")?;
    ensure!(epsilon.is_finite() && epsilon > 0.0, "LayerNorm: epsilon must be positive, got {epsilon}");
    let residual = super::wiring::flag(node, "LayerNorm", "residual")?;
    Ok((super::wiring::inference(LayerNorm { epsilon, residual }), vec![]))
}

impl super::wiring::InferenceRules for LayerNorm {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.inputs())?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::{multithread_tract_scope, Executor};

    fn values(n: usize, seed: usize, amplitude: f32) -> Vec<f32> {
        (0..n).map(|i| (((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0) * amplitude).collect()
    }

    /// X, scale, bias, and R for a residual norm, of (rows, width) rows.
    fn inputs(op: &LayerNorm, rows: usize, width: usize) -> Vec<Tensor> {
        let mut inputs = vec![
            Tensor::from_shape(&[rows, width], &values(rows * width, 1, 3.0)).unwrap(),
            Tensor::from_shape(&[width], &values(width, 2, 1.0)).unwrap(),
            Tensor::from_shape(&[width], &values(width, 3, 0.5)).unwrap(),
        ];
        if op.residual {
            inputs.push(Tensor::from_shape(&[rows, width], &values(rows * width, 4, 2.0)).unwrap());
        }
        inputs
    }

    /// The output of `op` on `inputs`; `held` says which of them another holder keeps (so that
    /// the operator may not write over them).
    fn run(op: &LayerNorm, inputs: &[Tensor], held: &[bool]) -> Vec<f32> {
        let values: TVec<TValue> = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
        // Each held input's second reference, with the tensor it must still equal.
        let kept: Vec<(TValue, &Tensor)> = values
            .iter()
            .zip(inputs)
            .zip(held)
            .filter(|(_, &h)| h)
            .map(|((v, t), _)| (v.clone(), t))
            .collect();
        let out = crate::ops::tensors::f32_values(&op.run(values).unwrap());
        for (kept, original) in kept {
            assert_eq!(&*kept, original, "an input another node holds was written over");
        }
        out
    }

    /// Rows normalised by the definition, computed in f64, of the sum of X and R for a residual
    /// norm.
    fn check(op: &LayerNorm, inputs: &[Tensor], got: &[f32]) {
        let data: Vec<Vec<f32>> = inputs.iter().map(crate::ops::tensors::f32_values).collect();
        let (x, scale, bias) = (&data[0], &data[1], &data[2]);
        let width = scale.len();
        for (r, got) in got.chunks_exact(width).enumerate() {
            let row: Vec<f32> = (0..width)
                .map(|i| x[r * width + i] + if op.residual { data[3][r * width + i] } else { 0.0 })
                .collect();
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            for i in 0..width {
                let y = (row[i] as f64 - mean) / (var + op.epsilon as f64).sqrt() * scale[i] as f64
                    + bias[i] as f64;
                assert!((got[i] as f64 - y).abs() < 1e-5, "({r}, {i}): {} vs {y}", got[i]);
            }
        }
    }

    /// Every way of finding the output's buffer (fresh, X's, R's) computes the definition, and
    /// leaves alone the inputs that are still held elsewhere.
    #[test]
    fn rows_match_the_definition_in_any_buffer() {
        let plain = LayerNorm { epsilon: 1e-5, residual: false };
        let residual = LayerNorm { epsilon: 1e-5, residual: true };
        let cases: [(&LayerNorm, &[bool]); 6] = [
            (&plain, &[true, true, true]),
            (&plain, &[false, true, true]),
            (&residual, &[true, true, true, true]),
            (&residual, &[false, true, true, true]),
            (&residual, &[true, true, true, false]),
            (&residual, &[false, true, true, false]),
        ];
        for (op, held) in cases {
            let inputs = inputs(op, 5, 7);
            check(op, &inputs, &run(op, &inputs, held));
        }
    }

    /// A session's pool shares the rows among its threads: the same values as one thread.
    #[test]
    fn a_pool_computes_what_one_thread_does() {
        let op = LayerNorm { epsilon: 1e-5, residual: true };
        // Over tract's threading threshold of 32768 elements.
        let inputs = inputs(&op, 301, 128);
        let single = run(&op, &inputs, &[false, true, true, false]);
        let pooled = multithread_tract_scope(Executor::multithread(3), || {
            run(&op, &inputs, &[false, true, true, false])
        });
        assert_eq!(single, pooled);
        check(&op, &inputs, &pooled);
    }

    #[test]
    fn inputs_must_fit_the_rows() {
        let plain = LayerNorm { epsilon: 1e-5, residual: false };
        assert_eq!(plain.width(&[&[19, 256], &[256], &[256]]).unwrap(), 256);
        assert!(plain.width(&[&[19, 256], &[255], &[256]]).is_err());
        assert!(plain.width(&[&[19, 256], &[256], &[256, 1]]).is_err());
        assert!(plain.width(&[&[19, 0], &[0], &[0]]).is_err());
        assert!(plain.width(&[&[], &[1], &[1]]).is_err());
        assert!(plain.width(&[&[19, 256], &[256]]).is_err());
        assert!(plain.width(&[&[19, 256], &[256], &[256], &[19, 256]]).is_err());
        let residual = LayerNorm { epsilon: 1e-5, residual: true };
        assert_eq!(residual.width(&[&[19, 256], &[256], &[256], &[19, 256]]).unwrap(), 256);
        assert!(residual.width(&[&[19, 256], &[256], &[256]]).is_err());
        assert!(residual.width(&[&[19, 256], &[256], &[256], &[18, 256]]).is_err());
    }
}
