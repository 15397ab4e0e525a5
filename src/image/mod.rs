//! Pixels in: the caller's images and camera frames (read in place, never copied), where the
//! face is in them, and the model input made from them (PIL-exact resize, landmark-aligned
//! crops, normalisation). Nothing here runs a model.

pub mod align;
pub mod face;
pub mod frame;
pub mod preprocess;
pub mod resize;
pub mod view;
