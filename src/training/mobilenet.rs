//! torchvision's MobileNetV3-Large `features`, tapped after blocks 3, 6, 12 and 16 (strides 4, 8,
//! 16, 32), built from the shared description in `arch`.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{activation::relu, Tensor};

use super::layers::{hard_sigmoid, hard_swish, BatchNorm, Conv};
use super::named::{NamedWeights, WeightVisitor};
use crate::convert::arch::{
    self, Activation, InvertedResidual, BN_EPS, LAST_CHANNELS, MOBILENET_BLOCKS, STEM_CHANNELS, TAP_FEATURES,
};

/// torchvision MobileNetV3's BatchNorm momentum.
const BN_MOMENTUM: f64 = 0.01;

/// Conv + BatchNorm (+ activation): torchvision's `Conv2dNormActivation`, keys `.0` and `.1`.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    pub conv: Conv<B>,
    pub bn: BatchNorm<B>,
    /// 0 none, 1 ReLU, 2 hard swish (a plain number keeps the module derive simple).
    pub activation: u8,
}

fn activation_code(a: Option<Activation>) -> u8 {
    match a {
        None => 0,
        Some(Activation::Relu) => 1,
        Some(Activation::HardSwish) => 2,
    }
}

impl<B: Backend> ConvBn<B> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        activation: Option<Activation>,
        device: &B::Device,
    ) -> Self {
        ConvBn {
            conv: Conv::new(input, output, kernel, stride, groups, false, device),
            bn: BatchNorm::new(output, BN_EPS as f64, BN_MOMENTUM, device),
            activation: activation_code(activation),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.bn.forward(self.conv.forward(x));
        match self.activation {
            1 => relu(y),
            2 => hard_swish(y),
            _ => y,
        }
    }
}

impl<B: Backend> NamedWeights<B> for ConvBn<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.conv.visit_named(&format!("{prefix}.0"), v);
        self.bn.visit_named(&format!("{prefix}.1"), v);
    }
}

/// Squeeze-and-excitation: pool, 1x1 conv, ReLU, 1x1 conv, hard sigmoid, scale.
#[derive(Module, Debug)]
pub struct SqueezeExcite<B: Backend> {
    pub fc1: Conv<B>,
    pub fc2: Conv<B>,
}

impl<B: Backend> SqueezeExcite<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let pooled = adaptive_avg_pool2d(x.clone(), [1, 1]);
        let scale = hard_sigmoid(self.fc2.forward(relu(self.fc1.forward(pooled))));
        x * scale
    }
}

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub expand: Option<ConvBn<B>>,
    pub depthwise: ConvBn<B>,
    pub squeeze_excite: Option<SqueezeExcite<B>>,
    pub project: ConvBn<B>,
    pub residual: bool,
}

impl<B: Backend> Block<B> {
    fn new(b: &InvertedResidual, device: &B::Device) -> Self {
        Block {
            expand: b
                .has_expand()
                .then(|| ConvBn::new(b.input, b.expanded, 1, 1, 1, Some(b.activation), device)),
            depthwise: ConvBn::new(
                b.expanded,
                b.expanded,
                b.kernel,
                b.stride,
                b.expanded,
                Some(b.activation),
                device,
            ),
            squeeze_excite: b.squeeze_excite.then(|| SqueezeExcite {
                fc1: Conv::new(b.expanded, b.squeeze(), 1, 1, 1, true, device),
                fc2: Conv::new(b.squeeze(), b.expanded, 1, 1, 1, true, device),
            }),
            project: ConvBn::new(b.expanded, b.output, 1, 1, 1, None, device),
            residual: b.has_residual(),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut y = x.clone();
        if let Some(expand) = &self.expand {
            y = expand.forward(y);
        }
        y = self.depthwise.forward(y);
        if let Some(se) = &self.squeeze_excite {
            y = se.forward(y);
        }
        y = self.project.forward(y);
        if self.residual {
            y + x
        } else {
            y
        }
    }
}

#[derive(Module, Debug)]
pub struct MobileNetV3<B: Backend> {
    pub stem: ConvBn<B>,
    pub blocks: Vec<Block<B>>,
    pub last: ConvBn<B>,
}

impl<B: Backend> MobileNetV3<B> {
    pub fn new(device: &B::Device) -> Self {
        MobileNetV3 {
            stem: ConvBn::new(3, STEM_CHANNELS, 3, 2, 1, Some(Activation::HardSwish), device),
            blocks: MOBILENET_BLOCKS.iter().map(|b| Block::new(b, device)).collect(),
            last: ConvBn::new(
                MOBILENET_BLOCKS[14].output,
                LAST_CHANNELS,
                1,
                1,
                1,
                Some(Activation::HardSwish),
                device,
            ),
        }
    }

    /// The four taps, strides 4, 8, 16 and 32.
    pub fn forward(&self, x: Tensor<B, 4>) -> [Tensor<B, 4>; 4] {
        let mut x = self.stem.forward(x);
        let mut taps = Vec::with_capacity(4);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if TAP_FEATURES.contains(&(i + 1)) {
                taps.push(x.clone());
            }
        }
        taps.push(self.last.forward(x));
        taps.try_into().expect("four taps")
    }
}

impl<B: Backend> NamedWeights<B> for MobileNetV3<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.stem.visit_named(&format!("{prefix}.0"), v);
        for (i, (block, spec)) in self.blocks.iter_mut().zip(&MOBILENET_BLOCKS).enumerate() {
            let keys = arch::block_keys(i + 1, spec);
            // block_keys spells full keys under `backbone.`; re-root them under `prefix`.
            let at = |k: &str| format!("{prefix}{}", &k["backbone".len()..]);
            if let (Some(expand), Some(key)) = (&mut block.expand, &keys.expand) {
                expand.visit_named(&at(key), v);
            }
            block.depthwise.visit_named(&at(&keys.depthwise), v);
            if let (Some(se), Some(key)) = (&mut block.squeeze_excite, &keys.squeeze_excite) {
                se.fc1.visit_named(&format!("{}.fc1", at(key)), v);
                se.fc2.visit_named(&format!("{}.fc2", at(key)), v);
            }
            block.project.visit_named(&at(&keys.project), v);
        }
        self.last.visit_named(&format!("{prefix}.16"), v);
    }
}
