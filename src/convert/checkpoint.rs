//! Reading the reference's published training checkpoints (`model_299.pt`: a zip-format
//! `torch.save` of a dict whose `state_dict_backbone` is the model) without Python.
//!
//! The pickle and zip work is done by `candle-core`'s `pickle` module, a maintained reader of
//! PyTorch's format; we only pick the state dict and convert its tensors to float32. The file is
//! screened first (`checkpoint_screen`): allowed pickle globals only, bounded sizes, and every
//! tensor's shape checked against its storage before candle allocates it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use candle_core::pickle::PthTensors;
use candle_core::DType;

use crate::convert::checkpoint_screen::{screen_checkpoint, ScreenedArchive};
use crate::convert::weights::{WeightTensor, Weights};
use crate::error::{Error, Result};

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
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let len = file.metadata().map_err(|e| Error::io(path.display(), e))?.len();
    let screened = screen_checkpoint(std::io::BufReader::new(file), len)
        .map_err(|e| Error::invalid_model(format!("{}: {}", path.display(), e.message())))?;
    // The screen bounds what candle can be asked to do; a panic inside it still must not take
    // the caller down.
    catch_unwind(AssertUnwindSafe(|| read_screened(path, &screened))).unwrap_or_else(|_| {
        Err(Error::invalid_model(format!("{} is not a readable PyTorch checkpoint", path.display())))
    })
}

fn read_screened(path: &Path, screened: &ScreenedArchive) -> Result<Weights> {
    let bad = |e: candle_core::Error| {
        Error::invalid_model(format!("{} is not a readable PyTorch checkpoint: {e}", path.display()))
    };
    // A training checkpoint keeps the model under `state_dict_backbone`; a bare state dict (what
    // `torch.save(model.state_dict())` writes) has no such key.
    let tensors = match PthTensors::new(path, Some(STATE_DICT_KEY)) {
        Ok(tensors) if !tensors.tensor_infos().is_empty() => tensors,
        _ => PthTensors::new(path, None).map_err(bad)?,
    };
    if tensors.tensor_infos().is_empty() {
        return Err(Error::invalid_model(format!(
            "{} holds no tensors (neither under `{STATE_DICT_KEY}` nor as a bare state dict)",
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
        check_storage(&name, info, screened)?;
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

/// A tensor must be a plain (C or Fortran order) view from the start of its storage, and its
/// storage must hold all its elements: otherwise candle would allocate for a shape the file does
/// not back, or read the wrong bytes.
fn check_storage(
    name: &str,
    info: &candle_core::pickle::TensorInfo,
    screened: &ScreenedArchive,
) -> Result<()> {
    let layout = &info.layout;
    if !(layout.is_contiguous() || layout.is_fortran_contiguous()) || layout.start_offset() != 0 {
        return Err(Error::invalid_model(format!(
            "weight `{name}` is a strided or offset view of its storage, which is not supported"
        )));
    }
    let bytes = layout
        .dims()
        .iter()
        .try_fold(info.dtype.size_in_bytes() as u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| {
            Error::invalid_model(format!("weight `{name}` has an absurd shape {:?}", layout.dims()))
        })?;
    let stored = screened.entry_sizes.get(&info.path).copied().ok_or_else(|| {
        Error::invalid_model(format!("weight `{name}`: its storage `{}` is not in the archive", info.path))
    })?;
    if bytes > stored {
        return Err(Error::invalid_model(format!(
            "weight `{name}` of shape {:?} needs {bytes} bytes but its storage `{}` has {stored}",
            layout.dims(),
            info.path
        )));
    }
    Ok(())
}
