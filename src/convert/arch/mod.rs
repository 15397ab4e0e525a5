//! The SegFace model description: layer configuration and the reference state-dict key names with
//! their shapes. Export and training derive everything from here, so a checkpoint is checked
//! against exactly the model we build. The runtime's MobileNetV3 variant is described here; the
//! Swin v1 variant (training only) in [`swin`].

pub mod swin;

/// Number of classes of the CelebAMask-HQ head.
pub const CELEBA_NUM_CLASSES: usize = 19;
/// Channel width of the fusion output, the transformer and the class tokens.
pub const EMBED_DIM: usize = 256;
/// Random-Fourier frequencies of the positional encoding (half of `EMBED_DIM`).
pub const PE_FREQUENCIES: usize = 128;
/// Attention heads everywhere in the two-way transformer.
pub const NUM_HEADS: usize = 8;
/// Hidden width of the transformer MLP.
pub const MLP_DIM: usize = 2048;
/// Two-way transformer depth.
pub const DEPTH: usize = 2;
/// Cross-attentions project to `EMBED_DIM / ATTN_DOWNSAMPLE`.
pub const ATTN_DOWNSAMPLE: usize = 2;
/// Channels of the upscaled map and of the hypernetwork output.
pub const UPSCALE_CHANNELS: [usize; 2] = [64, 32];
/// Backbone BatchNorm epsilon (torchvision MobileNetV3).
pub const BN_EPS: f32 = 1e-3;
/// Transformer LayerNorm epsilon.
pub const LN_EPS: f32 = 1e-5;
/// LayerNorm2d epsilon in the upscaler.
pub const LN2D_EPS: f32 = 1e-6;

/// Number of classes of the LaPa and Helen heads.
pub const FACE_PARTS_NUM_CLASSES: usize = 11;

/// Token attribute names of the LaPa and Helen models (the same 11 in both), in output-channel
/// order: background, face skin, left/right brow, left/right eye, nose, upper lip, inner mouth,
/// lower lip, hair (spec 8.2, 8.3).
pub const FACE_PARTS_TOKEN_NAMES: [&str; FACE_PARTS_NUM_CLASSES] = [
    "background",
    "face",
    "leftbro",
    "rightbro",
    "lefteye",
    "righteye",
    "nose",
    "upperlip",
    "innermouth",
    "lowerlip",
    "hair",
];

/// Token attribute names in output-channel order. The left/right names are swapped with respect
/// to the label semantics in the reference; that is naming only (spec 8.1).
pub const CELEBA_TOKEN_NAMES: [&str; CELEBA_NUM_CLASSES] = [
    "background",
    "neck",
    "face",
    "cloth",
    "rightear",
    "leftear",
    "rightbro",
    "leftbro",
    "righteye",
    "lefteye",
    "nose",
    "innermouth",
    "lowerlip",
    "upperlip",
    "hair",
    "glass",
    "hat",
    "earring",
    "necklace",
];

/// Activation of a backbone block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    HardSwish,
}

/// One torchvision `InvertedResidual` block of MobileNetV3-Large.
#[derive(Clone, Copy, Debug)]
pub struct InvertedResidual {
    pub input: usize,
    pub kernel: usize,
    pub expanded: usize,
    pub output: usize,
    pub squeeze_excite: bool,
    pub activation: Activation,
    pub stride: usize,
}

impl InvertedResidual {
    pub fn has_expand(&self) -> bool {
        self.expanded != self.input
    }
    pub fn has_residual(&self) -> bool {
        self.stride == 1 && self.input == self.output
    }
    /// SE squeeze width: `exp / 4` rounded to a multiple of 8 as torchvision does.
    pub fn squeeze(&self) -> usize {
        make_divisible(self.expanded / 4, 8)
    }
}

fn make_divisible(v: usize, divisor: usize) -> usize {
    let new_v = std::cmp::max(divisor, (v + divisor / 2) / divisor * divisor);
    if (new_v as f64) < 0.9 * v as f64 {
        new_v + divisor
    } else {
        new_v
    }
}

const fn ir(
    input: usize,
    kernel: usize,
    expanded: usize,
    output: usize,
    squeeze_excite: bool,
    activation: Activation,
    stride: usize,
) -> InvertedResidual {
    InvertedResidual { input, kernel, expanded, output, squeeze_excite, activation, stride }
}

use Activation::{HardSwish as HS, Relu as RE};

/// `features[1..=15]` of torchvision's `mobilenet_v3_large`.
pub const MOBILENET_BLOCKS: [InvertedResidual; 15] = [
    ir(16, 3, 16, 16, false, RE, 1),
    ir(16, 3, 64, 24, false, RE, 2),
    ir(24, 3, 72, 24, false, RE, 1),
    ir(24, 5, 72, 40, true, RE, 2),
    ir(40, 5, 120, 40, true, RE, 1),
    ir(40, 5, 120, 40, true, RE, 1),
    ir(40, 3, 240, 80, false, HS, 2),
    ir(80, 3, 200, 80, false, HS, 1),
    ir(80, 3, 184, 80, false, HS, 1),
    ir(80, 3, 184, 80, false, HS, 1),
    ir(80, 3, 480, 112, true, HS, 1),
    ir(112, 3, 672, 112, true, HS, 1),
    ir(112, 5, 672, 160, true, HS, 2),
    ir(160, 5, 960, 160, true, HS, 1),
    ir(160, 5, 960, 160, true, HS, 1),
];
/// Stem conv output channels (`features[0]`).
pub const STEM_CHANNELS: usize = 16;
/// Last conv output channels (`features[16]`).
pub const LAST_CHANNELS: usize = 960;
/// `features` indices whose outputs are the four taps (strides 4, 8, 16, 32).
pub const TAP_FEATURES: [usize; 4] = [3, 6, 12, 16];
/// Channels of the four taps.
pub const TAP_CHANNELS: [usize; 4] = [24, 40, 112, 960];

/// Key prefixes of the parts of a torchvision `InvertedResidual` block, which shift with the parts
/// that exist (spec 3, "key-index shift").
pub struct BlockKeys {
    pub expand: Option<String>,
    pub depthwise: String,
    pub squeeze_excite: Option<String>,
    pub project: String,
}

pub fn block_keys(feature: usize, block: &InvertedResidual) -> BlockKeys {
    let mut index = 0;
    let mut next = || {
        let key = format!("backbone.{feature}.block.{index}");
        index += 1;
        key
    };
    let expand = block.has_expand().then(&mut next);
    let depthwise = next();
    let squeeze_excite = block.squeeze_excite.then(&mut next);
    let project = next();
    BlockKeys { expand, depthwise, squeeze_excite, project }
}

/// A weight name and its shape as stored in the reference state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub shape: Vec<usize>,
}

pub(crate) fn key(name: impl Into<String>, shape: &[usize]) -> KeySpec {
    KeySpec { name: name.into(), shape: shape.to_vec() }
}

fn conv_bn_keys(out: &mut Vec<KeySpec>, prefix: &str, conv_shape: &[usize]) {
    let channels = conv_shape[0];
    out.push(key(format!("{prefix}.0.weight"), conv_shape));
    for stat in ["weight", "bias", "running_mean", "running_var"] {
        out.push(key(format!("{prefix}.1.{stat}"), &[channels]));
    }
}

pub(crate) fn linear_keys(out: &mut Vec<KeySpec>, prefix: &str, input: usize, output: usize) {
    out.push(key(format!("{prefix}.weight"), &[output, input]));
    out.push(key(format!("{prefix}.bias"), &[output]));
}

pub(crate) fn norm_keys(out: &mut Vec<KeySpec>, prefix: &str, width: usize) {
    out.push(key(format!("{prefix}.weight"), &[width]));
    out.push(key(format!("{prefix}.bias"), &[width]));
}

fn attention_keys(out: &mut Vec<KeySpec>, prefix: &str, internal: usize) {
    for proj in ["q_proj", "k_proj", "v_proj"] {
        linear_keys(out, &format!("{prefix}.{proj}"), EMBED_DIM, internal);
    }
    linear_keys(out, &format!("{prefix}.out_proj"), internal, EMBED_DIM);
}

/// Every float tensor of the MobileNetV3 SegFace state dict (parameters and BatchNorm statistics;
/// `num_batches_tracked` counters are not weights and are excluded), in reference order.
pub fn mobilenet_keys(num_classes: usize) -> Vec<KeySpec> {
    let mut keys = Vec::new();
    conv_bn_keys(&mut keys, "backbone.0", &[STEM_CHANNELS, 3, 3, 3]);
    for (i, block) in MOBILENET_BLOCKS.iter().enumerate() {
        let parts = block_keys(i + 1, block);
        if let Some(expand) = &parts.expand {
            conv_bn_keys(&mut keys, expand, &[block.expanded, block.input, 1, 1]);
        }
        let k = block.kernel;
        conv_bn_keys(&mut keys, &parts.depthwise, &[block.expanded, 1, k, k]);
        if let Some(se) = &parts.squeeze_excite {
            let squeeze = block.squeeze();
            keys.push(key(format!("{se}.fc1.weight"), &[squeeze, block.expanded, 1, 1]));
            keys.push(key(format!("{se}.fc1.bias"), &[squeeze]));
            keys.push(key(format!("{se}.fc2.weight"), &[block.expanded, squeeze, 1, 1]));
            keys.push(key(format!("{se}.fc2.bias"), &[block.expanded]));
        }
        conv_bn_keys(&mut keys, &parts.project, &[block.output, block.expanded, 1, 1]);
    }
    conv_bn_keys(&mut keys, "backbone.16", &[LAST_CHANNELS, 160, 1, 1]);
    head_keys(&mut keys, &TAP_CHANNELS, num_classes);
    keys
}

/// Keys of everything after the backbone (positional encoding, face decoder, fusion), in the
/// reference module's registration order.
pub(crate) fn head_keys(keys: &mut Vec<KeySpec>, tap_channels: &[usize; 4], num_classes: usize) {
    keys.push(key("pe_layer.positional_encoding_gaussian_matrix", &[2, PE_FREQUENCIES]));
    let cross = EMBED_DIM / ATTN_DOWNSAMPLE;
    for layer in 0..DEPTH {
        let p = format!("face_decoder.transformer.layers.{layer}");
        attention_keys(keys, &format!("{p}.self_attn"), EMBED_DIM);
        norm_keys(keys, &format!("{p}.norm1"), EMBED_DIM);
        attention_keys(keys, &format!("{p}.cross_attn_token_to_image"), cross);
        norm_keys(keys, &format!("{p}.norm2"), EMBED_DIM);
        linear_keys(keys, &format!("{p}.mlp.lin1"), EMBED_DIM, MLP_DIM);
        linear_keys(keys, &format!("{p}.mlp.lin2"), MLP_DIM, EMBED_DIM);
        norm_keys(keys, &format!("{p}.norm3"), EMBED_DIM);
        norm_keys(keys, &format!("{p}.norm4"), EMBED_DIM);
        attention_keys(keys, &format!("{p}.cross_attn_image_to_token"), cross);
    }
    attention_keys(keys, "face_decoder.transformer.final_attn_token_to_image", cross);
    norm_keys(keys, "face_decoder.transformer.norm_final_attn", EMBED_DIM);
    for name in token_names(num_classes) {
        keys.push(key(token_key(&name), &[1, EMBED_DIM]));
    }
    let [up0, up1] = UPSCALE_CHANNELS;
    keys.push(key("face_decoder.output_upscaling.0.weight", &[EMBED_DIM, up0, 2, 2]));
    keys.push(key("face_decoder.output_upscaling.0.bias", &[up0]));
    norm_keys(keys, "face_decoder.output_upscaling.1", up0);
    keys.push(key("face_decoder.output_upscaling.3.weight", &[up0, up1, 2, 2]));
    keys.push(key("face_decoder.output_upscaling.3.bias", &[up1]));
    let mlp = "face_decoder.output_hypernetwork_mlps.layers";
    linear_keys(keys, &format!("{mlp}.0"), EMBED_DIM, EMBED_DIM);
    linear_keys(keys, &format!("{mlp}.1"), EMBED_DIM, EMBED_DIM);
    linear_keys(keys, &format!("{mlp}.2"), EMBED_DIM, up1);
    for (i, &channels) in tap_channels.iter().enumerate() {
        linear_keys(keys, &format!("linear_c.{i}.proj"), channels, EMBED_DIM);
    }
    keys.push(key("linear_fuse.weight", &[EMBED_DIM, 4 * EMBED_DIM, 1, 1]));
}

/// Class-token attribute names for a head with `num_classes` outputs (19: CelebAMask-HQ, 11:
/// LaPa and Helen); empty for any other count, which no reference model has.
pub fn token_names(num_classes: usize) -> Vec<String> {
    match num_classes {
        CELEBA_NUM_CLASSES => CELEBA_TOKEN_NAMES.iter().map(|s| s.to_string()).collect(),
        FACE_PARTS_NUM_CLASSES => FACE_PARTS_TOKEN_NAMES.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// State-dict key of the class token with attribute name `name`.
pub fn token_key(name: &str) -> String {
    format!("face_decoder.{name}_token.weight")
}

/// Whether `key` names a class token (any attribute name, see [`token_key`]).
pub fn is_token_key(key: &str) -> bool {
    key.starts_with("face_decoder.") && key.ends_with("_token.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeeze_widths_match_torchvision() {
        let widths: Vec<usize> =
            MOBILENET_BLOCKS.iter().filter(|b| b.squeeze_excite).map(|b| b.squeeze()).collect();
        assert_eq!(widths, vec![24, 32, 32, 120, 168, 168, 240, 240]);
    }

    #[test]
    fn block_key_shift_follows_existing_parts() {
        let first = block_keys(1, &MOBILENET_BLOCKS[0]);
        assert!(first.expand.is_none());
        assert_eq!(first.depthwise, "backbone.1.block.0");
        assert_eq!(first.project, "backbone.1.block.1");
        let se = block_keys(4, &MOBILENET_BLOCKS[3]);
        assert_eq!(se.squeeze_excite.as_deref(), Some("backbone.4.block.2"));
        assert_eq!(se.project, "backbone.4.block.3");
    }
}
