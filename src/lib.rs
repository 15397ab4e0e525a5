//! segface: SegFace face parsing (19 CelebAMask-HQ classes) on phone and embedded CPUs.
//!
//! Data flows one way: image -> [`preprocess`] -> engine ([`Session`], tract) -> [`postprocess`]
//! -> labels. [`Model`] and [`Session`] are the one safe API; the C ABI ([`ffi`]) and the CLI are
//! thin shells over it. Converting the reference's checkpoints ([`export`], feature `convert`)
//! produces the ONNX files the runtime loads.

pub mod align;
pub mod arch;
mod bilinear;
#[cfg(feature = "convert")]
pub mod checkpoint;
#[cfg(feature = "convert")]
pub mod checkpoint_screen;
pub mod classes;
#[cfg(feature = "eval")]
pub mod datasets;
pub mod detect;
mod error;
pub mod export;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod ffi;
pub mod frame;
pub mod image_view;
#[cfg(feature = "jni")]
mod jni;
pub mod metadata;
#[cfg(feature = "eval")]
pub mod metrics;
mod model;
mod model_screen;
pub mod ops;
pub mod outputs;
pub mod postprocess;
pub mod precision;
pub mod preprocess;
pub mod profile;
pub mod resize;
mod rng;
mod schedule;
mod session;
mod stored_constants;
#[cfg(feature = "training")]
pub mod training;
mod vector_state;
pub mod video;
pub mod weights;

pub use error::{Error, ErrorKind, Result};
pub use image_view::{ImageView, PixelFormat};
pub use metadata::ModelInfo;
pub use model::{sha256_hex, LoadOptions, Model};
pub use model_screen::{MAX_RESOLUTION, MAX_TENSOR_BYTES};
pub use precision::{f16_available, Precision};
pub use session::{LabelMap, Session};
pub use video::{TrackedFace, VideoOptions, VideoSession};

/// The crate version, as the C ABI reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
