//! Evaluates, before tract sees a graph, the constant subgraphs our exporter writes compactly:
//! int8 weights (`DequantizeLinear`), half-precision weights (`Cast`) and the positional encoding
//! (`MatMul`, `Sin`, `Cos`, `Concat` on a small grid). Each becomes the float32 initializer it
//! stands for, so tract optimises exactly the graph a float32 file gives, and runs as fast.
//!
//! Why not leave it to tract: its constant folding refuses outputs above a few MB (the encoding
//! is larger at the usual resolutions), and its int8 path is slower than float32 on this model.
//!
//! Only nodes of the standard domain whose inputs are all initializers of the expected types are
//! evaluated; anything else is left to tract as it is. Every shape is checked against the data
//! before use, and results are bounded by [`MAX_TENSOR_BYTES`], so a hostile file gets an error,
//! never a huge allocation or a panic.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{tensor_proto::DataType, GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::f16;

use crate::error::{Error, Result};
use crate::runtime::screen::MAX_TENSOR_BYTES;

/// A float32 initializer stored as raw little-endian bytes: what this module writes back, and
/// what the exporter writes.
pub(crate) fn float_tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An initializer's values, widened for arithmetic.
enum Values {
    F32(Vec<f32>),
    F16(Vec<f32>),
    I8(Vec<i32>),
    U8(Vec<i32>),
}

struct Stored {
    dims: Vec<usize>,
    values: Values,
}

fn bad(node: &NodeProto, what: impl std::fmt::Display) -> Error {
    Error::invalid_model(format!("node `{}` ({}): {what}", node.name, node.op_type))
}

fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Reads an initializer of a type this module computes with; `None` for any other type.
/// `check_stored_tensors` has already matched the data length with the declared shape.
fn read(t: &TensorProto) -> Option<Stored> {
    let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let raw = &t.raw_data;
    let values = match DataType::try_from(t.data_type).ok()? {
        DataType::Float if raw.is_empty() => Values::F32(t.float_data.clone()),
        DataType::Float => {
            Values::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        // Typed protobuf fields hold 16- and 8-bit values widened to int32.
        DataType::Float16 if raw.is_empty() => {
            Values::F16(t.int32_data.iter().map(|&b| f16::from_bits(b as u16).to_f32()).collect())
        }
        DataType::Float16 => {
            Values::F16(raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect())
        }
        DataType::Int8 if raw.is_empty() => {
            Values::I8(t.int32_data.iter().map(|&v| v as i8 as i32).collect())
        }
        DataType::Int8 => Values::I8(raw.iter().map(|&b| b as i8 as i32).collect()),
        DataType::Uint8 if raw.is_empty() => {
            Values::U8(t.int32_data.iter().map(|&v| v as u8 as i32).collect())
        }
        DataType::Uint8 => Values::U8(raw.iter().map(|&b| b as i32).collect()),
        _ => return None,
    };
    let count = match &values {
        Values::F32(v) | Values::F16(v) => v.len(),
        Values::I8(v) | Values::U8(v) => v.len(),
    };
    (count == dims.iter().product::<usize>()).then_some(Stored { dims, values })
}

fn within_budget(node: &NodeProto, elements: usize) -> Result<()> {
    if elements as u64 * 4 > MAX_TENSOR_BYTES {
        return Err(bad(node, format!("its result would have {elements} elements, too many")));
    }
    Ok(())
}

fn float32<'a>(node: &NodeProto, input: &'a Stored) -> Result<&'a [f32]> {
    match &input.values {
        Values::F32(v) => Ok(v),
        _ => Err(bad(node, "expects float32 inputs")),
    }
}

/// `(x - zero_point) * scale`, per tensor or per slice along `axis`.
fn dequantize(node: &NodeProto, inputs: &[&Stored]) -> Result<(Vec<usize>, Vec<f32>)> {
    let x = inputs[0];
    let (q, signed) = match &x.values {
        Values::I8(q) => (q, true),
        Values::U8(q) => (q, false),
        _ => return Err(bad(node, "expects an int8 or uint8 tensor")),
    };
    let scale = float32(node, inputs[1])?;
    let zero: Vec<i32> = match inputs.get(2).map(|z| &z.values) {
        None => vec![0; scale.len()],
        Some(Values::I8(z)) if signed => z.clone(),
        Some(Values::U8(z)) if !signed => z.clone(),
        Some(_) => return Err(bad(node, "its zero point's type differs from the tensor's")),
    };
    if zero.len() != scale.len() {
        return Err(bad(node, "its scale and zero point differ in length"));
    }
    let (channels, inner) = if scale.len() == 1 && inputs[1].dims.len() <= 1 {
        (1, q.len().max(1))
    } else {
        let rank = x.dims.len() as i64;
        let axis = int_attr(node, "axis").unwrap_or(1);
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) || x.dims[axis as usize] != scale.len() || inputs[1].dims.len() != 1 {
            return Err(bad(node, "its per-axis scale does not match the tensor's axis"));
        }
        (scale.len(), x.dims[axis as usize + 1..].iter().product::<usize>().max(1))
    };
    let data = q
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            (v - zero[c]) as f32 * scale[c]
        })
        .collect();
    Ok((x.dims.clone(), data))
}

/// `a @ b` for two matrices.
fn matmul(node: &NodeProto, a: &Stored, b: &Stored) -> Result<(Vec<usize>, Vec<f32>)> {
    let (av, bv) = (float32(node, a)?, float32(node, b)?);
    let (&[rows, inner], &[inner_b, cols]) = (a.dims.as_slice(), b.dims.as_slice()) else {
        return Err(bad(node, "only products of two matrices are evaluated at load"));
    };
    if inner != inner_b {
        return Err(bad(node, format!("cannot multiply {:?} by {:?}", a.dims, b.dims)));
    }
    within_budget(node, rows.saturating_mul(cols))?;
    // Bounded work too: a file must not make loading spin for hours.
    if (rows as u64).saturating_mul(inner as u64).saturating_mul(cols as u64) > 1 << 32 {
        return Err(bad(node, "its product is too large to evaluate at load"));
    }
    let mut out = vec![0f32; rows * cols];
    for (r, out_row) in out.chunks_exact_mut(cols.max(1)).enumerate().take(rows) {
        for k in 0..inner {
            let x = av[r * inner + k];
            for (o, w) in out_row.iter_mut().zip(&bv[k * cols..(k + 1) * cols]) {
                *o += x * w;
            }
        }
    }
    Ok((vec![rows, cols], out))
}

fn concat(node: &NodeProto, inputs: &[&Stored]) -> Result<(Vec<usize>, Vec<f32>)> {
    let first = inputs[0];
    let rank = first.dims.len() as i64;
    let axis = int_attr(node, "axis").ok_or_else(|| bad(node, "has no axis"))?;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return Err(bad(node, "its axis is out of range"));
    }
    let axis = axis as usize;
    let mut dims = first.dims.clone();
    dims[axis] = 0;
    for input in inputs {
        let same_elsewhere = input.dims.len() == first.dims.len()
            && input.dims.iter().zip(&first.dims).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !same_elsewhere {
            return Err(bad(node, "its inputs differ in shape off the concatenation axis"));
        }
        dims[axis] += input.dims[axis];
    }
    within_budget(node, dims.iter().product())?;
    let outer: usize = dims[..axis].iter().product();
    let mut data = Vec::with_capacity(dims.iter().product());
    let values: Vec<&[f32]> = inputs.iter().map(|i| float32(node, i)).collect::<Result<_>>()?;
    for o in 0..outer {
        for (input, v) in inputs.iter().zip(&values) {
            let block: usize = input.dims[axis..].iter().product();
            data.extend_from_slice(&v[o * block..(o + 1) * block]);
        }
    }
    Ok((dims, data))
}

/// The node's float32 result, or `None` when it is not one this module evaluates.
fn evaluate(node: &NodeProto, inputs: &[&Stored]) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let unary = |f: fn(f32) -> f32| -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        let x = float32(node, inputs[0])?;
        Ok(Some((inputs[0].dims.clone(), x.iter().map(|&v| f(v)).collect())))
    };
    match (node.op_type.as_str(), inputs.len()) {
        ("DequantizeLinear", 2 | 3) => dequantize(node, inputs).map(Some),
        ("Cast", 1) if int_attr(node, "to") == Some(DataType::Float as i64) => match &inputs[0].values {
            Values::F16(v) | Values::F32(v) => Ok(Some((inputs[0].dims.clone(), v.clone()))),
            _ => Ok(None),
        },
        ("MatMul", 2) => matmul(node, inputs[0], inputs[1]).map(Some),
        ("Sin", 1) => unary(f32::sin),
        ("Cos", 1) => unary(f32::cos),
        ("Concat", n) if n > 0 => concat(node, inputs).map(Some),
        _ => Ok(None),
    }
}

/// Replaces every evaluable constant node of `graph` by its float32 initializer and drops the
/// initializers nothing reads any more. Returns how many nodes were evaluated.
///
/// Results stay decoded while the nodes after them are evaluated, and only those that a remaining
/// node still reads are written back as initializers: the positional encoding's intermediate
/// products are never encoded into protobuf bytes and decoded again.
pub fn evaluate_constant_nodes(graph: &mut GraphProto) -> Result<usize> {
    let graph_inputs: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let index: HashMap<String, usize> =
        graph.initializer.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    // Decoded initializers (`None`: of a type this module does not compute with) and results.
    let mut known: HashMap<String, Option<Stored>> = HashMap::new();
    let mut results: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let standard = node.domain.is_empty() || node.domain == "ai.onnx";
        let [output] = node.output.as_slice() else {
            kept.push(node);
            continue;
        };
        // An initializer that is also a graph input can be overridden by the caller.
        let constant = |name: &String| {
            !graph_inputs.contains(name) && (known.contains_key(name) || index.contains_key(name))
        };
        let evaluable = standard
            && !node.input.is_empty()
            && !graph_outputs.contains(output)
            && !known.contains_key(output)
            && node.input.iter().all(constant);
        if !evaluable {
            kept.push(node);
            continue;
        }
        for name in &node.input {
            if !known.contains_key(name) {
                known.insert(name.clone(), read(&graph.initializer[index[name]]));
            }
        }
        let inputs: Option<Vec<&Stored>> = node.input.iter().map(|name| known[name].as_ref()).collect();
        let result = match inputs {
            Some(inputs) => evaluate(&node, &inputs)?,
            None => None,
        };
        let Some((dims, data)) = result else {
            kept.push(node);
            continue;
        };
        known.insert(output.clone(), Some(Stored { dims, values: Values::F32(data) }));
        results.push(output.clone());
    }
    graph.node = kept;
    let evaluated = results.len();
    if evaluated > 0 {
        let mut read = HashSet::new();
        names_read(graph, &mut read);
        let still_read: Vec<String> =
            results.into_iter().filter(|name| read.contains(name.as_str())).collect();
        for name in still_read {
            if let Some(Some(Stored { dims, values: Values::F32(data) })) = known.remove(&name) {
                graph.initializer.push(float_tensor(&name, &dims, &data));
            }
        }
        drop_unread_initializers(graph);
    }
    Ok(evaluated)
}

/// Every value name the nodes of `graph` and of its subgraphs read (a subgraph may read an outer
/// initializer).
fn names_read<'a>(graph: &'a GraphProto, read: &mut HashSet<&'a str>) {
    for node in &graph.node {
        read.extend(node.input.iter().map(String::as_str));
        for attr in &node.attribute {
            for g in attr.g.iter().chain(&attr.graphs) {
                names_read(g, read);
            }
        }
    }
}

fn drop_unread_initializers(graph: &mut GraphProto) {
    let mut read = HashSet::new();
    names_read(graph, &mut read);
    read.extend(graph.output.iter().map(|o| o.name.as_str()));
    read.extend(graph.input.iter().map(|i| i.name.as_str()));
    let keep: Vec<bool> = graph.initializer.iter().map(|t| read.contains(t.name.as_str())).collect();
    let mut keep = keep.into_iter();
    graph.initializer.retain(|_| keep.next().unwrap_or(true));
}
