//! The converter: reading and screening checkpoints, and the weight storages of exports.

#[path = "../common/mod.rs"]
mod common;

mod checkpoint;
mod weight_storage;
