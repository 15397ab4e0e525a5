//! Swin Transformer v1 as torchvision builds it (`swin_b` and smaller configurations), SegFace's
//! accuracy backbone: its configuration and state-dict keys. Only the training model builds it;
//! the edge runtime runs the MobileNetV3 variant.

use super::{head_keys, key, linear_keys, norm_keys, KeySpec};
use crate::error::{Error, Result};

/// A Swin v1 configuration in torchvision's terms (`swin_config.json` uses the same names).
#[derive(Clone, Debug, PartialEq)]
pub struct SwinConfig {
    /// Patch-embedding convolution size and stride.
    pub patch: usize,
    /// Channels of stage 1; each patch merging doubles them.
    pub embed_dim: usize,
    /// Blocks per stage.
    pub depths: [usize; 4],
    /// Attention heads per stage.
    pub heads: [usize; 4],
    /// Square attention window.
    pub window: usize,
    /// Largest stochastic-depth drop probability (the last block's; block i of n gets i/(n-1) of
    /// it). Training only; evaluation ignores it.
    pub stochastic_depth_prob: f64,
}

/// MLP hidden width over channels.
pub const MLP_RATIO: usize = 4;
/// LayerNorm epsilon everywhere in the backbone.
pub const SWIN_LN_EPS: f64 = 1e-5;
/// Shift-mask value between tokens from different regions (not -inf, as torchvision).
pub const SHIFT_MASK_VALUE: f32 = -100.0;

impl SwinConfig {
    /// torchvision's `swin_b`: the configuration of the published SegFace Swin-B checkpoints.
    pub fn swin_b() -> Self {
        SwinConfig {
            patch: 4,
            embed_dim: 128,
            depths: [2, 2, 18, 2],
            heads: [4, 8, 16, 32],
            window: 7,
            stochastic_depth_prob: 0.5,
        }
    }

    /// Reads torchvision's keyword arguments from JSON: `patch_size`, `embed_dim`, `depths`,
    /// `num_heads`, `window_size` (pairs must be square) and optional `stochastic_depth_prob`.
    pub fn from_json(text: &str) -> Result<Self> {
        let bad = |why: String| Error::invalid_argument(format!("Swin configuration: {why}"));
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let number = |v: &serde_json::Value, name: &str| -> Result<usize> {
            v.as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("`{name}` must hold whole numbers")))
        };
        let field = |name: &str| value.get(name).ok_or_else(|| bad(format!("`{name}` is missing")));
        let square = |name: &str| -> Result<usize> {
            match field(name)? {
                serde_json::Value::Array(pair) if pair.len() == 2 => {
                    let (a, b) = (number(&pair[0], name)?, number(&pair[1], name)?);
                    if a == b {
                        Ok(a)
                    } else {
                        Err(bad(format!("`{name}` must be square, got [{a}, {b}]")))
                    }
                }
                v => number(v, name),
            }
        };
        let four = |name: &str| -> Result<[usize; 4]> {
            let list = field(name)?.as_array().ok_or_else(|| bad(format!("`{name}` must be a list")))?;
            let list: Vec<usize> = list.iter().map(|v| number(v, name)).collect::<Result<_>>()?;
            list.try_into().map_err(|_| bad(format!("`{name}` must have 4 entries (SegFace taps 4 stages)")))
        };
        let config = SwinConfig {
            patch: square("patch_size")?,
            embed_dim: number(field("embed_dim")?, "embed_dim")?,
            depths: four("depths")?,
            heads: four("num_heads")?,
            window: square("window_size")?,
            stochastic_depth_prob: match value.get("stochastic_depth_prob") {
                Some(v) => {
                    v.as_f64().ok_or_else(|| bad("`stochastic_depth_prob` must be a number".into()))?
                }
                None => 0.0,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Rejects configurations no Swin can be built from.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::invalid_argument(format!("Swin configuration: {why}")));
        if self.patch == 0 || self.window == 0 || self.embed_dim == 0 {
            return bad("patch size, window and embed_dim must be positive".into());
        }
        if self.depths.contains(&0) {
            return bad(format!("every stage needs a block, got depths {:?}", self.depths));
        }
        for (channels, heads) in self.stage_channels().into_iter().zip(self.heads) {
            if heads == 0 || channels % heads != 0 {
                return bad(format!("{heads} heads do not divide {channels} channels"));
            }
        }
        if !(0.0..1.0).contains(&self.stochastic_depth_prob) {
            return bad(format!("stochastic_depth_prob {} is outside [0, 1)", self.stochastic_depth_prob));
        }
        Ok(())
    }

    /// Channels of the four stage outputs (the taps).
    pub fn stage_channels(&self) -> [usize; 4] {
        [1, 2, 4, 8].map(|m| m * self.embed_dim)
    }

    /// Drop probability of each block in execution order (torchvision's linear rule).
    pub fn drop_probabilities(&self) -> Vec<f64> {
        let total: usize = self.depths.iter().sum();
        (0..total).map(|i| self.stochastic_depth_prob * i as f64 / (total.max(2) - 1) as f64).collect()
    }
}

/// Key of stage `stage` (0-based) under the backbone: torchvision's `features` is the backbone's
/// child 0, with the patch embedding at 0, stages at odd indices and mergings between them.
pub fn stage_key(stage: usize) -> String {
    format!("0.{}", 2 * stage + 1)
}

/// Key of the patch merging after stage `stage` (0, 1 or 2) under the backbone.
pub fn merge_key(stage: usize) -> String {
    format!("0.{}", 2 * stage + 2)
}

/// Key of the patch embedding's convolution under the backbone (its LayerNorm is `0.0.2`).
pub const EMBED_CONV_KEY: &str = "0.0.0";
/// Key of the patch embedding's LayerNorm under the backbone.
pub const EMBED_NORM_KEY: &str = "0.0.2";
/// Key of torchvision's final LayerNorm under the backbone: in every checkpoint, unused by SegFace.
pub const FINAL_NORM_KEY: &str = "1";
/// A key every Swin SegFace state dict has and no MobileNetV3 one (the first block's qkv).
pub const SWIN_MARKER_KEY: &str = "backbone.0.1.0.attn.qkv.weight";

/// Every float tensor of the Swin SegFace state dict, in reference order (the int64
/// `relative_position_index` buffers are recomputed, not weights).
pub fn swin_keys(config: &SwinConfig, num_classes: usize) -> Vec<KeySpec> {
    let mut keys = Vec::new();
    let channels = config.stage_channels();
    let embed = config.embed_dim;
    keys.push(key(format!("backbone.{EMBED_CONV_KEY}.weight"), &[embed, 3, config.patch, config.patch]));
    keys.push(key(format!("backbone.{EMBED_CONV_KEY}.bias"), &[embed]));
    norm_keys(&mut keys, &format!("backbone.{EMBED_NORM_KEY}"), embed);
    let table = (2 * config.window - 1).pow(2);
    for (stage, &c) in channels.iter().enumerate() {
        for block in 0..config.depths[stage] {
            let p = format!("backbone.{}.{block}", stage_key(stage));
            norm_keys(&mut keys, &format!("{p}.norm1"), c);
            keys.push(key(format!("{p}.attn.relative_position_bias_table"), &[table, config.heads[stage]]));
            linear_keys(&mut keys, &format!("{p}.attn.qkv"), c, 3 * c);
            linear_keys(&mut keys, &format!("{p}.attn.proj"), c, c);
            norm_keys(&mut keys, &format!("{p}.norm2"), c);
            linear_keys(&mut keys, &format!("{p}.mlp.0"), c, MLP_RATIO * c);
            linear_keys(&mut keys, &format!("{p}.mlp.3"), MLP_RATIO * c, c);
        }
        if stage < 3 {
            let m = format!("backbone.{}", merge_key(stage));
            keys.push(key(format!("{m}.reduction.weight"), &[2 * c, 4 * c]));
            norm_keys(&mut keys, &format!("{m}.norm"), 4 * c);
        }
    }
    norm_keys(&mut keys, &format!("backbone.{FINAL_NORM_KEY}"), channels[3]);
    head_keys(&mut keys, &channels, num_classes);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_fixture_configuration_parses() {
        let text = r#"{"patch_size": [4, 4], "embed_dim": 32, "depths": [2, 2, 2, 2],
            "num_heads": [1, 2, 4, 8], "window_size": [7, 7], "stochastic_depth_prob": 0.0}"#;
        let config = SwinConfig::from_json(text).unwrap();
        assert_eq!(config.stage_channels(), [32, 64, 128, 256]);
        assert_eq!(config.window, 7);
        assert_eq!(config.drop_probabilities(), vec![0.0; 8]);
    }

    #[test]
    fn malformed_configurations_are_refused() {
        for (text, why) in [
            (
                r#"{"patch_size": 4, "embed_dim": 32, "depths": [2, 2, 2], "num_heads": [1, 2, 4, 8], "window_size": 7}"#,
                "4 entries",
            ),
            (
                r#"{"patch_size": 4, "embed_dim": 30, "depths": [2, 2, 2, 2], "num_heads": [4, 2, 4, 8], "window_size": 7}"#,
                "do not divide",
            ),
            (
                r#"{"patch_size": [4, 2], "embed_dim": 32, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8], "window_size": 7}"#,
                "square",
            ),
            (r#"{"embed_dim": 32}"#, "patch_size"),
        ] {
            let err = SwinConfig::from_json(text).unwrap_err();
            assert!(err.message().contains(why), "{}", err.message());
        }
    }

    #[test]
    fn swin_b_drop_rate_rises_linearly_to_the_last_block() {
        let p = SwinConfig::swin_b().drop_probabilities();
        assert_eq!(p.len(), 24);
        assert_eq!(p[0], 0.0);
        assert!((p[23] - 0.5).abs() < 1e-12);
    }
}
