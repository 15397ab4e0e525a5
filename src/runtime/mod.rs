//! The engine side of segface: a model file read, screened, typed for its fixed input and
//! optimised by tract once ([`model`]), planned for the bytes it holds at once ([`plan`]), and
//! run per stream on normalised tensors ([`engine`]). It knows nothing of pixels; `session`
//! brings the image and the outputs to it.

pub(crate) mod classes;
pub(crate) mod engine;
pub(crate) mod load;
pub(crate) mod metadata;
pub(crate) mod model;
pub(crate) mod plan;
pub(crate) mod precision;
pub(crate) mod profile;
pub(crate) mod screen;
pub(crate) mod stored_constants;
