//! Reading the reference's published training checkpoints (`model_299.pt`: a zip-format
//! `torch.save` of a dict whose `state_dict_backbone` is the model) without Python.
//!
//! The pickle and zip work is done by `candle-core`'s `pickle` module, a maintained reader of
//! PyTorch's format; we only pick the state dict and convert its tensors to float32.

use std::path::Path;

use candle_core::pickle::PthTensors;
use candle_core::DType;

use crate::error::{Error, Result};
use crate::weights::{WeightTensor, Weights};

/// The key of the model state dict inside the reference's training checkpoint.
pub const STATE_DICT_KEY: &str = "state_dict_backbone";

/// Reads the float tensors of a checkpoint. A training checkpoint (with `state_dict_backbone`) and
/// a bare state dict are both accepted. Integer buffers (`num_batches_tracked`) are dropped.
pub fn read_torch_checkpoint(path: &Path) -> Result<Weights> {
    if !path.is_file() {
        return Err(Error::io(
            path.display(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let bad = |e: candle_core::Error| {
        Error::invalid_model(format!("{} is not a readable PyTorch checkpoint: {e}", path.display()))
    };
    let mut tensors = PthTensors::new(path, Some(STATE_DICT_KEY)).map_err(bad)?;
    if tensors.tensor_infos().is_empty() {
        // A bare state dict has no `state_dict_backbone` key.
        tensors = PthTensors::new(path, None).map_err(bad)?;
    }
    if tensors.tensor_infos().is_empty() {
        return Err(Error::invalid_model(format!(
            "{} holds no tensors under `{STATE_DICT_KEY}`",
            path.display()
        )));
    }
    let mut names: Vec<String> = tensors.tensor_infos().keys().cloned().collect();
    names.sort();
    let mut weights = Weights::default();
    for name in names {
        let info = &tensors.tensor_infos()[&name];
        if !matches!(info.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
            continue;
        }
        let tensor = tensors
            .get(&name)
            .map_err(|e| Error::invalid_model(format!("weight `{name}`: {e}")))?
            .ok_or_else(|| Error::invalid_model(format!("weight `{name}` vanished")))?;
        let shape = tensor.dims().to_vec();
        let data = tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| Error::invalid_model(format!("weight `{name}`: {e}")))?;
        weights.insert(name, WeightTensor::new(shape, data)?);
    }
    Ok(weights)
}
