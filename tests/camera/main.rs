//! Camera input and outputs: frames, masks, face detection and video tracking.
#![cfg(feature = "convert")]

#[path = "../common/mod.rs"]
mod common;

mod detect;
mod frames;
mod masks;
mod video;
