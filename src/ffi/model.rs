//! Loading models and asking them about classes and resolution.

use std::ffi::{c_char, CString};

use super::SegfaceStatus;
use super::{bytes_arg, free_handle, guarded, null, struct_size_at, struct_size_error, utf8_arg, Failure};
use crate::handle;
use crate::{f16_available, LoadOptions, Model, ModelSource, Precision};

/// Arithmetic of a model's operators (`SegfaceLoadOptions.precision`); the numbers are
/// `Precision::code`'s.
pub type SegfacePrecision = u32;
/// float32 throughout (the default).
pub const SEGFACE_PRECISION_F32: SegfacePrecision = 0;
/// f16 on CPUs with native f16 arithmetic (ARMv8.2-A FEAT_FP16; see `segface_f16_available`).
pub const SEGFACE_PRECISION_F16: SegfacePrecision = 1;

/// How `segface_model_load_file_with` and `segface_model_load_memory_with` load a model. Fill it
/// with `segface_load_options_default`, then change what you need.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegfaceLoadOptions {
    pub struct_size: u32,
    /// One of `SEGFACE_PRECISION_*`.
    pub precision: SegfacePrecision,
    /// Nonzero, with `SEGFACE_PRECISION_F16` on a CPU without native f16: compute f16 in software
    /// anyway (several times slower than float32), to preview a phone's f16 labels on a desktop.
    /// Zero: such a load fails with `SEGFACE_STATUS_ERR_INVALID_ARGUMENT`.
    pub emulate_f16: u32,
    /// NULL, or 64 hex digits (NUL-terminated) the model's SHA-256 must equal; otherwise
    /// `SEGFACE_STATUS_ERR_HASH_MISMATCH` and no model.
    pub expected_sha256: *const c_char,
}

/// Fills `*options` with the defaults (float32, no hash check) and sets its `struct_size`.
///
/// # Safety
/// `options` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_load_options_default(options: *mut SegfaceLoadOptions) -> SegfaceStatus {
    guarded(|| {
        let options = options.as_mut().ok_or_else(|| null("options"))?;
        *options = SegfaceLoadOptions {
            struct_size: std::mem::size_of::<SegfaceLoadOptions>() as u32,
            precision: SEGFACE_PRECISION_F32,
            emulate_f16: 0,
            expected_sha256: std::ptr::null(),
        };
        Ok(())
    })
}

/// Nonzero when this CPU computes f16 natively, so that `SEGFACE_PRECISION_F16` loads without
/// emulation.
#[no_mangle]
pub extern "C" fn segface_f16_available() -> u32 {
    f16_available() as u32
}

/// The library's options from the caller's; NULL: the defaults.
///
/// # Safety
/// `options` must be NULL or point to a `SegfaceLoadOptions` of at least its `struct_size`, with
/// `expected_sha256` NULL or NUL-terminated.
unsafe fn load_options(options: *const SegfaceLoadOptions) -> Result<LoadOptions, Failure> {
    if options.is_null() {
        return Ok(LoadOptions::default());
    }
    let needed = std::mem::size_of::<SegfaceLoadOptions>();
    let given = struct_size_at(options);
    if (given as usize) < needed {
        return Err(struct_size_error("SegfaceLoadOptions", given, needed));
    }
    let options = &*options;
    let precision = Precision::from_code(options.precision.into())?;
    let expected_sha256 = match options.expected_sha256.is_null() {
        true => None,
        false => Some(utf8_arg(options.expected_sha256, "expected_sha256")?.to_owned()),
    };
    Ok(LoadOptions { expected_sha256, precision, emulate_f16: options.emulate_f16 != 0 })
}

/// A model file's path argument.
///
/// # Safety
/// `path` must be NULL or NUL-terminated.
unsafe fn file_arg<'a>(path: *const c_char) -> Result<ModelSource<'a>, Failure> {
    Ok(ModelSource::File(std::path::Path::new(utf8_arg(path, "path")?)))
}

/// The default options with an expected SHA-256 (the `_verified` loaders).
///
/// # Safety
/// `expected_sha256` must be NULL or NUL-terminated.
unsafe fn verified(expected_sha256: *const c_char) -> Result<LoadOptions, Failure> {
    let expected = utf8_arg(expected_sha256, "expected_sha256")?;
    Ok(LoadOptions { expected_sha256: Some(expected.to_owned()), ..LoadOptions::default() })
}

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
        *out = crate::handle::into_raw(SegfaceModel { model, class_names });
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
    load_into(out, || Ok(Model::load_with(file_arg(path)?, &LoadOptions::default())?))
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
    load_into(out, || Ok(Model::load_with(bytes_arg(data, len)?, &LoadOptions::default())?))
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
    load_into(out, || Ok(Model::load_with(file_arg(path)?, &verified(expected_sha256)?)?))
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
    load_into(out, || Ok(Model::load_with(bytes_arg(data, len)?, &verified(expected_sha256)?)?))
}

/// Loads an ONNX model file (UTF-8 path) as `options` say (NULL: the defaults, as
/// `segface_model_load_file`). On failure `*out` is NULL.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `options` NULL or a valid `SegfaceLoadOptions`
/// (its `struct_size` set); `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_file_with(
    path: *const c_char,
    options: *const SegfaceLoadOptions,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || Ok(Model::load_with(file_arg(path)?, &load_options(options)?)?))
}

/// Loads an ONNX model from memory (copied) as `options` say (NULL: the defaults).
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes; `options` NULL or a valid
/// `SegfaceLoadOptions`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_model_load_memory_with(
    data: *const u8,
    len: usize,
    options: *const SegfaceLoadOptions,
    out: *mut *mut SegfaceModel,
) -> SegfaceStatus {
    load_into(out, || Ok(Model::load_with(bytes_arg(data, len)?, &load_options(options)?)?))
}

/// The precision the model runs in (`SEGFACE_PRECISION_*`); `SEGFACE_PRECISION_F32` for NULL.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_precision(model: *const SegfaceModel) -> SegfacePrecision {
    handle::get(model).map_or(SEGFACE_PRECISION_F32, |m| m.model.info().precision.code())
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
    handle::get(model).map_or(0, |m| m.class_names.len() as u32)
}

/// Name of class `index` (e.g. "hair"), owned by the model; NULL if out of range or NULL model.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_class_name(model: *const SegfaceModel, index: u32) -> *const c_char {
    handle::get(model)
        .and_then(|m| m.class_names.get(index as usize))
        .map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The square input resolution R the model runs at; 0 for NULL.
///
/// # Safety
/// `model` must be NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn segface_model_resolution(model: *const SegfaceModel) -> u32 {
    handle::get(model).map_or(0, |m| m.model.info().resolution as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_c_constants_and_round_trip() {
        assert_eq!(Precision::F32.code(), SEGFACE_PRECISION_F32);
        assert_eq!(Precision::F16.code(), SEGFACE_PRECISION_F16);
        for precision in [Precision::F32, Precision::F16] {
            assert_eq!(Precision::from_code(precision.code().into()).unwrap(), precision);
        }
        assert!(Precision::from_code(2).is_err() && Precision::from_code(-1).is_err());
    }
}
