//! Where inference time goes: every node of the optimised plan timed on real runs and summed by
//! operator class (`segface bench --profile`). The numbers are wall time on one thread; the
//! classes are tract's own operator names after optimisation (e.g. `Conv` lowered to `OptMatMul`).

use std::collections::HashMap;
use std::time::Instant;

use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::image_view::ImageView;
use crate::preprocess::normalize_into;
use crate::session::Session;

/// Time spent in one operator class per run.
#[derive(Clone, Debug, PartialEq)]
pub struct OpClassTime {
    pub op: String,
    /// Nodes of this class in the plan.
    pub nodes: usize,
    /// Mean milliseconds per run.
    pub ms: f64,
}

/// Time spent in one node per run.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    pub ms: f64,
}

/// A plan profile: classes and nodes, slowest first.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub classes: Vec<OpClassTime>,
    pub nodes: Vec<NodeTime>,
    /// Mean milliseconds per run over all nodes.
    pub total_ms: f64,
}

impl Session {
    /// Runs the model `runs` times on `image` (after one warm-up run) timing every node.
    pub fn profile(&mut self, image: &ImageView, runs: usize) -> Result<Profile> {
        let info = self.model().info().clone();
        let mut input = vec![0f32; 3 * info.resolution * info.resolution];
        let rgb = self.model_input_rgb(image)?;
        normalize_into(&rgb, &info.mean, &info.std, &mut input);
        let tensor = Tensor::from_shape(&[1, 3, info.resolution, info.resolution], &input)
            .map_err(|e| Error::engine(ErrorKind::Inference, "input tensor", e))?;
        let mut per_node: HashMap<usize, (String, String, f64)> = HashMap::new();
        for run in 0..=runs.max(1) {
            let state = self.state_mut();
            state
                .run_plan_with_eval(tvec![tensor.clone().into_tvalue()], |ctx, op_state, node, inputs| {
                    let started = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    if run > 0 {
                        let entry = per_node
                            .entry(node.id)
                            .or_insert_with(|| (node.name.clone(), node.op().name().to_string(), 0.0));
                        entry.2 += started.elapsed().as_secs_f64() * 1e3;
                    }
                    out
                })
                .map_err(|e| Error::engine(ErrorKind::Inference, "profiled inference failed", e))?;
        }
        let runs = runs.max(1) as f64;
        let mut classes: HashMap<String, (usize, f64)> = HashMap::new();
        let mut nodes = Vec::new();
        for (name, op, ms) in per_node.into_values() {
            let class = classes.entry(op.clone()).or_default();
            class.0 += 1;
            class.1 += ms / runs;
            nodes.push(NodeTime { name, op, ms: ms / runs });
        }
        let mut classes: Vec<OpClassTime> =
            classes.into_iter().map(|(op, (nodes, ms))| OpClassTime { op, nodes, ms }).collect();
        classes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        let total_ms = classes.iter().map(|c| c.ms).sum();
        Ok(Profile { classes, nodes, total_ms })
    }
}
