//! The training model (`training` feature): the fit loop, the MobileNetV3 and Swin-B models
//! against the reference, and the LaPa face warp.
#![cfg(feature = "training")]

#[path = "../common/mod.rs"]
mod common;

mod fit;
mod model;
mod swin;
mod warp;
