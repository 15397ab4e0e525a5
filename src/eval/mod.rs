//! Scoring with the reference's protocol: the three face-parsing datasets in their published
//! layouts ([`datasets`]) and the segmentation metrics ([`metrics`]).

pub mod datasets;
pub mod metrics;
