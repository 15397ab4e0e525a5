//! Video streams: faces found by a detector ([`detector`]), followed from frame to frame and
//! smoothed over time ([`tracking`]), on top of a parsing session.

pub(crate) mod detector;
pub(crate) mod tracking;
