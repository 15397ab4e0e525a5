//! The reference's layers in burn, holding their weights in PyTorch's layouts (conv (out, in /
//! groups, kh, kw), linear (out, in), transposed conv (in, out, kh, kw)) so that weights move
//! between checkpoints, this model and the exporter without reshuffling.
//!
//! burn's own modules differ in details that matter for parity and fine-tuning (BatchNorm's
//! running variance, parameter layouts), so these few are written on burn's tensor ops.

use burn::module::{Module, Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{activation, Tensor};

use super::named::{NamedWeights, WeightVisitor};

fn zeros<B: Backend, const D: usize>(shape: [usize; D], device: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::zeros(shape, device))
}

fn ones<B: Backend, const D: usize>(shape: [usize; D], device: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::ones(shape, device))
}

/// Kaiming-uniform-like start for a layer with `fan_in` inputs (PyTorch's default bound
/// 1 / sqrt(fan_in)); training from scratch or fine-tuning overwrites it.
fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    fan_in: usize,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Param::from_tensor(Tensor::random(shape, burn::tensor::Distribution::Uniform(-bound, bound), device))
}

/// `nn.Conv2d` with square kernel and symmetric padding `(k - 1) / 2`.
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    pub stride: usize,
    pub groups: usize,
}

impl<B: Backend> Conv<B> {
    pub fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        bias: bool,
        device: &B::Device,
    ) -> Self {
        let fan_in = input / groups * kernel * kernel;
        Conv {
            weight: uniform([output, input / groups, kernel, kernel], fan_in, device),
            bias: bias.then(|| uniform([output], fan_in, device)),
            stride,
            groups,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let kernel = self.weight.dims()[2];
        let pad = (kernel - 1) / 2;
        let options = ConvOptions::new([self.stride; 2], [pad; 2], [1, 1], self.groups);
        conv2d(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()), options)
    }
}

impl<B: Backend> NamedWeights<B> for Conv<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.weight"), &mut self.weight);
        if let Some(bias) = &mut self.bias {
            v.param(&format!("{prefix}.bias"), bias);
        }
    }
}

/// `nn.BatchNorm2d` as PyTorch computes it: batch statistics (biased variance) while training,
/// running statistics updated with `momentum` (unbiased variance) and used in evaluation.
#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    pub eps: f64,
    pub momentum: f64,
}

impl<B: Backend> BatchNorm<B> {
    pub fn new(channels: usize, eps: f64, momentum: f64, device: &B::Device) -> Self {
        BatchNorm {
            weight: ones([channels], device),
            bias: zeros([channels], device),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            eps,
            momentum,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let (mean, var) = if B::ad_enabled(&x.device()) {
            let flat = x.clone().swap_dims(0, 1).reshape([c, n * h * w]);
            let mean = flat.clone().mean_dim(1);
            let var = (flat - mean.clone()).square().mean_dim(1);
            let count = (n * h * w) as f64;
            let unbiased = var.clone().detach().mul_scalar(count / (count - 1.0).max(1.0));
            let m = self.momentum;
            let running_mean = self.running_mean.value_sync().mul_scalar(1.0 - m)
                + mean.clone().detach().reshape([c]).mul_scalar(m);
            let running_var =
                self.running_var.value_sync().mul_scalar(1.0 - m) + unbiased.reshape([c]).mul_scalar(m);
            self.running_mean.update(running_mean.detach());
            self.running_var.update(running_var.detach());
            (mean.reshape([1, c, 1, 1]), var.reshape([1, c, 1, 1]))
        } else {
            (self.running_mean.value().reshape([1, c, 1, 1]), self.running_var.value().reshape([1, c, 1, 1]))
        };
        let scale = self.weight.val().reshape([1, c, 1, 1]) / (var + self.eps).sqrt();
        (x - mean) * scale + self.bias.val().reshape([1, c, 1, 1])
    }
}

impl<B: Backend> NamedWeights<B> for BatchNorm<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.weight"), &mut self.weight);
        v.param(&format!("{prefix}.bias"), &mut self.bias);
        v.state(&format!("{prefix}.running_mean"), &mut self.running_mean);
        v.state(&format!("{prefix}.running_var"), &mut self.running_var);
    }
}

/// `nn.Linear` on the last axis of a rank-3 input.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    pub fn new(input: usize, output: usize, device: &B::Device) -> Self {
        Linear {
            weight: uniform([output, input], input, device),
            bias: Some(uniform([output], input, device)),
        }
    }

    /// `nn.Linear(..., bias=False)`.
    pub fn without_bias(input: usize, output: usize, device: &B::Device) -> Self {
        Linear { weight: uniform([output, input], input, device), bias: None }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, c] = x.dims();
        let out = self.weight.dims()[0];
        let mut y = x.reshape([b * n, c]).matmul(self.weight.val().transpose());
        if let Some(bias) = &self.bias {
            y = y + bias.val().reshape([1, out]);
        }
        y.reshape([b, n, out])
    }
}

impl<B: Backend> NamedWeights<B> for Linear<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.weight"), &mut self.weight);
        if let Some(bias) = &mut self.bias {
            v.param(&format!("{prefix}.bias"), bias);
        }
    }
}

/// `nn.LayerNorm` over the last axis (biased variance).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    pub fn new(width: usize, eps: f64, device: &B::Device) -> Self {
        LayerNorm { weight: ones([width], device), bias: zeros([width], device), eps }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let width = self.weight.dims()[0];
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let var = centred.clone().square().mean_dim(2);
        centred / (var + self.eps).sqrt() * self.weight.val().reshape([1, 1, width])
            + self.bias.val().reshape([1, 1, width])
    }

    /// SAM's LayerNorm2d: the same over the channels of an NCHW map.
    pub fn forward_channels(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let c = self.weight.dims()[0];
        let mean = x.clone().mean_dim(1);
        let centred = x - mean;
        let var = centred.clone().square().mean_dim(1);
        centred / (var + self.eps).sqrt() * self.weight.val().reshape([1, c, 1, 1])
            + self.bias.val().reshape([1, c, 1, 1])
    }
}

impl<B: Backend> NamedWeights<B> for LayerNorm<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.weight"), &mut self.weight);
        v.param(&format!("{prefix}.bias"), &mut self.bias);
    }
}

/// `nn.ConvTranspose2d` with kernel 2 and stride 2 (non-overlapping: each input pixel writes its
/// own 2 x 2 block).
#[derive(Module, Debug)]
pub struct ConvTranspose2x2<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> ConvTranspose2x2<B> {
    pub fn new(input: usize, output: usize, device: &B::Device) -> Self {
        let fan_in = output * 4;
        ConvTranspose2x2 {
            weight: uniform([input, output, 2, 2], fan_in, device),
            bias: uniform([output], fan_in, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let options = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
        conv_transpose2d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

impl<B: Backend> NamedWeights<B> for ConvTranspose2x2<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.weight"), &mut self.weight);
        v.param(&format!("{prefix}.bias"), &mut self.bias);
    }
}

/// x * ReLU6(x + 3) / 6.
pub fn hard_swish<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * hard_sigmoid(x)
}

/// ReLU6(x + 3) / 6.
pub fn hard_sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    (x + 3.0).clamp(0.0, 6.0) / 6.0
}

/// Exact (erf) GELU.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    activation::gelu(x)
}
