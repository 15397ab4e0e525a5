//! segface: SegFace face parsing (19 CelebAMask-HQ classes) on phone and embedded CPUs.

#[cfg(feature = "convert")]
mod convert;
mod error;
#[cfg(feature = "eval")]
mod eval;
pub mod ffi;
mod image;
#[cfg(feature = "jni")]
mod jni;
pub mod ops;
mod output;
mod rng;
mod runtime;
mod session;
#[cfg(feature = "training")]
pub mod training;
mod video;

pub use error::{Error, ErrorKind, Result};
pub use image::view::{ImageView, PixelFormat};
pub use runtime::metadata::ModelInfo;
pub use runtime::model::{sha256_hex, LoadOptions, Model};
pub use runtime::precision::{f16_available, Precision};
pub use runtime::screen::{MAX_RESOLUTION, MAX_TENSOR_BYTES};
pub use session::{LabelMap, Session};
pub use video::tracking::{TrackedFace, VideoOptions, VideoSession};

pub use image::resize;

/// The old paths of `preprocess`.
pub mod preprocess {
    pub use crate::image::preprocess::*;
    pub use crate::runtime::metadata::{IMAGENET_MEAN, IMAGENET_STD};
}

/// The old paths of `align`.
pub mod align {
    pub use crate::image::align::*;
    pub use crate::image::face::Landmarks;
}
#[cfg(feature = "fetch")]
pub use convert::fetch;
#[cfg(feature = "convert")]
pub use convert::{arch, checkpoint, checkpoint_screen, export, weights};
#[cfg(feature = "eval")]
pub use eval::{datasets, metrics};
pub use output::outputs;
pub use runtime::{classes, metadata, precision, profile};
pub use video::detector as detect;

/// The old paths of what moved out of `frame`.
pub mod frame {
    pub use crate::image::face::{Face, FaceBox, FrameOptions};
    pub use crate::image::frame::*;
}

/// The old paths of `postprocess`.
pub mod postprocess {
    pub use crate::output::overlay::{class_counts, colorize, overlay};
    pub use crate::output::resample::*;
}

/// The old path of `video`.
pub mod video_session {
    pub use crate::video::tracking::*;
}

/// The crate version, as the C ABI reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
