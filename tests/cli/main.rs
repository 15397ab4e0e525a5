//! The `segface` command-line tool and the datasets it reads.
#![cfg(feature = "cli")]

#[path = "../common/mod.rs"]
mod common;

mod commands;
mod datasets;
