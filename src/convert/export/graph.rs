//! A small ONNX graph builder over tract's prost types: named values, float initializers and
//! the handful of operators SegFace needs, all from the standard `ai.onnx` domain (opset 17).

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto,
    GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::f16;

use crate::convert::export::WeightStorage;
use crate::runtime::stored_constants::float_tensor;

pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next_id: usize,
    storage: WeightStorage,
}

/// A float32 value info with a concrete shape.
pub fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `values` as ONNX `raw_data`: each value's little-endian bytes, in one buffer sized up front.
fn le_bytes<T: Copy, const N: usize>(values: &[T], to_le: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(values.len() * N);
    for &v in values {
        raw.extend_from_slice(&to_le(v));
    }
    raw
}

fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: value, ..Default::default() }
}

fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f: value, ..Default::default() }
}

/// Symmetric per-channel int8: for each index along `axis`, scale = max |w| / 127 (1 for an
/// all-zero channel) and q = round(w / scale), so that q * scale is within scale / 2 of w.
pub fn quantize_int8(shape: &[usize], data: &[f32], axis: usize) -> (Vec<i8>, Vec<f32>) {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut max = vec![0f32; channels];
    for (i, v) in data.iter().enumerate() {
        let c = channel_of(i);
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let q = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[channel_of(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scales)
}

impl GraphBuilder {
    pub fn new(storage: WeightStorage) -> Self {
        GraphBuilder { nodes: Vec::new(), initializers: Vec::new(), next_id: 0, storage }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next_id += 1;
        format!("{hint}__{}", self.next_id)
    }

    /// A float32 initializer (stored as raw little-endian bytes).
    pub fn constant(&mut self, hint: &str, shape: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "{hint}");
        let name = self.fresh(hint);
        self.initializers.push(float_tensor(&name, shape, data));
        name
    }

    /// A weight matrix or kernel, stored as the builder's [`WeightStorage`] says; `out_axis` is
    /// its output-channel axis (int8 keeps one scale per output channel). The returned value is
    /// float32 in every case.
    pub fn weight(&mut self, hint: &str, shape: &[usize], data: &[f32], out_axis: usize) -> String {
        match self.storage {
            WeightStorage::F32 => self.constant(hint, shape, data),
            WeightStorage::F16 => {
                let name = self.fresh(&format!("{hint}.f16"));
                self.initializers.push(TensorProto {
                    name: name.clone(),
                    dims: shape.iter().map(|&d| d as i64).collect(),
                    data_type: DataType::Float16 as i32,
                    raw_data: le_bytes(data, |v: f32| f16::from_f32(v).to_le_bytes()),
                    ..Default::default()
                });
                self.op("Cast", &[&name], vec![attr_int("to", DataType::Float as i64)])
            }
            WeightStorage::Int8 => {
                let (q, scales) = quantize_int8(shape, data, out_axis);
                let name = self.fresh(&format!("{hint}.int8"));
                self.initializers.push(TensorProto {
                    name: name.clone(),
                    dims: shape.iter().map(|&d| d as i64).collect(),
                    data_type: DataType::Int8 as i32,
                    raw_data: q.iter().map(|&v| v as u8).collect(),
                    ..Default::default()
                });
                let channels = shape[out_axis];
                let scale = self.constant(&format!("{hint}.scale"), &[channels], &scales);
                let zero = self.fresh(&format!("{hint}.zero_point"));
                self.initializers.push(TensorProto {
                    name: zero.clone(),
                    dims: vec![channels as i64],
                    data_type: DataType::Int8 as i32,
                    raw_data: vec![0; channels],
                    ..Default::default()
                });
                self.op("DequantizeLinear", &[&name, &scale, &zero], vec![attr_int("axis", out_axis as i64)])
            }
        }
    }

    fn constant_i64(&mut self, hint: &str, data: &[i64]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            raw_data: le_bytes(data, i64::to_le_bytes),
            ..Default::default()
        });
        name
    }

    pub fn scalar(&mut self, hint: &str, value: f32) -> String {
        self.constant(hint, &[], &[value])
    }

    /// Adds a node with one output and returns the output's name.
    pub fn op(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let output = self.fresh(&op.to_ascii_lowercase());
        self.op_into(op, inputs, attribute, &output);
        output
    }

    /// Adds a node whose output gets the given (graph output) name.
    pub fn op_into(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>, output: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
    }

    /// A node of segface's own operators (`crate::ops`, domain `ai.segface`).
    fn segface_op_into(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>, output: &str) {
        self.op_into(op, inputs, attribute, output);
        self.nodes.last_mut().expect("just pushed").domain = crate::ops::DOMAIN.to_string();
    }

    fn segface_op(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let output = self.fresh(&op.to_ascii_lowercase());
        self.segface_op_into(op, inputs, attribute, &output);
        output
    }

    /// segface's fused decoder tail (`crate::ops::upscale_head`), writing the graph output.
    pub fn upscale_head_into(&mut self, inputs: &[&str], epsilon: f32, output: &str) {
        self.segface_op_into(
            crate::ops::upscale_head::OP_TYPE,
            inputs,
            vec![attr_float("epsilon", epsilon), attr_int("channels_last", 1)],
            output,
        );
    }

    /// segface's LayerNorm over the last axis (`crate::ops::layer_norm`) of `x + residual`.
    pub fn segface_residual_layer_norm(
        &mut self,
        x: &str,
        residual: &str,
        scale: &str,
        bias: &str,
        eps: f32,
    ) -> String {
        self.segface_op(
            crate::ops::layer_norm::OP_TYPE,
            &[x, scale, bias, residual],
            vec![attr_float("epsilon", eps), attr_int("residual", 1)],
        )
    }

    /// segface's token-to-image attention (`crate::ops::token_to_image`) of projected queries
    /// over the image tokens of a `grid x grid` grid: inputs Q, X, W_k, b_k, W_v, b_v and the
    /// Gaussian matrix G (an initializer).
    pub fn segface_token_to_image(&mut self, inputs: &[&str; 7], grid: usize, heads: usize) -> String {
        self.segface_op(
            crate::ops::token_to_image::OP_TYPE,
            inputs,
            vec![
                attr_int("heads", heads as i64),
                attr_int("rows", grid as i64),
                attr_int("cols", grid as i64),
            ],
        )
    }

    /// segface's image-to-token attention with its residual norm (`crate::ops::image_to_token`)
    /// on a `grid x grid` grid: inputs X, K, V, W_q, b_q, W_o, b_o, the norm's scale and bias,
    /// and the Gaussian matrix G (an initializer).
    pub fn segface_image_to_token(
        &mut self,
        inputs: &[&str; 10],
        grid: usize,
        heads: usize,
        eps: f32,
    ) -> String {
        self.segface_op(
            crate::ops::image_to_token::OP_TYPE,
            inputs,
            vec![
                attr_int("heads", heads as i64),
                attr_float("epsilon", eps),
                attr_int("rows", grid as i64),
                attr_int("cols", grid as i64),
            ],
        )
    }

    /// segface's depthwise convolution (`crate::ops::depthwise_conv`): padding kernel / 2.
    pub fn segface_depthwise_conv(&mut self, x: &str, weight: &str, bias: &str, stride: usize) -> String {
        self.segface_op(
            crate::ops::depthwise_conv::OP_TYPE,
            &[x, weight, bias],
            vec![attr_int("stride", stride as i64)],
        )
    }

    /// segface's multi-head attention core (`crate::ops::attention`) on projected Q, K, V.
    pub fn attention_core(&mut self, q: &str, k: &str, v: &str, heads: usize) -> String {
        self.segface_op(crate::ops::attention::OP_TYPE, &[q, k, v], vec![attr_int("heads", heads as i64)])
    }

    /// segface's sum of bilinearly upsampled maps (`crate::ops::upsample_sum`), at `maps[0]`'s
    /// size, on channels-last (1, H, W, C) maps.
    pub fn upsample_sum_channels_last(&mut self, maps: &[&str]) -> String {
        self.segface_op(crate::ops::upsample_sum::OP_TYPE, maps, vec![attr_int("channels_last", 1)])
    }

    /// Whether any node is from outside the standard domain.
    pub fn uses_segface_ops(&self) -> bool {
        self.nodes.iter().any(|n| n.domain == crate::ops::DOMAIN)
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.op("Sub", &[a, b], vec![])
    }
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], vec![])
    }
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.op("MatMul", &[a, b], vec![])
    }
    pub fn relu(&mut self, x: &str) -> String {
        self.op("Relu", &[x], vec![])
    }
    pub fn hard_swish(&mut self, x: &str) -> String {
        self.op("HardSwish", &[x], vec![])
    }
    /// ReLU6(x + 3) / 6, as torch's hardsigmoid.
    pub fn hard_sigmoid(&mut self, x: &str) -> String {
        self.op("HardSigmoid", &[x], vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)])
    }
    pub fn global_average_pool(&mut self, x: &str) -> String {
        self.op("GlobalAveragePool", &[x], vec![])
    }
    pub fn softmax_last_axis(&mut self, x: &str) -> String {
        self.op("Softmax", &[x], vec![attr_int("axis", -1)])
    }
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![attr_ints("perm", perm)])
    }
    pub fn reshape(&mut self, x: &str, shape: &[usize]) -> String {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let shape = self.constant_i64("shape", &dims);
        self.op("Reshape", &[x, &shape], vec![])
    }
    pub fn reduce_mean_axis1(&mut self, x: &str) -> String {
        self.op("ReduceMean", &[x], vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)])
    }

    /// Conv2d with square kernel, symmetric padding and a bias.
    pub fn conv(
        &mut self,
        x: &str,
        weight: &str,
        bias: &str,
        kernel: usize,
        stride: usize,
        groups: usize,
    ) -> String {
        let pad = ((kernel - 1) / 2) as i64;
        self.op(
            "Conv",
            &[x, weight, bias],
            vec![
                attr_ints("kernel_shape", &[kernel as i64, kernel as i64]),
                attr_ints("strides", &[stride as i64, stride as i64]),
                attr_ints("pads", &[pad, pad, pad, pad]),
                attr_ints("dilations", &[1, 1]),
                attr_int("group", groups as i64),
            ],
        )
    }

    /// Non-overlapping 2x2 stride-2 transposed convolution.
    pub fn conv_transpose_2x2(&mut self, x: &str, weight: &str, bias: &str) -> String {
        self.op(
            "ConvTranspose",
            &[x, weight, bias],
            vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])],
        )
    }

    pub fn concat(&mut self, inputs: &[&str], axis: i64) -> String {
        self.op("Concat", inputs, vec![attr_int("axis", axis)])
    }

    /// LayerNormalization over the last axis (opset 17).
    pub fn layer_norm(&mut self, x: &str, scale: &str, bias: &str, eps: f32) -> String {
        self.op(
            "LayerNormalization",
            &[x, scale, bias],
            vec![attr_int("axis", -1), attr_float("epsilon", eps)],
        )
    }

    pub fn into_graph(
        self,
        name: &str,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: self.initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::stored_constants::evaluate_constant_nodes;

    /// A graph that reads one value (so nothing is a graph output), after load-time evaluation.
    fn evaluated(mut g: GraphBuilder, value: &str) -> GraphProto {
        g.op_into("Identity", &[value], vec![], "out");
        let mut graph = g.into_graph("t", vec![], vec![value_info("out", &[])]);
        evaluate_constant_nodes(&mut graph).unwrap();
        graph
    }

    fn float_initializer(graph: &GraphProto, name: &str) -> (Vec<i64>, Vec<f32>) {
        let t = graph.initializer.iter().find(|t| t.name == name).expect("evaluated initializer");
        assert_eq!(t.data_type, DataType::Float as i32);
        let data = t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        (t.dims.clone(), data)
    }

    /// Values spread over several magnitudes, one channel all zero.
    fn kernel(shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        (0..n)
            .map(|i| if i < 9 { 0.0 } else { ((i * 7919) % 2001) as f32 / 1000.0 - 1.0 } * (1 + i % 5) as f32)
            .collect()
    }

    #[test]
    fn int8_weights_come_back_within_half_a_step_of_each_output_channel() {
        for (shape, axis) in [(vec![4usize, 1, 3, 3], 0usize), (vec![6, 5], 1)] {
            let data = kernel(&shape);
            let mut g = GraphBuilder::new(WeightStorage::Int8);
            let w = g.weight("w", &shape, &data, axis);
            let graph = evaluated(g, &w);
            let (dims, back) = float_initializer(&graph, &w);
            assert_eq!(dims, shape.iter().map(|&d| d as i64).collect::<Vec<_>>());
            let (_, scales) = quantize_int8(&shape, &data, axis);
            let inner: usize = shape[axis + 1..].iter().product();
            for (i, (a, b)) in data.iter().zip(&back).enumerate() {
                let scale = scales[(i / inner) % shape[axis]];
                assert!((a - b).abs() <= scale / 2.0 + 1e-7, "{shape:?} element {i}: {a} came back as {b}");
            }
            // The all-zero first channel (axis 0 case) stays exactly zero.
            if axis == 0 {
                assert!(back[..9].iter().all(|&v| v == 0.0));
            }
            // Only the float32 result and nothing of its stored form is left for tract.
            assert!(graph.node.iter().all(|n| n.op_type == "Identity"));
            assert_eq!(graph.initializer.len(), 1);
        }
    }

    #[test]
    fn f16_weights_come_back_rounded_to_half_precision() {
        let shape = [3usize, 8];
        let data = kernel(&shape);
        let mut g = GraphBuilder::new(WeightStorage::F16);
        let w = g.weight("w", &shape, &data, 0);
        let (_, back) = float_initializer(&evaluated(g, &w), &w);
        for (a, b) in data.iter().zip(&back) {
            assert_eq!(*b, f16::from_f32(*a).to_f32());
            assert!((a - b).abs() <= a.abs() / 1024.0);
        }
    }
}
