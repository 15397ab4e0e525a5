//! The converter: the reference's published checkpoints (read and screened without Python)
//! turned into the ONNX files the runtime loads. [`arch`] describes the model (layers, key
//! names, shapes) for the exporter and the training model alike.

pub mod arch;
pub mod checkpoint;
pub mod checkpoint_screen;
pub mod export;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod weights;
