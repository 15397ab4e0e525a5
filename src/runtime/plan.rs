//! The order in which the plan evaluates its nodes, chosen for the bytes held at once.
//!
//! tract's own memory-aware order counts live values, not their sizes, so it can compute a large
//! tensor early and hold it across most of the graph. [`memory_order`] weighs each value by its
//! bytes (`TypedFact::mem_size`, packed layouts included) and takes next the ready node that
//! leaves the fewest bytes live. Being greedy, it can also do worse than tract's order on some
//! graphs (`tests/memory_plan.rs` checks both exports), so the plan runs whichever of the two
//! orders holds fewer bytes at its peak. The
//! order changes when values are freed, not what any node computes.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::order::{eval_order, eval_order_opt_ram};
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::plan::SimplePlan;
use tract_onnx::tract_hir::internal::{bail, DimLike};

/// A model typed, optimised and ordered for running: what every session of it runs.
pub(crate) type Plan = TypedRunnableModel;

/// Bytes of every output of `node`; 0 for constants, which live as long as the plan.
fn output_bytes(node: &TypedNode) -> u64 {
    if node.op_is::<Const>() {
        return 0;
    }
    node.outputs.iter().map(|o| o.fact.mem_size().to_usize().unwrap_or(0) as u64).sum()
}

/// The most bytes of intermediate values live at once (an evaluating node's inputs and outputs
/// together) when `model` runs in `order`, freeing each value after its last reader as tract's
/// plan does and keeping the model's outputs to the end.
pub(crate) fn peak_bytes(model: &TypedModel, order: &[usize]) -> TractResult<u64> {
    let mut last_reader = vec![None; model.nodes().len()];
    for (step, &id) in order.iter().enumerate() {
        for input in &model.node(id).inputs {
            last_reader[input.node] = Some(step);
        }
    }
    for output in model.output_outlets()? {
        last_reader[output.node] = Some(order.len());
    }
    let mut freed_after: Vec<Vec<usize>> = vec![vec![]; order.len() + 1];
    for (id, step) in last_reader.iter().enumerate() {
        if let Some(step) = step {
            freed_after[*step].push(id);
        }
    }
    let (mut live, mut peak) = (0u64, 0u64);
    for (step, &id) in order.iter().enumerate() {
        live += output_bytes(model.node(id));
        peak = peak.max(live);
        live -= freed_after[step].iter().map(|&dead| output_bytes(model.node(dead))).sum::<u64>();
    }
    Ok(peak)
}

/// A topological order of the nodes that `model`'s outputs need, built greedily for few live
/// bytes: of the nodes whose inputs are all computed, the next is the one whose outputs, less the
/// values it is the last reader of, weigh least; ties go to the node tract's order puts first.
pub(crate) fn memory_order(model: &TypedModel) -> TractResult<Vec<usize>> {
    let base = eval_order(model)?;
    let n = model.nodes().len();
    let mut rank = vec![usize::MAX; n];
    for (i, &id) in base.iter().enumerate() {
        rank[id] = i;
    }
    // The distinct values each node reads, and the readers each value has.
    let mut reads: Vec<Vec<usize>> = vec![vec![]; n];
    let mut readers: Vec<Vec<usize>> = vec![vec![]; n];
    for &id in &base {
        for input in &model.node(id).inputs {
            if !reads[id].contains(&input.node) {
                reads[id].push(input.node);
                readers[input.node].push(id);
            }
        }
    }
    let mut kept_to_end = vec![false; n];
    for output in model.output_outlets()? {
        kept_to_end[output.node] = true;
    }
    let mut readers_left: Vec<usize> = readers.iter().map(Vec::len).collect();
    let mut inputs_missing: Vec<usize> = reads.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = base.iter().copied().filter(|&id| inputs_missing[id] == 0).collect();
    let mut order = Vec::with_capacity(base.len());
    while !ready.is_empty() {
        let growth = |id: usize| -> i64 {
            let freed: u64 = reads[id]
                .iter()
                .filter(|&&value| readers_left[value] == 1 && !kept_to_end[value])
                .map(|&value| output_bytes(model.node(value)))
                .sum();
            output_bytes(model.node(id)) as i64 - freed as i64
        };
        let (at, &next) =
            ready.iter().enumerate().min_by_key(|&(_, &id)| (growth(id), rank[id])).expect("not empty");
        ready.swap_remove(at);
        order.push(next);
        for &value in &reads[next] {
            readers_left[value] -= 1;
        }
        for &reader in &readers[next] {
            inputs_missing[reader] -= 1;
            if inputs_missing[reader] == 0 {
                ready.push(reader);
            }
        }
    }
    Ok(order)
}

/// The runnable plan of `model`, evaluating its nodes in [`memory_order`] or in tract's own
/// memory-aware order, whichever holds fewer bytes at once (tract's on a tie).
pub(crate) fn plan(model: TypedModel) -> TractResult<Arc<Plan>> {
    let tract_order = eval_order_opt_ram(&model)?;
    let greedy = memory_order(&model)?;
    let chosen =
        if peak_bytes(&model, &greedy)? < peak_bytes(&model, &tract_order)? { greedy } else { tract_order };
    let order: Vec<usize> = chosen.into_iter().filter(|&id| !model.node(id).op_is::<Const>()).collect();
    // tract takes an order only as dependencies between nodes: chaining every node to the one
    // before it leaves its plain topological sort (`skip_order_opt_ram`) exactly one choice.
    let chain: Vec<(usize, usize)> = order.windows(2).map(|pair| (pair[1], pair[0])).collect();
    let outputs = model.output_outlets()?.to_vec();
    let options = RunOptions { skip_order_opt_ram: true, ..RunOptions::default() };
    #[allow(deprecated)] // the one constructor that takes dependencies
    let plan = SimplePlan::build_with_outputs_and_deps(model, &outputs, &chain, &options)?;
    if plan.order_without_consts() != order {
        bail!("tract did not keep the planned order");
    }
    Ok(Arc::new(plan))
}

/// The plan's intermediate peak in its own order and in tract's memory-aware order.
pub(crate) fn planned_peaks(plan: &Plan) -> TractResult<(u64, u64)> {
    let model = plan.model();
    let tract_order = eval_order_opt_ram(model)?;
    Ok((peak_bytes(model, plan.order_without_consts())?, peak_bytes(model, &tract_order)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::array::MultiBroadcastTo;
    use tract_onnx::tract_core::ops::math::add;
    use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};

    const WIDE: usize = 1 << 20;

    /// x (1) -> `branches` x [broadcast to WIDE floats -> sum to 1], then the sums added: a graph
    /// whose every branch holds 4 MB until it is summed.
    fn branches(branches: usize) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1])).unwrap();
        let mut sum: Option<OutletId> = None;
        for b in 0..branches {
            let op = MultiBroadcastTo { shape: ShapeFact::from_dims([WIDE]) };
            let w = model.wire_node(format!("wide{b}"), op, &[x]).unwrap()[0];
            let reduce = Reduce { axes: tvec![0], reducer: Reducer::Sum };
            let s = model.wire_node(format!("sum{b}"), reduce, &[w]).unwrap()[0];
            sum = Some(match sum {
                None => s,
                Some(acc) => model.wire_node(format!("add{b}"), add(), &[acc, s]).unwrap()[0],
            });
        }
        model.select_output_outlets(&[sum.unwrap()]).unwrap();
        model
    }

    #[test]
    fn the_peak_counts_bytes_until_the_last_reader() {
        let model = branches(2);
        let id = |name: &str| model.node_by_name(name).unwrap().id;
        let wide_bytes = 4 * WIDE as u64;
        // Both wide values first: 8 MB at once; each summed before the next: one at a time.
        let both = ["x", "wide0", "wide1", "sum0", "sum1", "add1"].map(id);
        let each = ["x", "wide0", "sum0", "wide1", "sum1", "add1"].map(id);
        assert!(peak_bytes(&model, &both).unwrap() >= 2 * wide_bytes);
        assert!(peak_bytes(&model, &each).unwrap() < wide_bytes + 64);
    }

    #[test]
    fn the_order_sums_each_wide_value_before_making_the_next() {
        let model = branches(4);
        let order = memory_order(&model).unwrap();
        assert!(peak_bytes(&model, &order).unwrap() < 4 * WIDE as u64 + 64);
        // A topological order of every node: each after all it reads.
        assert_eq!(order.len(), model.nodes().len());
        for (step, &id) in order.iter().enumerate() {
            for input in &model.node(id).inputs {
                assert!(order[..step].contains(&input.node), "node {id} before its input {}", input.node);
            }
        }
        let plan = plan(model).unwrap();
        let out = plan.run(tvec![tensor1(&[0.5f32]).into_tvalue()]).unwrap();
        assert_eq!(*out[0], tensor1(&[4.0 * 0.5 * WIDE as f32]));
    }
}
