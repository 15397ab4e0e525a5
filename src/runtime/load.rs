//! The one path by which an ONNX graph reaches tract, for the parsing model and the face
//! detector alike: decoded and screened before tract builds anything from it, read with
//! segface's operators registered, typed for a fixed (1, 3, S, S) input and checked again once
//! tract has computed every tensor's shape. tract panics on some malformed graphs; a file must
//! never take the app down, so the whole load runs under [`guarded`].

use std::panic::{catch_unwind, AssertUnwindSafe};

use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::screen::{check_computed_tensors, check_stored_tensors, check_wiring};

/// Runs a load, turning a panic inside tract into an [`ErrorKind::InvalidModel`] error that
/// names `what` was being loaded ("the model", "the detector").
pub(crate) fn guarded<T>(what: &str, load: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(load)).unwrap_or_else(|_| {
        Err(Error::invalid_model(format!("{what} could not be loaded (the engine rejected its graph)")))
    })
}

/// The ONNX protobuf in `bytes`, its stored tensors and wiring screened.
pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<ModelProto> {
    let proto = ModelProto::decode(bytes).map_err(|e| {
        Error::invalid_model(format!("{what} is not an ONNX model (protobuf decoding failed)")).with_source(e)
    })?;
    let graph = proto.graph.as_ref().ok_or_else(|| Error::invalid_model(format!("{what} has no graph")))?;
    check_stored_tensors(graph, 0)?;
    check_wiring(graph)?;
    Ok(proto)
}

/// `proto` read by tract (segface's operators registered) and typed for a (1, 3, `size`,
/// `size`) float32 input, every computed tensor within the screening bounds.
pub(crate) fn typed(proto: &ModelProto, size: usize, what: &str) -> Result<TypedModel> {
    let invalid = |context: String, e: TractError| Error::engine(ErrorKind::InvalidModel, &context, e);
    let typed = crate::ops::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| invalid(format!("cannot read the graph of {what}"), e))?
        .with_input_fact(0, f32::fact([1, 3, size, size]).into())
        .map_err(|e| invalid(format!("cannot fix the input of {what}"), e))?
        .into_typed()
        .map_err(|e| invalid(format!("cannot type {what} for a {size} x {size} input"), e))?;
    check_computed_tensors(&typed)?;
    Ok(typed)
}
