//! The full SegFace model for training and evaluation: a backbone tapped at four scales and the
//! SegFace head. Weights load from and save to the reference's state-dict names.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::decoder::SegFaceHead;
use super::mobilenet::MobileNetV3;
use super::named::{Assign, Collect, CountParams, NamedWeights, WeightVisitor};
use crate::arch::{self, TAP_CHANNELS};
use crate::error::{Error, Result};
use crate::weights::Weights;

#[derive(Module, Debug)]
pub struct SegFace<B: Backend> {
    pub backbone: MobileNetV3<B>,
    pub head: SegFaceHead<B>,
}

impl<B: Backend> SegFace<B> {
    /// SegFace with a MobileNetV3-Large backbone and `num_classes` tokens, randomly initialised.
    pub fn mobilenet(num_classes: usize, device: &B::Device) -> Self {
        SegFace {
            backbone: MobileNetV3::new(device),
            head: SegFaceHead::new(TAP_CHANNELS, num_classes, device),
        }
    }

    /// (B, 3, R, R) normalised images -> (B, C, R, R) logits.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.head.forward(self.backbone.forward(images))
    }

    pub fn num_classes(&self) -> usize {
        self.head.tokens.len()
    }

    /// Sets the momentum of every BatchNorm's running statistics (the reference's 0.01 suits
    /// long runs; short ones need a faster average for evaluation to see the trained network).
    pub fn with_batch_norm_momentum(mut self, momentum: f64) -> Self {
        let convs = std::iter::once(&mut self.backbone.stem).chain(std::iter::once(&mut self.backbone.last));
        let blocks = self.backbone.blocks.iter_mut().flat_map(|b| {
            b.expand
                .iter_mut()
                .chain(std::iter::once(&mut b.depthwise))
                .chain(std::iter::once(&mut b.project))
        });
        for conv in convs.chain(blocks) {
            conv.bn.momentum = momentum;
        }
        self
    }

    /// Trained parameter values (PyTorch's `parameters()`; burn's `num_params` also counts the
    /// BatchNorm statistics and the PE matrix).
    pub fn num_trained_params(&self) -> usize {
        let mut count = CountParams::default();
        self.clone().visit_named("", &mut count);
        count.0
    }

    /// Every weight under its reference key.
    pub fn weights(&self) -> Weights {
        let mut collect = Collect(Weights::default());
        self.clone().visit_named("", &mut collect);
        collect.0
    }

    /// Sets every weight from `weights`, which must hold exactly this model's keys and shapes
    /// (a reference checkpoint, or `weights()` of a model of the same shape).
    pub fn load_weights(&mut self, weights: &Weights, device: &B::Device) -> Result<()> {
        weights.check_against(&arch::mobilenet_keys(self.num_classes()))?;
        let mut assign = Assign::<B> { weights, device: device.clone(), error: None, assigned: 0 };
        self.visit_named("", &mut assign);
        if let Some(e) = assign.error {
            return Err(e);
        }
        if assign.assigned != weights.len() {
            return Err(Error::invalid_model(format!(
                "{} weights given, the model took {}",
                weights.len(),
                assign.assigned
            )));
        }
        Ok(())
    }
}

impl<B: Backend> SegFace<B> {
    /// Sets the backbone from torchvision ImageNet weights (`mobilenet_v3_large-*.pth`, keys
    /// `features.*`; the classifier is ignored), the reference's pretraining.
    pub fn load_imagenet_backbone(&mut self, imagenet: &Weights, device: &B::Device) -> Result<()> {
        let backbone = imagenet.rerooted("features.", "backbone.");
        let expected: Vec<_> = arch::mobilenet_keys(self.num_classes())
            .into_iter()
            .filter(|k| k.name.starts_with("backbone."))
            .collect();
        backbone.check_against(&expected)?;
        let mut assign = Assign::<B> { weights: &backbone, device: device.clone(), error: None, assigned: 0 };
        self.backbone.visit_named("backbone", &mut assign);
        assign.error.map_or(Ok(()), Err)
    }
}

impl<B: Backend> NamedWeights<B> for SegFace<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.backbone.visit_named(&super::named::join(prefix, "backbone"), v);
        self.head.visit_named(prefix, v);
    }
}
