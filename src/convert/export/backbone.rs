//! MobileNetV3-Large features with BatchNorm folded into the convolutions, emitting the four taps.

use crate::convert::arch::{self, Activation, BN_EPS, MOBILENET_BLOCKS, TAP_FEATURES};
use crate::convert::export::graph::GraphBuilder;
use crate::convert::weights::Weights;
use crate::error::Result;

/// Folds the BatchNorm at `{prefix}.1` into the conv at `{prefix}.0`:
/// w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
fn folded_conv(weights: &Weights, prefix: &str) -> Result<(Vec<usize>, Vec<f32>, Vec<f32>)> {
    let conv = weights.get(&format!("{prefix}.0.weight"))?;
    let gamma = &weights.get(&format!("{prefix}.1.weight"))?.data;
    let beta = &weights.get(&format!("{prefix}.1.bias"))?.data;
    let mean = &weights.get(&format!("{prefix}.1.running_mean"))?.data;
    let var = &weights.get(&format!("{prefix}.1.running_var"))?.data;
    let out_channels = conv.shape[0];
    let per_channel = conv.data.len() / out_channels;
    let mut w = conv.data.clone();
    let mut b = vec![0f32; out_channels];
    for c in 0..out_channels {
        let factor = gamma[c] as f64 / (var[c] as f64 + BN_EPS as f64).sqrt();
        for v in &mut w[c * per_channel..(c + 1) * per_channel] {
            *v = (*v as f64 * factor) as f32;
        }
        b[c] = (beta[c] as f64 - mean[c] as f64 * factor) as f32;
    }
    Ok((conv.shape.clone(), w, b))
}

fn activate(g: &mut GraphBuilder, x: String, activation: Option<Activation>) -> String {
    match activation {
        Some(Activation::Relu) => g.relu(&x),
        Some(Activation::HardSwish) => g.hard_swish(&x),
        None => x,
    }
}

/// How a depthwise convolution is emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depthwise {
    /// ONNX's grouped `Conv` (the portable graph).
    Conv,
    /// segface's `DepthwiseConv` (the runtime graph).
    Segface,
}

/// A convolution's channel grouping: dense, or depthwise (one group per channel) emitted as said.
#[derive(Clone, Copy, Debug)]
enum Grouping {
    Dense,
    Depthwise(Depthwise),
}

fn conv_bn(
    g: &mut GraphBuilder,
    weights: &Weights,
    prefix: &str,
    x: &str,
    stride: usize,
    grouping: Grouping,
    activation: Option<Activation>,
) -> Result<String> {
    let (shape, w, b) = folded_conv(weights, prefix)?;
    let (channels, kernel) = (shape[0], shape[2]);
    let w = g.weight(&format!("{prefix}.w"), &shape, &w, 0);
    let b = g.constant(&format!("{prefix}.b"), &[channels], &b);
    let y = match grouping {
        Grouping::Dense => g.conv(x, &w, &b, kernel, stride, 1),
        Grouping::Depthwise(Depthwise::Conv) => g.conv(x, &w, &b, kernel, stride, channels),
        Grouping::Depthwise(Depthwise::Segface) => g.segface_depthwise_conv(x, &w, &b, stride),
    };
    Ok(activate(g, y, activation))
}

fn squeeze_excite(g: &mut GraphBuilder, weights: &Weights, prefix: &str, x: &str) -> Result<String> {
    let conv = |g: &mut GraphBuilder, name: &str, input: &str| -> Result<String> {
        let w = weights.get(&format!("{prefix}.{name}.weight"))?;
        let b = weights.get(&format!("{prefix}.{name}.bias"))?;
        let wc = g.weight(&format!("{prefix}.{name}.w"), &w.shape, &w.data, 0);
        let bc = g.constant(&format!("{prefix}.{name}.b"), &b.shape, &b.data);
        Ok(g.conv(input, &wc, &bc, 1, 1, 1))
    };
    let pooled = g.global_average_pool(x);
    let squeezed = conv(g, "fc1", &pooled)?;
    let squeezed = g.relu(&squeezed);
    let scale = conv(g, "fc2", &squeezed)?;
    let scale = g.hard_sigmoid(&scale);
    Ok(g.mul(x, &scale))
}

/// Emits the backbone on `image` (1, 3, R, R) and returns the four tap outputs.
pub fn mobilenet_v3_taps(
    g: &mut GraphBuilder,
    weights: &Weights,
    image: &str,
    depthwise: Depthwise,
) -> Result<[String; 4]> {
    let hard_swish = Some(Activation::HardSwish);
    let mut x = conv_bn(g, weights, "backbone.0", image, 2, Grouping::Dense, hard_swish)?;
    let mut taps = Vec::new();
    for (i, block) in MOBILENET_BLOCKS.iter().enumerate() {
        let feature = i + 1;
        let keys = arch::block_keys(feature, block);
        let input = x.clone();
        let mut y = x.clone();
        let activation = Some(block.activation);
        if let Some(expand) = &keys.expand {
            y = conv_bn(g, weights, expand, &y, 1, Grouping::Dense, activation)?;
        }
        y = conv_bn(
            g,
            weights,
            &keys.depthwise,
            &y,
            block.stride,
            Grouping::Depthwise(depthwise),
            activation,
        )?;
        if let Some(se) = &keys.squeeze_excite {
            y = squeeze_excite(g, weights, se, &y)?;
        }
        y = conv_bn(g, weights, &keys.project, &y, 1, Grouping::Dense, None)?;
        x = if block.has_residual() { g.add(&y, &input) } else { y };
        if TAP_FEATURES.contains(&feature) {
            taps.push(x.clone());
        }
    }
    let last = conv_bn(g, weights, "backbone.16", &x, 1, Grouping::Dense, hard_swish)?;
    taps.push(last);
    Ok(taps.try_into().expect("four taps"))
}
