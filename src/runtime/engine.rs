//! One stream's use of a loaded model: tract's state for its plan, the thread pool its
//! operators share, and the input tensor, reused from run to run. The engine takes a normalised
//! (1, 3, R, R) input and gives back the (1, C, R, R) logits; it knows nothing of pixels.

use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::ops::kernels::vector_state::eval_then_clear;
use crate::runtime::model::Model;
use crate::runtime::precision::engine_input;

/// The most threads a session may use.
pub(crate) const MAX_THREADS: usize = 64;

pub(crate) struct Engine {
    model: Model,
    state: TypedSimpleState,
    /// The input tensor, reused when tract has released it after a run.
    input: Option<Arc<Tensor>>,
    /// Where the plan's operators run: this thread, or a pool of this engine's own.
    executor: Executor,
    threads: usize,
}

/// The logits of one run, held by tract until dropped.
pub(crate) struct RunOutput(TValue);

impl RunOutput {
    /// The (1, C, R, R) logits, row-major.
    pub(crate) fn logits(&self) -> Result<&[f32]> {
        let view = self.0.try_as_plain_ram().map_err(engine_error("logits"))?;
        view.as_slice::<f32>().map_err(engine_error("logits"))
    }
}

impl Engine {
    pub(crate) fn new(model: Model) -> Result<Engine> {
        let state = model
            .inner()
            .plan
            .spawn()
            .map_err(|e| Error::engine(ErrorKind::Inference, "cannot create the inference state", e))?;
        Ok(Engine { model, state, input: None, executor: Executor::SingleThread, threads: 1 })
    }

    pub(crate) fn model(&self) -> &Model {
        &self.model
    }

    /// Runs the plan's operators on `threads` threads: 1 is the calling thread alone; more
    /// starts a pool of `threads` worker threads owned by this engine, which the calling thread
    /// waits on.
    pub(crate) fn set_threads(&mut self, threads: usize) -> Result<()> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::invalid_argument(format!(
                "{threads} threads; 1 to {MAX_THREADS} are allowed"
            )));
        }
        self.executor = if threads == 1 {
            Executor::SingleThread
        } else {
            // Building a pool panics when the system refuses threads.
            std::panic::catch_unwind(|| Executor::multithread_with_name(threads, "segface"))
                .map_err(|_| Error::new(ErrorKind::Inference, format!("cannot start {threads} threads")))?
        };
        self.threads = threads;
        Ok(())
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs the network on the input `fill` writes: 3 x R x R normalised values, channel-major.
    pub(crate) fn run(&mut self, fill: impl FnOnce(&mut [f32]) -> Result<()>) -> Result<RunOutput> {
        let input = self.filled_input(fill)?;
        let state = &mut self.state;
        let mut outputs = multithread_tract_scope(self.executor.clone(), || {
            state.run_plan_with_eval(tvec![input], eval_then_clear)
        })
        .map_err(|e| Error::engine(ErrorKind::Inference, "inference failed", e))?;
        Ok(RunOutput(outputs.remove(0)))
    }

    /// The engine's input tensor holding what `fill` writes, in the model's precision. The
    /// engine keeps its float32 tensor for the next run once tract has let go of it.
    pub(crate) fn filled_input(&mut self, fill: impl FnOnce(&mut [f32]) -> Result<()>) -> Result<TValue> {
        let r = self.model.info().resolution;
        let mut input = match self.input.take() {
            Some(t) if Arc::strong_count(&t) == 1 => t,
            _ => Arc::new(Tensor::zero::<f32>(&[1, 3, r, r]).map_err(engine_error("input tensor"))?),
        };
        fill(input_slice(&mut input)?)?;
        self.input = Some(input.clone());
        engine_input(input, self.model.info().precision).map_err(engine_error("input tensor"))
    }

    /// tract's state and the executor, for profiling the plan node by node.
    pub(crate) fn state_and_executor(&mut self) -> (&mut TypedSimpleState, Executor) {
        (&mut self.state, self.executor.clone())
    }
}

fn engine_error(context: &str) -> impl Fn(TractError) -> Error + '_ {
    move |e| Error::engine(ErrorKind::Inference, context, e)
}

/// The float data of an input tensor this engine holds exclusively.
fn input_slice(input: &mut Arc<Tensor>) -> Result<&mut [f32]> {
    let tensor =
        Arc::get_mut(input).ok_or_else(|| Error::new(ErrorKind::Inference, "input tensor is shared"))?;
    let view = tensor.to_plain_array_view_mut::<f32>().map_err(engine_error("input tensor"))?;
    view.into_slice().ok_or_else(|| Error::new(ErrorKind::Inference, "input tensor is not contiguous"))
}
