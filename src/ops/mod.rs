//! segface's own operators for tract, where the layer-by-layer ONNX graph would leave tract on
//! slow generic code. The exporter's runtime graph uses them (domain [`DOMAIN`]); its portable
//! graph (`--portable`) computes the same function with standard ONNX operators only.

pub mod attention;
pub mod upsample_sum;
pub mod upscale_head;

/// The ONNX domain of segface's operators.
pub const DOMAIN: &str = "ai.segface";

/// tract's ONNX reader with segface's operators registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(attention::OP_TYPE, attention::parse);
    onnx.op_register.insert(upsample_sum::OP_TYPE, upsample_sum::parse);
    onnx.op_register.insert(upscale_head::OP_TYPE, upscale_head::parse);
    onnx
}
