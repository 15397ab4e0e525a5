//! The C ABI: a thin shell over [`Model`] and [`Session`]. `include/segface.h` is generated from
//! this file by cbindgen (see `tests/c_header.rs`).
//!
//! Rules every entry point follows: pointers are null-checked, sizes checked before any read or
//! write, panics are caught (a panicking session is poisoned), and a failure returns a status
//! code and leaves a message for `segface_last_error()` on the calling thread.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, ErrorKind};
use crate::image_view::{ImageView, PixelFormat};
use crate::model::Model;
use crate::session::Session;

/// Bumped only when the ABI changes incompatibly.
pub const SEGFACE_ABI_VERSION: u32 = 1;

/// Largest accepted image width or height.
pub const SEGFACE_MAX_IMAGE_DIM: u32 = 16384;
const _: () = assert!(SEGFACE_MAX_IMAGE_DIM == crate::image_view::MAX_IMAGE_DIM);

/// Result of every fallible call. 0 is success; values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegfaceStatus {
    Ok = 0,
    /// A required pointer argument was NULL.
    ErrNullPointer = 1,
    /// An argument is out of range or inconsistent.
    ErrInvalidArgument = 2,
    /// A caller buffer is smaller than needed.
    ErrBufferTooSmall = 3,
    /// The image exceeds the supported size.
    ErrImageTooLarge = 4,
    /// A file could not be read.
    ErrIo = 5,
    /// The model file is malformed, truncated or not a SegFace model.
    ErrInvalidModel = 6,
    /// A SHA-256 check failed.
    ErrHashMismatch = 7,
    /// The inference engine failed.
    ErrInference = 8,
    /// A session was used from two threads at once.
    ErrSessionBusy = 9,
    /// An internal error (a caught panic); the session is unusable afterwards.
    ErrInternal = 10,
    /// The pixel format is unknown.
    ErrUnsupportedFormat = 11,
}

/// Pixel layouts of `SegfaceImage.format`.
pub type SegfacePixelFormat = i32;
/// 3 bytes per pixel: R, G, B.
pub const SEGFACE_PIXEL_FORMAT_RGB8: SegfacePixelFormat = 0;
/// 4 bytes per pixel: R, G, B, A (alpha ignored).
pub const SEGFACE_PIXEL_FORMAT_RGBA8: SegfacePixelFormat = 1;
/// 4 bytes per pixel: B, G, R, A (alpha ignored), e.g. iOS kCVPixelFormatType_32BGRA.
pub const SEGFACE_PIXEL_FORMAT_BGRA8: SegfacePixelFormat = 2;

/// A borrowed image. Set `struct_size = sizeof(SegfaceImage)`; fields may be appended in later
/// versions and older callers keep working.
#[repr(C)]
pub struct SegfaceImage {
    pub struct_size: u32,
    /// One of `SEGFACE_PIXEL_FORMAT_*`.
    pub format: SegfacePixelFormat,
    pub width: u32,
    pub height: u32,
    /// First byte of the first row.
    pub data: *const u8,
    /// Bytes readable from `data`; must cover `row_stride * (height - 1) + width * bpp`.
    pub data_len: usize,
    /// Bytes from one row to the next (>= width * bytes per pixel).
    pub row_stride: usize,
}

/// A loaded model: immutable; functions taking `const SegfaceModel*` may run concurrently.
pub struct SegfaceModel {
    model: Model,
    class_names: Vec<CString>,
}

/// Per-stream state; use one session from one thread at a time.
pub struct SegfaceSession {
    busy: AtomicBool,
    poisoned: AtomicBool,
    session: UnsafeCell<Session>,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

fn status_of(kind: ErrorKind) -> SegfaceStatus {
    match kind {
        ErrorKind::InvalidArgument => SegfaceStatus::ErrInvalidArgument,
        ErrorKind::BufferTooSmall => SegfaceStatus::ErrBufferTooSmall,
        ErrorKind::ImageTooLarge => SegfaceStatus::ErrImageTooLarge,
        ErrorKind::Io | ErrorKind::Network => SegfaceStatus::ErrIo,
        ErrorKind::InvalidModel | ErrorKind::InvalidImage => SegfaceStatus::ErrInvalidModel,
        ErrorKind::HashMismatch => SegfaceStatus::ErrHashMismatch,
        ErrorKind::Inference => SegfaceStatus::ErrInference,
    }
}

/// Failure of an FFI call: a status and its message.
struct Failure(SegfaceStatus, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(status_of(e.kind()), e.message().to_string())
    }
}

fn null(what: &str) -> Failure {
    Failure(SegfaceStatus::ErrNullPointer, format!("`{what}` is NULL"))
}

/// Runs `body`, catching panics, and records the message of a failure for this thread.
fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> SegfaceStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            LAST_ERROR.with(|e| *e.borrow_mut() = None);
            SegfaceStatus::Ok
        }
        Ok(Err(Failure(status, message))) => {
            set_last_error(&message);
            status
        }
        Err(_) => {
            set_last_error("internal error (a panic was caught inside segface)");
            SegfaceStatus::ErrInternal
        }
    }
}

/// The library version, e.g. "0.1.0". Static storage; never NULL.
#[no_mangle]
pub extern "C" fn segface_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// The ABI version the library implements; compare with `SEGFACE_ABI_VERSION`.
#[no_mangle]
pub extern "C" fn segface_abi_version() -> u32 {
    SEGFACE_ABI_VERSION
}

/// A static description of a status code; never NULL.
#[no_mangle]
pub extern "C" fn segface_status_str(status: i32) -> *const c_char {
    let s: &'static str = match status {
        0 => "ok\0",
        1 => "null pointer\0",
        2 => "invalid argument\0",
        3 => "buffer too small\0",
        4 => "image too large\0",
        5 => "i/o error\0",
        6 => "invalid model\0",
        7 => "hash mismatch\0",
        8 => "inference failed\0",
        9 => "session busy\0",
        10 => "internal error\0",
        11 => "unsupported pixel format\0",
        _ => "unknown status\0",
    };
    s.as_ptr() as *const c_char
}

/// The message of the last failed call on this thread, or NULL if the last call succeeded.
/// Valid until the next segface call on this thread.
#[no_mangle]
pub extern "C" fn segface_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
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

/// Caller bytes as a slice.
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes.
unsafe fn bytes_arg<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if data.is_null() {
        return Err(null("data"));
    }
    Ok(std::slice::from_raw_parts(data, len))
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

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or NUL-terminated.
unsafe fn utf8_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    CStr::from_ptr(ptr)
        .to_str()
        .map_err(|_| Failure(SegfaceStatus::ErrInvalidArgument, format!("`{name}` is not valid UTF-8")))
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

/// Drops the boxed handle behind `*handle` and nulls it; NULL and `*handle == NULL` are no-ops.
///
/// # Safety
/// `*handle` must be NULL or a pointer from `Box::into_raw` not yet freed.
unsafe fn free_handle<T>(handle: *mut *mut T) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !handle.is_null() && !(*handle).is_null() {
            drop(Box::from_raw(*handle));
            *handle = std::ptr::null_mut();
        }
    }));
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

/// Creates a session for parsing frames. Free it with `segface_session_free`.
///
/// # Safety
/// `model` must be NULL or a live model; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_session_create(
    model: *const SegfaceModel,
    out: *mut *mut SegfaceSession,
) -> SegfaceStatus {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        *out = std::ptr::null_mut();
        let model = model.as_ref().ok_or_else(|| null("model"))?;
        let session = model.model.session()?;
        *out = Box::into_raw(Box::new(SegfaceSession {
            busy: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            session: UnsafeCell::new(session),
        }));
        Ok(())
    })
}

/// Frees a session and sets `*session` to NULL. Accepts NULL and `*session == NULL`.
///
/// # Safety
/// `*session` must be NULL or a live session not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn segface_session_free(session: *mut *mut SegfaceSession) {
    free_handle(session)
}

fn image_view<'a>(image: &'a SegfaceImage) -> Result<ImageView<'a>, Failure> {
    if (image.struct_size as usize) < std::mem::size_of::<SegfaceImage>() {
        return Err(Failure(
            SegfaceStatus::ErrInvalidArgument,
            format!(
                "SegfaceImage.struct_size is {}, expected at least {} (set it to sizeof(SegfaceImage))",
                image.struct_size,
                std::mem::size_of::<SegfaceImage>()
            ),
        ));
    }
    let format = match image.format {
        SEGFACE_PIXEL_FORMAT_RGB8 => PixelFormat::Rgb8,
        SEGFACE_PIXEL_FORMAT_RGBA8 => PixelFormat::Rgba8,
        SEGFACE_PIXEL_FORMAT_BGRA8 => PixelFormat::Bgra8,
        other => {
            return Err(Failure(SegfaceStatus::ErrUnsupportedFormat, format!("unknown pixel format {other}")))
        }
    };
    if image.data.is_null() {
        return Err(null("image->data"));
    }
    // SAFETY: the caller promises `data` is readable for `data_len` bytes; ImageView checks the
    // image fits in them before anything is read.
    let data = unsafe { std::slice::from_raw_parts(image.data, image.data_len) };
    Ok(ImageView::new(data, image.width, image.height, image.row_stride, format)?)
}

/// Parses `image` and writes its label map into `labels`: `image->height` rows of
/// `image->width` class indices, `labels_stride` bytes apart (bytes between rows untouched).
/// `labels_len` must be at least `labels_stride * (height - 1) + width`.
///
/// # Safety
/// `session` must be NULL or a live session; `image` NULL or a valid descriptor whose `data` is
/// readable for `data_len` bytes; `labels` NULL or writable for `labels_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn segface_parse(
    session: *mut SegfaceSession,
    image: *const SegfaceImage,
    labels: *mut u8,
    labels_len: usize,
    labels_stride: usize,
) -> SegfaceStatus {
    guarded(|| {
        let session = session.as_ref().ok_or_else(|| null("session"))?;
        let image = image.as_ref().ok_or_else(|| null("image"))?;
        if labels.is_null() {
            return Err(null("labels"));
        }
        if session.poisoned.load(Ordering::Acquire) {
            return Err(Failure(
                SegfaceStatus::ErrInternal,
                "this session failed internally earlier; create a new one".into(),
            ));
        }
        if session.busy.swap(true, Ordering::Acquire) {
            return Err(Failure(
                SegfaceStatus::ErrSessionBusy,
                "the session is in use by another thread; use one session per thread".into(),
            ));
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            let view = image_view(image)?;
            let out = std::slice::from_raw_parts_mut(labels, labels_len);
            // SAFETY: the busy flag gives this call exclusive access to the session.
            let inner = &mut *session.session.get();
            inner.parse_into(&view, out, labels_stride).map_err(Failure::from)
        }));
        session.busy.store(false, Ordering::Release);
        match result {
            Ok(r) => r,
            Err(panic) => {
                session.poisoned.store(true, Ordering::Release);
                std::panic::resume_unwind(panic)
            }
        }
    })
}
