//! How segface's operators enter tract: read from their ONNX node, shape-checked while tract
//! infers the graph, then wired as typed operators.

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// The shape rules of one of segface's operators, checked while tract reads the ONNX graph
/// (before the typed operator exists for its inputs).
pub(crate) trait InferenceRules: TypedOp + Clone {
    fn shape_rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult;
}

/// The inference-time face of a segface operator: its shape rules, then the operator itself.
#[derive(Clone, Debug)]
struct Inference<O>(O);

impl<O: InferenceRules> Expansion for Inference<O> {
    fn name(&self) -> StaticName {
        Op::name(&self.0)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.0.shape_rules(s, inputs, outputs)
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}

/// `op` as tract's ONNX reader takes it.
pub(crate) fn inference<O: InferenceRules>(op: O) -> Box<dyn InferenceOp> {
    expand(Inference(op))
}

/// A 0/1 attribute, 0 when absent (the forms docs/model-format.md lists).
pub(crate) fn flag(node: &NodeProto, op: &str, name: &str) -> TractResult<bool> {
    match node.get_attr_opt::<i64>(name)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(other) => bail!("{op}: attribute `{name}` must be 0 or 1, got {other}"),
    }
}
