//! The `training` feature: the full SegFace model in burn (CPU here, CUDA on a GPU machine) with
//! the reference's weight names, so published checkpoints load for fine-tuning and trained
//! weights leave through the same converter the runtime's models come from.

pub mod augment;
pub mod data;
pub mod decoder;
pub mod face_warp;
pub mod history;
pub mod layers;
pub mod loss;
pub mod mobilenet;
pub mod model;
pub mod named;
mod plot;
pub mod predict;
pub mod swin;
pub mod synthetic;
pub mod train;

pub use model::SegFace;

/// The CPU backend.
pub type Cpu = burn::backend::Flex;
/// The CPU backend with automatic differentiation.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;
