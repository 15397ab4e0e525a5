//! LayerNorm over the last axis as one operator: y = (x - mean) / sqrt(var + eps) * scale + bias,
//! mean and (biased) variance over each row.
//!
//! tract splits ONNX's LayerNormalization into a reduction, a subtraction, its RMS norm and a
//! multiply-add chain. With the image tokens channels last (16384 rows of 256 at R = 512) that
//! chain broadcasts the scale and bias along the rows, a case tract runs element by element: 15 ms
//! per norm at R = 512, against 3-5 ms here (measured), where each row is normalised in one pass
//! while in the cache.
//!
//! Inputs (float32): X (..., E), scale (E), bias (E). Output: X's shape. Attribute `epsilon`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::{contiguous, f32_output, f32_shapes, f32_views, lane_sum, par_chunks, shape_refs};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "LayerNorm";

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub epsilon: f32,
}

impl Eq for LayerNorm {}

/// The row width E, checked against the scale and bias.
fn width(shapes: &[&[usize]]) -> TractResult<usize> {
    ensure!(shapes.len() == 3, "LayerNorm takes X, scale and bias, got {} inputs", shapes.len());
    let Some(&width) = shapes[0].last() else { bail!("LayerNorm: X must have at least one axis") };
    ensure!(width > 0, "LayerNorm: rows of X are empty");
    for (i, name) in [(1, "scale"), (2, "bias")] {
        ensure!(shapes[i] == [width], "LayerNorm: {name} must be ({width}), got {:?}", shapes[i]);
    }
    Ok(width)
}

/// A row's mean and 1 / sqrt(var + epsilon), with the biased variance (the reference's LayerNorm
/// and LayerNorm2d both): the row normalises to (x - mean) * inv.
pub(crate) fn mean_and_inverse_deviation(row: &[f32], epsilon: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + epsilon).sqrt())
}

impl LayerNorm {
    /// Writes the normalised rows of `x` to `out`.
    fn rows(&self, x: &[f32], out: &mut [f32], scale: &[f32], bias: &[f32]) {
        for (row, dst) in x.chunks_exact(scale.len()).zip(out.chunks_exact_mut(scale.len())) {
            let (mean, inv) = mean_and_inverse_deviation(row, self.epsilon);
            for (((o, v), g), b) in dst.iter_mut().zip(row).zip(scale).zip(bias) {
                *o = (v - mean) * inv * g + b;
            }
        }
    }
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
        let views = f32_views(&inputs)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
        let width = width(&shapes)?;
        let (x, scale, bias) = (
            contiguous("LayerNorm", &views[0])?,
            contiguous("LayerNorm", &views[1])?,
            contiguous("LayerNorm", &views[2])?,
        );
        let output = f32_output(shapes[0], |out| {
            let elements = out.len();
            // Rows are independent: a multi-threaded session shares them among its threads (tract
            // keeps small inputs, such as the 19 class tokens, on one).
            par_chunks(out, width, elements, |first_row, rows| {
                let x = &x[first_row * width..first_row * width + rows.len()];
                self.rows(x, rows, scale, bias);
                Ok(())
            })
        })?;
        Ok(tvec!(output))
    }
}

impl TypedOp for LayerNorm {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shapes = f32_shapes("LayerNorm", inputs)?;
        width(&shape_refs(&shapes))?;
        Ok(tvec!(f32::fact(&shapes[0])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let shapes = f32_shapes("LayerNorm", inputs)?;
        width(&shape_refs(&shapes))?;
        // A square for the variance and a multiply-add for the affine map per element.
        let elements: usize = shapes[0].iter().product();
        Ok(tvec!((Cost::FMA(f32::datum_type()), (2 * elements).to_dim())))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let epsilon: f32 = node.get_attr("epsilon")?;
    ensure!(epsilon.is_finite() && epsilon > 0.0, "LayerNorm: epsilon must be positive, got {epsilon}");
    Ok((super::inference(LayerNorm { epsilon }), vec![]))
}

impl super::InferenceRules for LayerNorm {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows normalised by the definition, computed in f64.
    #[test]
    fn rows_match_the_definition() {
        let (rows, width, eps) = (5, 7, 1e-5f32);
        let x: Vec<f32> = (0..rows * width).map(|i| ((i * 37) % 23) as f32 * 0.4 - 3.0).collect();
        let scale: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.1).collect();
        let bias: Vec<f32> = (0..width).map(|i| i as f32 * 0.2 - 0.5).collect();
        let mut out = vec![0f32; x.len()];
        LayerNorm { epsilon: eps }.rows(&x, &mut out, &scale, &bias);
        for (r, (row, got)) in x.chunks_exact(width).zip(out.chunks_exact(width)).enumerate() {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            for i in 0..width {
                let expected =
                    (row[i] as f64 - mean) / (var + eps as f64).sqrt() * scale[i] as f64 + bias[i] as f64;
                assert!((got[i] as f64 - expected).abs() < 1e-5, "({r}, {i}): {} vs {expected}", got[i]);
            }
        }
    }

    #[test]
    fn scale_and_bias_must_fit_the_rows() {
        assert_eq!(width(&[&[19, 256], &[256], &[256]]).unwrap(), 256);
        assert!(width(&[&[19, 256], &[255], &[256]]).is_err());
        assert!(width(&[&[19, 256], &[256], &[256, 1]]).is_err());
        assert!(width(&[&[19, 0], &[0], &[0]]).is_err());
        assert!(width(&[&[], &[1], &[1]]).is_err());
        assert!(width(&[&[19, 256], &[256]]).is_err());
    }
}
