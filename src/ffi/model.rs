//! Loading models and asking them about classes and resolution.

use std::ffi::{c_char, CString};

use super::{bytes_arg, free_handle, guarded, null, utf8_arg, Failure, SegfaceStatus};
use crate::model::Model;

/// A loaded model: immutable; functions taking `const SegfaceModel*` may run concurrently.
pub struct SegfaceModel {
    pub(crate) model: Model,
    class_names: Vec<CString>,
}

/// The shape of every model loader: `*out` is checked and cleared first, then `load` runs and its
/// model is published through `*out`.
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn load_into(
    out: *mut *mut SegfaceModel,
    load: impl FnOnce() -> Result<Model, Failure>,
) -> SegfaceStatus {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        *out = std::ptr::null_mut();
        let model = load()?;
        let class_names = model
            .info()
            .classes
            .iter()
            .map(|c| CString::new(c.replace('\0', " ")).unwrap_or_default())
            .collect();
        *out = Box::into_raw(Box::new(SegfaceModel { model, class_names }));
        Ok(())
    })
}

/// Loads an ONNX model file (UTF-8 path). On success `*out` owns a model to free with
/// `segface_model_free`; on failure `*out` is set to NULL. If `<path>.sha256` exists (as
/// `segface convert` writes it), the file must match it.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_file(
    path: *const c_char,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || Ok(Model::load(utf8_arg(path, "path")?)?))
}

/// Loads an ONNX model from memory. The bytes are copied: the caller may free them on return.
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || Ok(Model::from_bytes(bytes_arg(data, len)?)?))
}

/// Like `segface_model_load_file`, and the file's SHA-256 must equal `expected_sha256` (64 hex
/// digits, NUL-terminated); otherwise `SEGFACE_STATUS_ERR_HASH_MISMATCH` and no model. Use it to
/// refuse a model file that was replaced or damaged on the device.
///
/// # Safety
/// `path` and `expected_sha256` must be NULL or NUL-terminated strings; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_file_verified(
    path: *const c_char,
    expected_sha256: *const c_char,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || {
        let expected = utf8_arg(expected_sha256, "expected_sha256")?;
        Ok(Model::load_verified(utf8_arg(path, "path")?, expected)?)
    })
}

/// Like `segface_model_load_memory`, and the bytes' SHA-256 must equal `expected_sha256`.
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes; `expected_sha256` NULL or a NUL-terminated
/// string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_memory_verified(
    data: *const u8,
    len: usize,
    expected_sha256: *const c_char,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || {
        let expected = utf8_arg(expected_sha256, "expected_sha256")?;
        Ok(Model::from_bytes_verified(bytes_arg(data, len)?, expected)?)
    })
}

/// Frees a model and sets `*model` to NULL. Accepts NULL and `*model == NULL`. Sessions made
/// from the model stay valid: they keep what they need alive.
///
/// # Safety
/// `*model` must be NULL or a pointer returned by a `segface_model_load_*` call, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn segface_model_free(model: *mut *mut SegfaceModel) {
    free_handle(model)
}

/// Number of classes (output channels); 0 for NULL.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_num_classes(model: *const SegfaceModel) -> u32 {
    model.as_ref().map_or(0, |m| m.class_names.len() as u32)
}

/// Name of class `index` (e.g. "hair"), owned by the model; NULL if out of range or NULL model.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_class_name(model: *const SegfaceModel, index: u32) -> *const c_char {
    model.as_ref().and_then(|m| m.class_names.get(index as usize)).map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The square input resolution R the model runs at; 0 for NULL.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_resolution(model: *const SegfaceModel) -> u32 {
    model.as_ref().map_or(0, |m| m.model.info().resolution as u32)
}
