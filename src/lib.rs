//! Face parsing on phone and embedded CPUs: every pixel of a face photo or camera frame gets one
//! of the model's classes (the 19 of CelebAMask-HQ: skin, hair, brows, eyes, lips, ...).
//!
//! segface runs the MobileNetV3 variant of SegFace (AAAI 2025) through
//! [tract](https://github.com/sonos/tract), with no Python. Load a model once, give each thread
//! or camera stream a session, parse:
//!
//! ```no_run
//! use segface::{ImageView, Model, PixelFormat};
//!
//! # fn main() -> segface::Result<()> {
//! # let (pixels, width, height) = (vec![0u8; 640 * 480 * 4], 640, 480);
//! let model = Model::load("mobilenet-celeba-512.onnx")?;
//! let mut session = model.session()?;
//! let image = ImageView::new(&pixels, width, height, width as usize * 4, PixelFormat::Rgba8)?;
//! let labels = session.parse(&image)?; // one class index per pixel, at the image's size
//! let hair = labels.labels.iter().filter(|&&c| c == 14).count();
//! # let _ = hair;
//! # Ok(())
//! # }
//! ```
//!
//! - **Loading**: [`Model::load`], or [`Model::load_with`] a file or bytes ([`ModelSource`])
//!   and [`LoadOptions`] (a pinned SHA-256, f16 arithmetic on ARM).
//! - **Still images**: [`Session::parse`] and [`Session::parse_into`] (a caller-owned buffer).
//! - **Camera frames**: [`Session::parse_frame`] takes a [`Frame`] (RGB, RGBA, BGRA, NV21,
//!   NV12, I420 or `YUV_420_888` planes) in sensor [`Orientation`], the [`Face`]s to parse
//!   (boxes or landmarks) and writes [`Outputs`] (labels, soft masks, a class-set mask) at the
//!   frame's own size.
//! - **Video**: [`VideoSession`] finds faces with a [`FaceDetector`], follows and smooths them.
//! - **Errors**: every call returns [`Result`]; [`Error::kind`] says what went wrong.
//!
//! The converter (checkpoints to the ONNX files the runtime loads), evaluation and training are
//! behind the cargo features `convert`, `eval` and `training`, in the modules of those names.
//! The C ABI (`include/segface.h`), JNI and Swift shells wrap this API.

#[cfg(feature = "convert")]
pub mod convert;
mod error;
#[cfg(feature = "eval")]
pub mod eval;
#[doc(hidden)]
pub mod ffi;
mod handle;
mod image;
#[cfg(feature = "jni")]
mod jni;
mod ops;
mod output;
mod rng;
mod runtime;
mod session;
#[cfg(feature = "training")]
pub mod training;
mod video;

pub use error::{Error, ErrorKind, Result};
pub use image::face::{Face, FaceBox, Landmarks};
pub use image::frame::{Frame, Orientation, Plane, Rotation, YuvRange};
pub use image::view::{ImageView, PixelFormat, MAX_IMAGE_DIM};
pub use output::outputs::{ClassSet, ClassSetMask, Outputs, PlaneMut, SoftMasks};
pub use output::overlay::{class_counts, colorize, overlay, palette_color};
pub use runtime::classes::{CELEBA_CLASSES, CELEBA_DESCRIPTIONS};
pub use runtime::metadata::ModelInfo;
pub use runtime::model::{LoadOptions, Model, ModelSource};
pub use runtime::precision::{f16_available, Precision};
pub use runtime::screen::{MAX_RESOLUTION, MAX_TENSOR_BYTES};
pub use session::{LabelMap, Session};
pub use video::detector::{DetectedFace, FaceDetector};
pub use video::tracking::{TrackedFace, VideoOptions, VideoSession};

/// The crate version, as the C ABI reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the tests, benches and fuzz targets need of the internals. Not part of the API: no
/// semver promise covers it.
#[doc(hidden)]
pub mod internals {
    pub use crate::image::align::AlignedSquare;
    pub use crate::image::preprocess::normalize_into;
    pub use crate::ops::DOMAIN;
    pub use crate::runtime::metadata::{IMAGENET_MEAN, IMAGENET_STD};
    pub use crate::runtime::model::sha256_hex;
    pub use crate::runtime::profile::{planned_memory, NodeTime, OpClassTime, PlannedMemory, Profile};
}
