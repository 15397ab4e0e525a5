//! The C ABI: a thin shell over [`crate::Model`], [`crate::Session`], [`crate::FaceDetector`]
//! and [`crate::VideoSession`]. `include/segface.h` is generated from these files by cbindgen
//! (see `tests/bindings/c_header.rs`): `mod.rs` (status and errors), `model.rs`, `frame.rs` (image and
//! frame descriptors), `outputs.rs`, `session.rs`, `detect.rs`, `video.rs`.
//!
//! Rules every entry point follows: pointers are null-checked, sizes checked before any read or
//! write, panics are caught (a panicking session is poisoned), and a failure returns a status
//! code and leaves a message for `segface_last_error()` on the calling thread.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::handle::Refused;
use crate::{Error, ErrorKind};

// In the order the header lists them: what a caller meets first comes first.
mod detect;
mod frame;
mod model;
mod outputs;
mod session;
mod video;

pub use detect::*;
pub use frame::*;
pub use model::*;
pub use outputs::*;
pub use session::*;
pub use video::*;

/// Bumped only when the ABI changes incompatibly.
pub const SEGFACE_ABI_VERSION: u32 = 1;

/// Largest accepted image width or height.
pub const SEGFACE_MAX_IMAGE_DIM: u32 = 16384;
const _: () = assert!(SEGFACE_MAX_IMAGE_DIM == crate::MAX_IMAGE_DIM);

/// Result of every fallible call. 0 is success; values are never reused. Each kind of error the
/// Rust library reports has its own code (2 to 8, 12, 13); `ERR_NULL_POINTER`,
/// `ERR_SESSION_BUSY`, `ERR_INTERNAL` and `ERR_UNSUPPORTED_FORMAT` arise in the C ABI only.
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
    /// A file could not be read or written.
    ErrIo = 5,
    /// A model or checkpoint file is malformed, truncated or not a SegFace model.
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
    /// An image file could not be decoded.
    ErrInvalidImage = 12,
    /// A download failed or is not possible here.
    ErrNetwork = 13,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

/// The status of each error kind, one code per kind.
pub(crate) fn status_of(kind: ErrorKind) -> SegfaceStatus {
    match kind {
        ErrorKind::InvalidArgument => SegfaceStatus::ErrInvalidArgument,
        ErrorKind::BufferTooSmall => SegfaceStatus::ErrBufferTooSmall,
        ErrorKind::ImageTooLarge => SegfaceStatus::ErrImageTooLarge,
        ErrorKind::Io => SegfaceStatus::ErrIo,
        ErrorKind::InvalidModel => SegfaceStatus::ErrInvalidModel,
        ErrorKind::HashMismatch => SegfaceStatus::ErrHashMismatch,
        ErrorKind::Inference => SegfaceStatus::ErrInference,
        ErrorKind::InvalidImage => SegfaceStatus::ErrInvalidImage,
        ErrorKind::Network => SegfaceStatus::ErrNetwork,
    }
}

/// Failure of an FFI call: a status and its message.
pub(crate) struct Failure(pub(crate) SegfaceStatus, pub(crate) String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(status_of(e.kind()), e.report())
    }
}

impl From<Refused> for Failure {
    fn from(refused: Refused) -> Self {
        let status = match refused {
            Refused::Busy => SegfaceStatus::ErrSessionBusy,
            Refused::Poisoned => SegfaceStatus::ErrInternal,
        };
        Failure(status, refused.message().to_string())
    }
}

pub(crate) fn null(what: &str) -> Failure {
    Failure(SegfaceStatus::ErrNullPointer, format!("`{what}` is NULL"))
}

/// Runs `body`, catching panics, and records the message of a failure for this thread.
pub(crate) fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> SegfaceStatus {
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
        12 => "invalid image\0",
        13 => "network error\0",
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

/// Caller bytes as a slice.
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes.
pub(crate) unsafe fn bytes_arg<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if data.is_null() {
        return Err(null("data"));
    }
    Ok(std::slice::from_raw_parts(data, len))
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or NUL-terminated.
pub(crate) unsafe fn utf8_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    CStr::from_ptr(ptr)
        .to_str()
        .map_err(|_| Failure(SegfaceStatus::ErrInvalidArgument, format!("`{name}` is not valid UTF-8")))
}

/// Frees the handle behind `*handle` and nulls it; NULL and `*handle == NULL` are no-ops.
///
/// # Safety
/// `handle` must be NULL or writable, `*handle` NULL or from `handle::into_raw` not yet freed.
pub(crate) unsafe fn free_handle<T>(handle: *mut *mut T) {
    if !handle.is_null() {
        crate::handle::free(*handle);
        *handle = std::ptr::null_mut();
    }
}

pub(crate) fn struct_size_error(name: &str, given: u32, needed: usize) -> Failure {
    Failure(
        SegfaceStatus::ErrInvalidArgument,
        format!("{name}.struct_size is {given}, expected at least {needed} (set it to sizeof({name}))"),
    )
}

/// Reads the `struct_size` a caller put at the start of a versioned struct.
///
/// # Safety
/// `ptr` must be readable for 4 bytes.
pub(crate) unsafe fn struct_size_at<T>(ptr: *const T) -> u32 {
    std::ptr::read_unaligned(ptr as *const u32)
}
