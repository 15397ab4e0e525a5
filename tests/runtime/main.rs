//! The runtime on the exported reference model: parity with the goldens, segface's fused
//! operators, loading and its errors, precision, threads and hostile files.
#![cfg(feature = "convert")]

#[path = "../common/mod.rs"]
mod common;

mod fused_tail;
mod hostile_files;
mod loading;
mod parity;
mod precision;
mod threads;
