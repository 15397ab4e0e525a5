//! Where inference time goes: every node of the optimised plan timed on real runs and summed by
//! operator class (`segface bench --profile`). The numbers are wall time on the session's
//! threads; the classes are tract's own operator names after optimisation (e.g. `Conv` lowered
//! to `OptMatMul`).
//! Each node also carries its multiply-accumulate count from tract's own cost model, so a class's
//! arithmetic rate can be set against the machine's f32 peak (`segface bench --profile`).
//! [`planned_memory`] gives the bytes of intermediate tensors a parse holds at once, from the
//! graph's shapes and the plan's order.

use std::collections::HashMap;
use std::time::Instant;

use tract_linalg::multithread::multithread_tract_scope;
use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::ops::kernels::vector_state::eval_then_clear;
use crate::runtime::engine::Engine;
use crate::runtime::model::Model;

/// Bytes of intermediate tensors a parse holds at once, planned from the graph's shapes (the
/// model's own constants and the session's buffers come on top).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedMemory {
    /// In the order the plan evaluates its nodes, chosen for the bytes held at once.
    pub peak_bytes: u64,
    /// In tract's own memory-aware order, which counts values rather than bytes: the baseline.
    pub tract_order_peak_bytes: u64,
}

/// The intermediate peak of `model`'s plan, and what tract's own order would hold.
pub fn planned_memory(model: &Model) -> Result<PlannedMemory> {
    let (peak_bytes, tract_order_peak_bytes) = crate::runtime::plan::planned_peaks(&model.inner().plan)
        .map_err(|e| Error::engine(ErrorKind::Inference, "cannot measure the plan", e))?;
    Ok(PlannedMemory { peak_bytes, tract_order_peak_bytes })
}

/// Time spent in one operator class per run. Nodes of one operator that compute in different
/// float types are different classes.
#[derive(Clone, Debug, PartialEq)]
pub struct OpClassTime {
    pub op: String,
    /// What it computes in: `"f16"` or `"f32"` (see [`NodeTime::arithmetic`]).
    pub arithmetic: &'static str,
    /// Nodes of this class in the plan.
    pub nodes: usize,
    /// Mean milliseconds per run.
    pub ms: f64,
    /// Multiply-accumulates per run (tract's cost model; 0 for pure data movement).
    pub macs: u64,
}

impl OpClassTime {
    /// Arithmetic rate in GFLOP/s (two flops per multiply-accumulate); 0 without arithmetic.
    pub fn gflops(&self) -> f64 {
        gflops(self.macs, self.ms)
    }
}

/// Time spent in one node per run.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    /// `"f16"` when the node's float inputs (or, without any, its outputs) are half precision,
    /// else `"f32"`. segface's own operators take float32 inputs even in an f16 model (the
    /// conversions sit at their edges), so this is what the node's arithmetic runs in.
    pub arithmetic: &'static str,
    pub ms: f64,
    pub macs: u64,
    /// The shapes of its inputs, e.g. `16384x256 32x8`, to tell same-named classes apart.
    pub inputs: String,
}

fn gflops(macs: u64, ms: f64) -> f64 {
    if ms > 0.0 {
        2.0 * macs as f64 / (ms * 1e6)
    } else {
        0.0
    }
}

fn input_shapes(model: &TypedModel, node: &TypedNode) -> String {
    let Ok(facts) = model.node_input_facts(node.id) else { return String::new() };
    let dims = |f: &TypedFact| f.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
    facts.iter().map(|f| dims(f)).collect::<Vec<_>>().join(" ")
}

/// What a node computes in (see [`NodeTime::arithmetic`]).
fn node_arithmetic(model: &TypedModel, node: &TypedNode) -> &'static str {
    let inputs = model.node_input_facts(node.id).map(|facts| facts.iter().map(|f| f.datum_type).collect());
    let outputs = node.outputs.iter().map(|o| o.fact.datum_type);
    let float = inputs.unwrap_or_else(|_| Vec::new()).into_iter().chain(outputs).find(|dt| dt.is_float());
    if float == Some(DatumType::F16) {
        "f16"
    } else {
        "f32"
    }
}

/// Multiply-accumulates of one node as tract's cost model counts them (`Cost::FMA`).
fn node_macs(model: &TypedModel, node: &TypedNode) -> u64 {
    let Ok(facts) = model.node_input_facts(node.id) else { return 0 };
    let Ok(costs) = node.op.cost(&facts) else { return 0 };
    costs
        .iter()
        .filter(|(cost, _)| matches!(cost, tract_onnx::tract_core::ops::Cost::FMA(_)))
        .filter_map(|(_, n)| n.to_i64().ok())
        .map(|n| n.max(0) as u64)
        .sum()
}

/// A plan profile: classes and nodes, slowest first.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub classes: Vec<OpClassTime>,
    pub nodes: Vec<NodeTime>,
    /// Mean milliseconds per run over all nodes.
    pub total_ms: f64,
}

/// Runs the engine `runs` times on the input `fill` writes (after one warm-up run), timing
/// every node on the engine's threads.
pub(crate) fn profile(
    engine: &mut Engine,
    fill: impl FnOnce(&mut [f32]) -> Result<()>,
    runs: usize,
) -> Result<Profile> {
    let input = engine.filled_input(fill)?;
    let (state, executor) = engine.state_and_executor();
    let described: HashMap<usize, (u64, String, &'static str)> = {
        let model = state.model();
        model
            .nodes()
            .iter()
            .map(|node| {
                (node.id, (node_macs(model, node), input_shapes(model, node), node_arithmetic(model, node)))
            })
            .collect()
    };
    let mut per_node: HashMap<usize, (String, String, f64)> = HashMap::new();
    for run in 0..=runs.max(1) {
        multithread_tract_scope(executor.clone(), || {
            state.run_plan_with_eval(tvec![input.clone()], |ctx, op_state, node, inputs| {
                let started = Instant::now();
                let out = eval_then_clear(ctx, op_state, node, inputs);
                if run > 0 {
                    let entry = per_node
                        .entry(node.id)
                        .or_insert_with(|| (node.name.clone(), node.op().name().to_string(), 0.0));
                    entry.2 += started.elapsed().as_secs_f64() * 1e3;
                }
                out
            })
        })
        .map_err(|e| Error::engine(ErrorKind::Inference, "profiled inference failed", e))?;
    }
    let runs = runs.max(1) as f64;
    let mut classes: HashMap<(String, &'static str), (usize, f64, u64)> = HashMap::new();
    let mut nodes = Vec::new();
    for (id, (name, op, ms)) in per_node {
        let (node_macs, inputs, arithmetic) =
            described.get(&id).cloned().unwrap_or((0, String::new(), "f32"));
        let class = classes.entry((op.clone(), arithmetic)).or_default();
        class.0 += 1;
        class.1 += ms / runs;
        class.2 += node_macs;
        nodes.push(NodeTime { name, op, arithmetic, ms: ms / runs, macs: node_macs, inputs });
    }
    let mut classes: Vec<OpClassTime> = classes
        .into_iter()
        .map(|((op, arithmetic), (nodes, ms, macs))| OpClassTime { op, arithmetic, nodes, ms, macs })
        .collect();
    classes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let total_ms = classes.iter().map(|c| c.ms).sum();
    Ok(Profile { classes, nodes, total_ms })
}
