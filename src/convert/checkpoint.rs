//! Reading the reference's published training checkpoints (`model_299.pt`: a zip-format
//! `torch.save` of a dict whose `state_dict_backbone` is the model) without Python.
//!
//! The file is screened first (`checkpoint_screen`: allowed pickle globals only, bounded sizes),
//! its pickle read to values (`pickle`), and the state dict's float tensors converted to float32
//! from their storages, each tensor's shape checked against its storage before anything is
//! allocated for it.

use std::io::Read;
use std::path::Path;

use tract_onnx::prelude::f16;

use crate::convert::checkpoint_screen::{screen_checkpoint, ScreenedArchive};
use crate::convert::pickle::{read_pickle, StorageType, TensorRef, Value};
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
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path.display(), e));
    let file = open()?;
    let len = file.metadata().map_err(|e| Error::io(path.display(), e))?.len();
    let in_file = |e: Error| Error::invalid_model(format!("{}: {}", path.display(), e.message()));
    let screened = screen_checkpoint(std::io::BufReader::new(file), len).map_err(in_file)?;
    let root = read_pickle(&screened.pickle).map_err(|e| {
        Error::invalid_model(format!(
            "{} is not a readable PyTorch checkpoint: {}",
            path.display(),
            e.message()
        ))
    })?;
    // A training checkpoint keeps the model under `state_dict_backbone`; a bare state dict (what
    // `torch.save(model.state_dict())` writes) has no such key.
    let mut tensors = state_dict_tensors(
        root.text_entries().into_iter().find(|(k, _)| &**k == STATE_DICT_KEY).map(|(_, v)| v).as_ref(),
    );
    if tensors.is_empty() {
        tensors = state_dict_tensors(Some(&root));
    }
    if tensors.is_empty() {
        return Err(Error::invalid_model(format!(
            "{} holds no tensors (neither under `{STATE_DICT_KEY}` nor as a bare state dict)",
            path.display()
        )));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(open()?))
        .map_err(|e| Error::invalid_model(format!("{}: {e}", path.display())))?;
    let mut weights = Weights::default();
    for (name, tensor) in tensors {
        if matches!(tensor.storage_type, StorageType::Other(_)) {
            continue;
        }
        let (storage_path, bytes) = check_storage(&name, &tensor, &screened)?;
        let mut raw = Vec::with_capacity(bytes as usize);
        archive
            .by_name(&storage_path)
            .and_then(|entry| Ok(entry.take(bytes).read_to_end(&mut raw)?))
            .map_err(|e| Error::invalid_model(format!("weight `{name}`: storage `{storage_path}`: {e}")))?;
        if raw.len() as u64 != bytes {
            return Err(Error::invalid_model(format!(
                "weight `{name}`: storage `{storage_path}` is truncated"
            )));
        }
        let shape = tensor.shape.iter().map(|&d| d as usize).collect();
        weights.insert(name, WeightTensor::new(shape, to_f32(&tensor, &raw))?);
    }
    Ok(weights)
}

/// The tensors of a state dict (a dict of names to tensors), by name.
fn state_dict_tensors(dict: Option<&Value>) -> Vec<(String, TensorRef)> {
    let Some(dict) = dict else { return Vec::new() };
    dict.text_entries()
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Tensor(t) => Some((k.to_string(), (*t).clone())),
            _ => None,
        })
        .collect()
}

/// A tensor must be a plain (C or Fortran order) view from the start of its storage, and its
/// storage must hold all its elements: otherwise we would allocate for a shape the file does not
/// back, or read the wrong bytes. Returns the storage's zip entry and the bytes the tensor needs.
fn check_storage(name: &str, tensor: &TensorRef, screened: &ScreenedArchive) -> Result<(String, u64)> {
    let (shape, strides) = (&tensor.shape, &tensor.strides);
    let bytes = shape
        .iter()
        .try_fold(tensor.storage_type.size() as u64, |acc, &d| acc.checked_mul(d))
        .filter(|&b| usize::try_from(b).is_ok())
        .ok_or_else(|| Error::invalid_model(format!("weight `{name}` has an absurd shape {shape:?}")))?;
    let c_order = dense(shape, strides, (0..shape.len()).rev());
    let fortran_order = dense(shape, strides, 0..shape.len());
    if !(c_order || fortran_order) || tensor.offset != 0 {
        return Err(Error::invalid_model(format!(
            "weight `{name}` is a strided or offset view of its storage, which is not supported"
        )));
    }
    let storage_path = format!("{}data/{}", screened.pickle_dir, tensor.storage_key);
    let stored = screened.entry_sizes.get(&storage_path).copied().ok_or_else(|| {
        Error::invalid_model(format!("weight `{name}`: its storage `{storage_path}` is not in the archive"))
    })?;
    if bytes > stored {
        return Err(Error::invalid_model(format!(
            "weight `{name}` of shape {shape:?} needs {bytes} bytes but its storage `{storage_path}` has {stored}"
        )));
    }
    Ok((storage_path, bytes))
}

/// Whether `strides` lay `shape` out densely, the dimensions taken innermost first in `order`.
/// Strides of dimensions of size 1 do not matter.
fn dense(shape: &[u64], strides: &[u64], order: impl Iterator<Item = usize>) -> bool {
    let mut expected = 1u64;
    for d in order {
        if shape[d] > 1 && strides[d] != expected {
            return false;
        }
        expected = expected.saturating_mul(shape[d]);
    }
    true
}

/// The tensor's elements in row-major order, as float32 (nothing for integer storages). `raw`
/// holds exactly its elements (checked by the caller), in C or Fortran order.
fn to_f32(tensor: &TensorRef, raw: &[u8]) -> Vec<f32> {
    let decode: fn(&[u8]) -> f32 = match tensor.storage_type {
        StorageType::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        StorageType::F64 => |b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        StorageType::F16 => |b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
        StorageType::BF16 => |b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
        StorageType::Other(_) => return Vec::new(),
    };
    let size = tensor.storage_type.size();
    let numel = raw.len() / size;
    let shape: Vec<usize> = tensor.shape.iter().map(|&d| d as usize).collect();
    let strides: Vec<usize> = tensor.strides.iter().map(|&s| s as usize).collect();
    // Walk the row-major index and follow the strides (the identity for C order).
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(numel);
    for _ in 0..numel {
        let at: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(decode(&raw[at * size..(at + 1) * size]));
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(storage_type: StorageType, shape: &[u64], strides: &[u64]) -> TensorRef {
        TensorRef {
            storage_type,
            storage_key: "0".into(),
            offset: 0,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
        }
    }

    #[test]
    fn fortran_order_storages_come_out_row_major() {
        // The 2 x 3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
        let raw: Vec<u8> = [1f32, 4., 2., 5., 3., 6.].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = tensor(StorageType::F32, &[2, 3], &[1, 2]);
        assert!(dense(&t.shape, &t.strides, 0..2) && !dense(&t.shape, &t.strides, (0..2).rev()));
        assert_eq!(to_f32(&t, &raw), [1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn half_bfloat_and_double_storages_are_widened_exactly() {
        // 1.5 and -0.25 in each format, little-endian.
        let f16: Vec<u8> = [0x3e00u16, 0xb400].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bf16: Vec<u8> = [0x3fc0u16, 0xbe80].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f64: Vec<u8> = [1.5f64, -0.25].iter().flat_map(|v| v.to_le_bytes()).collect();
        for (storage_type, raw) in
            [(StorageType::F16, f16), (StorageType::BF16, bf16), (StorageType::F64, f64)]
        {
            assert_eq!(to_f32(&tensor(storage_type, &[2], &[1]), &raw), [1.5, -0.25], "{storage_type:?}");
        }
        assert!(to_f32(&tensor(StorageType::Other(8), &[1], &[1]), &[0; 8]).is_empty());
    }
}
