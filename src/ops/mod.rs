//! segface's own operators for tract, where the layer-by-layer ONNX graph would leave tract on
//! slow generic code. The exporter's runtime graph uses them (domain [`DOMAIN`]); its portable
//! graph (`--portable`) computes the same function with standard ONNX operators only.
//!
//! One file per operator: its definition, its shape rules, its ONNX reader (`parse`) and its
//! tests against an f64 definition. What they share is in `wiring` (how an operator enters
//! tract), `tensors` (float32 inputs and output buffers) and `kernels` (vector lanes, attention
//! kernels, bilinear taps, threads). Nothing here knows about pixels, files or bindings.

use tract_onnx::prelude::TypedNode;

pub(crate) mod attention;
pub(crate) mod depthwise_conv;
pub(crate) mod image_to_token;
pub(crate) mod kernels;
pub(crate) mod layer_norm;
pub(crate) mod positional_encoding;
mod tensors;
pub(crate) mod token_to_image;
pub(crate) mod upsample_sum;
pub(crate) mod upscale_head;
mod wiring;

#[cfg(feature = "convert")]
pub(crate) use kernels::attention_lanes::MAX_SHORT_SIDE;

/// The ONNX domain of segface's operators.
pub const DOMAIN: &str = "ai.segface";

/// tract's ONNX reader with segface's operators registered.
pub(crate) fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(attention::OP_TYPE, attention::parse);
    onnx.op_register.insert(depthwise_conv::OP_TYPE, depthwise_conv::parse);
    onnx.op_register.insert(image_to_token::OP_TYPE, image_to_token::parse);
    onnx.op_register.insert(layer_norm::OP_TYPE, layer_norm::parse);
    onnx.op_register.insert(positional_encoding::OP_TYPE, positional_encoding::parse);
    onnx.op_register.insert(token_to_image::OP_TYPE, token_to_image::parse);
    onnx.op_register.insert(upsample_sum::OP_TYPE, upsample_sum::parse);
    onnx.op_register.insert(upscale_head::OP_TYPE, upscale_head::parse);
    onnx
}

/// Whether `node` runs one of segface's operators (every one registered in [`onnx`]); they
/// compute in float32 only.
pub(crate) fn is_segface_op(node: &TypedNode) -> bool {
    node.op_is::<attention::Attention>()
        || node.op_is::<depthwise_conv::DepthwiseConv>()
        || node.op_is::<image_to_token::ImageToTokenAttention>()
        || node.op_is::<layer_norm::LayerNorm>()
        || node.op_is::<positional_encoding::AddPositionalEncoding>()
        || node.op_is::<token_to_image::TokenToImageAttention>()
        || node.op_is::<upsample_sum::UpsampleSum>()
        || node.op_is::<upscale_head::UpscaleHead>()
}
