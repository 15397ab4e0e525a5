//! The converter (feature `convert`): the reference's published checkpoints, read and screened
//! without Python, turned into the ONNX files the runtime loads.
//!
//! ```no_run
//! use segface::convert::{export_mobilenet, read_weights, ExportOptions};
//!
//! # fn main() -> segface::Result<()> {
//! let weights = read_weights("model_299.pt".as_ref())?; // or a .safetensors state dict
//! let onnx = export_mobilenet(&weights, &ExportOptions::new(512))?;
//! let model = segface::Model::load_with(&onnx, &Default::default())?;
//! # let _ = model;
//! # Ok(())
//! # }
//! ```
//!
//! [`arch`] describes the model (layers, state-dict key names and shapes) for the exporter and
//! the training model alike.

use std::path::Path;

pub mod arch;
pub(crate) mod checkpoint;
pub(crate) mod checkpoint_screen;
pub(crate) mod export;
#[cfg(feature = "fetch")]
pub(crate) mod fetch;
pub(crate) mod pickle;
pub(crate) mod weights;

pub use checkpoint::{read_torch_checkpoint, STATE_DICT_KEY};
pub use checkpoint_screen::screen_checkpoint;
pub use export::{
    check_resolution, export_mobilenet, ExportOptions, WeightStorage, INPUT_NAME, OUTPUT_NAME, VARIANT,
};
#[cfg(feature = "fetch")]
pub use fetch::{download, installed_path, manifest, manifest_entry, models_dir, ManifestEntry};
pub use weights::{WeightTensor, Weights};

/// The weights of a checkpoint in the reference's torch format (`model_299.pt`), or of a
/// `.safetensors` state dict, by the file's extension.
pub fn read_weights(path: &Path) -> crate::Result<Weights> {
    if path.extension().is_some_and(|e| e == "safetensors") {
        Weights::from_safetensors_file(path)
    } else {
        read_torch_checkpoint(path)
    }
}
