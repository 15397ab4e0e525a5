//! The full SegFace model for training and evaluation: a backbone (MobileNetV3-Large or Swin v1)
//! tapped at four scales and the SegFace head. Weights load from and save to the reference's
//! state-dict names.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::decoder::SegFaceHead;
use super::face_warp::{resample, FaceWarps};
use super::mobilenet::MobileNetV3;
use super::named::{Assign, Collect, CountParams, KeyList, NamedWeights, WeightVisitor};
use super::swin::Swin;
use crate::convert::arch::swin::{stage_key, SwinConfig, EMBED_CONV_KEY, SWIN_MARKER_KEY};
use crate::convert::arch::TAP_CHANNELS;
use crate::convert::weights::Weights;
use crate::error::{Error, Result};

/// The network the head taps.
// One per model, built once: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone<B: Backend> {
    MobileNet(MobileNetV3<B>),
    Swin(Swin<B>),
}

impl<B: Backend> Backbone<B> {
    /// The four taps, strides 4, 8, 16 and 32.
    pub fn forward(&self, images: Tensor<B, 4>) -> [Tensor<B, 4>; 4] {
        match self {
            Backbone::MobileNet(net) => net.forward(images),
            Backbone::Swin(net) => net.forward(images),
        }
    }
}

impl<B: Backend> NamedWeights<B> for Backbone<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        match self {
            Backbone::MobileNet(net) => net.visit_named(prefix, v),
            Backbone::Swin(net) => net.visit_named(prefix, v),
        }
    }
}

/// Which backbone a model has, and its shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    MobileNetV3,
    Swin(SwinConfig),
}

impl Architecture {
    /// The architecture a state dict was saved from: Swin's configuration is read off the shapes
    /// (embedding width and patch from the patch convolution, window from the bias tables, heads
    /// from their width, depths from the block count), so any Swin checkpoint loads without
    /// being described. Stochastic depth, a training setting, is not stored and reads as 0.
    pub fn of_weights(weights: &Weights) -> Result<Self> {
        if weights.get(SWIN_MARKER_KEY).is_err() {
            return Ok(Architecture::MobileNetV3);
        }
        let not_swin = || Error::invalid_model("the weights hold neither a MobileNetV3 nor a Swin backbone");
        let patch_conv = weights.get(&format!("backbone.{EMBED_CONV_KEY}.weight"))?;
        if patch_conv.shape.len() != 4 {
            return Err(not_swin());
        }
        let table = |stage: usize| {
            weights.get(&format!("backbone.{}.0.attn.relative_position_bias_table", stage_key(stage)))
        };
        let first = table(0).map_err(|_| not_swin())?;
        let side = (first.shape[0] as f64).sqrt().round() as usize;
        let mut depths = [0; 4];
        let mut heads = [0; 4];
        for stage in 0..4 {
            heads[stage] = *table(stage).map_err(|_| not_swin())?.shape.get(1).ok_or_else(not_swin)?;
            depths[stage] = (0..)
                .take_while(|b| {
                    weights.get(&format!("backbone.{}.{b}.norm1.weight", stage_key(stage))).is_ok()
                })
                .count();
        }
        let config = SwinConfig {
            patch: patch_conv.shape[2],
            embed_dim: patch_conv.shape[0],
            depths,
            heads,
            window: side.div_ceil(2),
            stochastic_depth_prob: 0.0,
        };
        config.validate()?;
        Ok(Architecture::Swin(config))
    }

    /// Whether both describe the same network: a training setting (Swin's stochastic depth),
    /// which weights do not record, is left out.
    pub fn same_network(&self, other: &Architecture) -> bool {
        match (self, other) {
            (Architecture::Swin(a), Architecture::Swin(b)) => {
                SwinConfig { stochastic_depth_prob: 0.0, ..a.clone() }
                    == SwinConfig { stochastic_depth_prob: 0.0, ..b.clone() }
            }
            (a, b) => a == b,
        }
    }
}

#[derive(Module, Debug)]
pub struct SegFace<B: Backend> {
    pub backbone: Backbone<B>,
    pub head: SegFaceHead<B>,
}

impl<B: Backend> SegFace<B> {
    /// SegFace with a MobileNetV3-Large backbone and `num_classes` tokens, randomly initialised.
    pub fn mobilenet(num_classes: usize, device: &B::Device) -> Self {
        SegFace {
            backbone: Backbone::MobileNet(MobileNetV3::new(device)),
            head: SegFaceHead::new(TAP_CHANNELS, num_classes, device),
        }
    }

    /// SegFace with a Swin v1 backbone (`SwinConfig::swin_b()` for the published models).
    pub fn swin(config: &SwinConfig, num_classes: usize, device: &B::Device) -> Self {
        SegFace {
            backbone: Backbone::Swin(Swin::new(config, device)),
            head: SegFaceHead::new(config.stage_channels(), num_classes, device),
        }
    }

    /// A randomly initialised model of `architecture`.
    pub fn new(architecture: &Architecture, num_classes: usize, device: &B::Device) -> Self {
        match architecture {
            Architecture::MobileNetV3 => Self::mobilenet(num_classes, device),
            Architecture::Swin(config) => Self::swin(config, num_classes, device),
        }
    }

    /// (B, 3, R, R) normalised images -> (B, C, R, R) logits.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.head.forward(self.backbone.forward(images))
    }

    /// The LaPa model's forward (spec 9): the images warped by `warps` (5-point alignment and
    /// tanh warp), the logits warped back to each image's grid. Without warps, `forward`.
    pub fn forward_warped(&self, images: Tensor<B, 4>, warps: Option<&FaceWarps>) -> Tensor<B, 4> {
        match warps {
            None => self.forward(images),
            Some(w) => resample(self.forward(resample(images, &w.warp)), &w.unwarp),
        }
    }

    pub fn num_classes(&self) -> usize {
        self.head.tokens.len()
    }

    /// Sets the momentum of every BatchNorm's running statistics (the reference's 0.01 suits
    /// long runs; short ones need a faster average for evaluation to see the trained network).
    /// Swin has no BatchNorm: it is returned unchanged.
    pub fn with_batch_norm_momentum(mut self, momentum: f64) -> Self {
        let Backbone::MobileNet(net) = &mut self.backbone else { return self };
        let convs = std::iter::once(&mut net.stem).chain(std::iter::once(&mut net.last));
        let blocks = net.blocks.iter_mut().flat_map(|b| {
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
        let mut keys = KeyList::default();
        self.visit_named("", &mut keys);
        weights.check_against(&keys.0)?;
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
    /// Sets the backbone from torchvision ImageNet weights, the reference's pretraining:
    /// `mobilenet_v3_large-*.pth` (keys `features.*`) or `swin_b-*.pth` (`features.*` and the
    /// final `norm.*`); the classifier `head`/`classifier` keys are ignored.
    pub fn load_imagenet_backbone(&mut self, imagenet: &Weights, device: &B::Device) -> Result<()> {
        let backbone = match self.backbone {
            Backbone::MobileNet(_) => imagenet.rerooted("features.", "backbone."),
            Backbone::Swin(_) => {
                let mut w = imagenet.rerooted("features.", "backbone.0.");
                let norm = imagenet.rerooted("norm.", "backbone.1.");
                for name in norm.names() {
                    w.insert(name, norm.get(name)?.clone());
                }
                w
            }
        };
        let mut keys = KeyList::default();
        self.backbone.visit_named("backbone", &mut keys);
        backbone.check_against(&keys.0)?;
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
