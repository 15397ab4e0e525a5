//! Pixels in: the caller's images and camera frames (read in place, never copied), where the
//! face is in them, and the model input made from them (PIL-exact resize, landmark-aligned
//! crops, normalisation). Nothing here runs a model.

pub(crate) mod align;
pub(crate) mod face;
pub(crate) mod frame;
pub(crate) mod preprocess;
pub(crate) mod resize;
pub(crate) mod view;
