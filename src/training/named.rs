//! Every weight of the training model under its reference state-dict key, through one walk per
//! module ([`NamedWeights::visit_named`]): the same walk loads a checkpoint (or the exporter's
//! [`Weights`]) into the model and saves the model back, so names cannot drift between
//! training, checkpoints and export.

use burn::module::{Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::convert::arch::KeySpec;
use crate::convert::weights::{WeightTensor, Weights};
use crate::error::Error;

/// Sees each weight with its key.
pub trait WeightVisitor<B: Backend> {
    /// A trained parameter.
    fn param<const D: usize>(&mut self, key: &str, param: &mut Param<Tensor<B, D>>);
    /// A buffer that is saved but not trained (BatchNorm statistics, the PE matrix).
    fn state<const D: usize>(&mut self, key: &str, state: &mut RunningState<Tensor<B, D>>);
}

/// A module whose weights have reference key names.
pub trait NamedWeights<B: Backend> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V);
}

/// `prefix.name`, or `name` at the top.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn to_weight<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> WeightTensor {
    let shape = tensor.dims().to_vec();
    let data = tensor.into_data().convert::<f32>().to_vec::<f32>().expect("float tensor");
    WeightTensor { shape, data }
}

/// Collects every weight into a [`Weights`].
pub struct Collect(pub Weights);

impl<B: Backend> WeightVisitor<B> for Collect {
    fn param<const D: usize>(&mut self, key: &str, param: &mut Param<Tensor<B, D>>) {
        self.0.insert(key, to_weight(param.val()));
    }
    fn state<const D: usize>(&mut self, key: &str, state: &mut RunningState<Tensor<B, D>>) {
        self.0.insert(key, to_weight(state.value()));
    }
}

/// Sets every weight from a [`Weights`]; the first missing key or wrong shape is kept as the
/// error (the walk itself cannot fail midway).
pub struct Assign<'a, B: Backend> {
    pub weights: &'a Weights,
    pub device: B::Device,
    pub error: Option<Error>,
    pub assigned: usize,
}

impl<B: Backend> Assign<'_, B> {
    fn tensor<const D: usize>(&mut self, key: &str, expected: [usize; D]) -> Option<Tensor<B, D>> {
        if self.error.is_some() {
            return None;
        }
        let found = match self.weights.get(key) {
            Ok(t) if t.shape == expected => t,
            Ok(t) => {
                self.error = Some(Error::invalid_model(format!(
                    "weight `{key}` has shape {:?}, the model needs {expected:?}",
                    t.shape
                )));
                return None;
            }
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        self.assigned += 1;
        Some(Tensor::from_data(TensorData::new(found.data.clone(), expected), &self.device))
    }
}

impl<B: Backend> WeightVisitor<B> for Assign<'_, B> {
    fn param<const D: usize>(&mut self, key: &str, param: &mut Param<Tensor<B, D>>) {
        if let Some(t) = self.tensor(key, param.dims()) {
            // Keeping the parameter's id keeps optimiser state attached across a reload.
            let require_grad = param.is_require_grad();
            *param = Param::initialized(param.id, t).set_require_grad(require_grad);
        }
    }
    fn state<const D: usize>(&mut self, key: &str, state: &mut RunningState<Tensor<B, D>>) {
        if let Some(t) = self.tensor(key, state.value().dims()) {
            *state = RunningState::new(t);
        }
    }
}

/// Counts trained parameter values (buffers left out), as PyTorch's `parameters()` does.
#[derive(Default)]
pub struct CountParams(pub usize);

impl<B: Backend> WeightVisitor<B> for CountParams {
    fn param<const D: usize>(&mut self, _key: &str, param: &mut Param<Tensor<B, D>>) {
        self.0 += param.dims().iter().product::<usize>();
    }
    fn state<const D: usize>(&mut self, _key: &str, _state: &mut RunningState<Tensor<B, D>>) {}
}

/// Lists every weight's key and shape (buffers included), in walk order: what a state dict for
/// this model must hold.
#[derive(Default)]
pub struct KeyList(pub Vec<KeySpec>);

impl<B: Backend> WeightVisitor<B> for KeyList {
    fn param<const D: usize>(&mut self, key: &str, param: &mut Param<Tensor<B, D>>) {
        self.0.push(KeySpec { name: key.to_string(), shape: param.dims().to_vec() });
    }
    fn state<const D: usize>(&mut self, key: &str, state: &mut RunningState<Tensor<B, D>>) {
        self.0.push(KeySpec { name: key.to_string(), shape: state.value().dims().to_vec() });
    }
}
