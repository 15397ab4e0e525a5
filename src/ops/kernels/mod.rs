//! The arithmetic inside segface's operators, independent of tract's graph: vector lanes
//! (AVX2 or NEON, picked at run time), the short-side attention kernels, bilinear taps, row
//! reductions, `Linear` blocks, tract's element-wise kernels and the thread pool's row split.

pub(crate) mod attention_lanes;
pub(crate) mod bilinear;
pub(crate) mod elementwise;
pub(crate) mod lanes;
pub(crate) mod linear;
pub(crate) mod threads;
pub(crate) mod vector;
pub(crate) mod vector_state;
