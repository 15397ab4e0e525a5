//! Labels out: the model's logits resampled to the caller's image or frame ([`resample`]),
//! written as label maps, soft masks and class-set masks into the caller's buffers
//! ([`outputs`]), and drawn for people ([`overlay`]).

pub(crate) mod outputs;
pub(crate) mod overlay;
pub(crate) mod resample;
