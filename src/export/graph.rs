//! A small ONNX graph builder over tract's prost types: named values, float initializers and
//! the handful of operators SegFace needs, all from the standard `ai.onnx` domain (opset 17).

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto,
    GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next_id: usize,
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

impl GraphBuilder {
    fn fresh(&mut self, hint: &str) -> String {
        self.next_id += 1;
        format!("{hint}__{}", self.next_id)
    }

    /// A float32 initializer (stored as raw little-endian bytes).
    pub fn constant(&mut self, hint: &str, shape: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "{hint}");
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    fn constant_i64(&mut self, hint: &str, data: &[i64]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
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
