//! What an ONNX file must look like before tract builds anything from it.
//!
//! tract trusts the protobuf: an initializer that declares a huge shape, or whose declared shape
//! disagrees with the data it carries, becomes a huge allocation (an abort, not an error) or a
//! panic deep inside the engine. So every tensor stored in the file (initializers and `Constant`
//! attributes, in subgraphs too) is checked against its own bytes first, and after typing, every
//! intermediate tensor of the graph against [`MAX_TENSOR_BYTES`]. Values that nothing produces
//! are refused too (tract panics on them).

use tract_onnx::pb::{self, tensor_proto::DataType, GraphProto, TensorProto};

use crate::error::{Error, Result};

/// The largest tensor (stored or computed) a model may have. The biggest one in SegFace at
/// R = 512 is 19 x 512 x 512 float logits; at the largest accepted resolution about 320 MB.
pub const MAX_TENSOR_BYTES: u64 = 1 << 30;
/// The largest accepted input resolution.
pub const MAX_RESOLUTION: usize = 2048;

fn element_size(data_type: i32) -> Option<u64> {
    Some(match DataType::try_from(data_type).ok()? {
        DataType::Float | DataType::Int32 | DataType::Uint32 => 4,
        DataType::Double | DataType::Int64 | DataType::Uint64 | DataType::Complex64 => 8,
        DataType::Float16 | DataType::Bfloat16 | DataType::Int16 | DataType::Uint16 => 2,
        DataType::Int8 | DataType::Uint8 | DataType::Bool => 1,
        DataType::Complex128 => 16,
        _ => return None,
    })
}

/// The bytes a tensor's typed fields hold (protobuf stores small types widened to 32 bits).
fn typed_data_bytes(t: &TensorProto, element: u64) -> u64 {
    let counted = |n: usize| n as u64 * element;
    counted(t.float_data.len())
        + counted(t.int32_data.len())
        + counted(t.int64_data.len())
        + counted(t.double_data.len())
        + counted(t.uint64_data.len())
}

fn check_tensor(t: &TensorProto, context: &str) -> Result<()> {
    let bad = |what: String| Error::invalid_model(format!("{context} `{}`: {what}", t.name));
    if !t.external_data.is_empty() || t.data_location == Some(pb::tensor_proto::DataLocation::External as i32)
    {
        return Err(bad("refers to external data, which is not supported".into()));
    }
    let Some(element) = element_size(t.data_type) else {
        // Strings and unknown types: tract decides; they cannot declare sizes without content.
        return Ok(());
    };
    let elements =
        t.dims.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
    let bytes = elements.and_then(|n| n.checked_mul(element)).filter(|&b| b <= MAX_TENSOR_BYTES);
    let Some(bytes) = bytes else {
        return Err(bad(format!("declares an absurd shape {:?}", t.dims)));
    };
    let held = if t.raw_data.is_empty() { typed_data_bytes(t, element) } else { t.raw_data.len() as u64 };
    if held != bytes {
        return Err(bad(format!("declares shape {:?} ({bytes} bytes) but holds {held} bytes", t.dims)));
    }
    Ok(())
}

/// Checks every stored tensor of `graph` and of the subgraphs in its nodes' attributes.
pub fn check_stored_tensors(graph: &GraphProto, depth: usize) -> Result<()> {
    if depth > 8 {
        return Err(Error::invalid_model("the model nests subgraphs more than 8 deep"));
    }
    for t in &graph.initializer {
        check_tensor(t, "initializer")?;
    }
    for node in &graph.node {
        for attr in &node.attribute {
            let context = format!("attribute `{}` of node `{}`", attr.name, node.name);
            for t in attr.t.iter().chain(&attr.tensors) {
                check_tensor(t, &context)?;
            }
            for g in attr.g.iter().chain(&attr.graphs) {
                check_stored_tensors(g, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Every value a node reads and every graph output must come from a graph input, an initializer
/// or a node output (tract indexes its name table without checking, and panics otherwise).
pub fn check_wiring(graph: &GraphProto) -> Result<()> {
    use std::collections::HashSet;
    let known: HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .chain(graph.node.iter().flat_map(|n| n.output.iter().map(String::as_str)))
        .collect();
    for node in &graph.node {
        if let Some(missing) = node.input.iter().find(|i| !i.is_empty() && !known.contains(i.as_str())) {
            return Err(Error::invalid_model(format!(
                "node `{}` reads `{missing}`, which nothing in the graph produces",
                node.name
            )));
        }
    }
    if let Some(missing) = graph.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(Error::invalid_model(format!(
            "the graph output `{}` is produced by no node",
            missing.name
        )));
    }
    Ok(())
}

/// Checks the size of every tensor the typed graph computes, from its concrete shapes.
pub fn check_computed_tensors(model: &tract_onnx::prelude::TypedModel) -> Result<()> {
    use tract_onnx::tract_hir::internal::DimLike;
    for node in model.nodes() {
        for (slot, output) in node.outputs.iter().enumerate() {
            let fact = &output.fact;
            let elements = fact
                .shape
                .iter()
                .try_fold(1u64, |acc, d| d.to_usize().ok().and_then(|d| acc.checked_mul(d as u64)));
            let bytes = elements.and_then(|n| n.checked_mul(fact.datum_type.size_of() as u64));
            if bytes.is_none_or(|b| b > MAX_TENSOR_BYTES) {
                return Err(Error::invalid_model(format!(
                    "node `{}` output {slot} would have shape {:?}, more than {MAX_TENSOR_BYTES} bytes",
                    node.name, fact.shape
                )));
            }
        }
    }
    Ok(())
}
