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
use crate::frame::{FaceBox, Frame, FrameOptions, Orientation, Plane, Rotation, YuvRange};
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

/// Y plane, then interleaved V/U at half resolution (Android camera's default); planes 0 and 1.
pub const SEGFACE_PIXEL_FORMAT_NV21: SegfacePixelFormat = 3;
/// Y plane, then interleaved U/V at half resolution (iOS 420f/420v); planes 0 and 1.
pub const SEGFACE_PIXEL_FORMAT_NV12: SegfacePixelFormat = 4;
/// Y, U and V planes, chroma at half resolution; planes 0, 1, 2 (pixel strides ignored).
pub const SEGFACE_PIXEL_FORMAT_I420: SegfacePixelFormat = 5;
/// Y, U and V planes with their own row and pixel strides (Android `YUV_420_888`).
pub const SEGFACE_PIXEL_FORMAT_YUV420: SegfacePixelFormat = 6;

/// YUV full range (BT.601, JPEG; Android camera frames).
pub const SEGFACE_YUV_RANGE_FULL: i32 = 0;
/// YUV limited "video" range (BT.601, Y in 16..235; iOS `...VideoRange` buffers).
pub const SEGFACE_YUV_RANGE_LIMITED: i32 = 1;

/// One plane of a frame: `data_len` readable bytes; sample (x, y) at
/// `data[y * row_stride + x * pixel_stride]` (`pixel_stride` is used by YUV420 only).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegfacePlane {
    pub data: *const u8,
    pub data_len: usize,
    pub row_stride: usize,
    pub pixel_stride: usize,
}

/// A camera frame in sensor orientation. Set `struct_size = sizeof(SegfaceFrame)`; fields may be
/// appended in later versions and older callers keep working.
#[repr(C)]
pub struct SegfaceFrame {
    pub struct_size: u32,
    /// One of `SEGFACE_PIXEL_FORMAT_*`; packed formats use plane 0 (`pixel_stride` ignored).
    pub format: SegfacePixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: [SegfacePlane; 3],
    /// `SEGFACE_YUV_RANGE_*` (YUV formats; NV21 is always full range).
    pub yuv_range: i32,
    /// Clockwise rotation that makes the frame upright: 0, 90, 180 or 270.
    pub rotation_degrees: u32,
    /// Nonzero: mirror left-right after rotating (front cameras).
    pub mirror: u32,
}

/// Where the face is, in upright frame pixels (after rotation and mirroring). Set
/// `struct_size = sizeof(SegfaceFace)`.
#[repr(C)]
pub struct SegfaceFace {
    pub struct_size: u32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

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

/// Caller bytes of a plane.
///
/// # Safety
/// `plane.data` must be NULL or readable for `plane.data_len` bytes.
unsafe fn plane_bytes<'a>(plane: &SegfacePlane, name: &str) -> Result<&'a [u8], Failure> {
    if plane.data.is_null() {
        return Err(null(name));
    }
    Ok(std::slice::from_raw_parts(plane.data, plane.data_len))
}

fn struct_size_error(name: &str, given: u32, needed: usize) -> Failure {
    Failure(
        SegfaceStatus::ErrInvalidArgument,
        format!("{name}.struct_size is {given}, expected at least {needed} (set it to sizeof({name}))"),
    )
}

/// A frame descriptor as the safe API's frame and reading options.
///
/// # Safety
/// Every plane the format uses must be NULL or readable for its `data_len` bytes.
unsafe fn frame_options<'a>(
    frame: &'a SegfaceFrame,
    face: Option<&SegfaceFace>,
) -> Result<(Frame<'a>, FrameOptions), Failure> {
    if (frame.struct_size as usize) < std::mem::size_of::<SegfaceFrame>() {
        return Err(struct_size_error(
            "SegfaceFrame",
            frame.struct_size,
            std::mem::size_of::<SegfaceFrame>(),
        ));
    }
    let range = match frame.yuv_range {
        SEGFACE_YUV_RANGE_FULL => YuvRange::Full,
        SEGFACE_YUV_RANGE_LIMITED => YuvRange::Limited,
        other => {
            return Err(Failure(SegfaceStatus::ErrInvalidArgument, format!("unknown YUV range {other}")))
        }
    };
    let [p0, p1, p2] = &frame.planes;
    let (w, h) = (frame.width, frame.height);
    let packed = |format| -> Result<Frame<'a>, Failure> {
        Ok(Frame::Packed(ImageView::new(plane_bytes(p0, "planes[0].data")?, w, h, p0.row_stride, format)?))
    };
    let parsed = match frame.format {
        SEGFACE_PIXEL_FORMAT_RGB8 => packed(PixelFormat::Rgb8)?,
        SEGFACE_PIXEL_FORMAT_RGBA8 => packed(PixelFormat::Rgba8)?,
        SEGFACE_PIXEL_FORMAT_BGRA8 => packed(PixelFormat::Bgra8)?,
        SEGFACE_PIXEL_FORMAT_NV21 => Frame::nv21(
            w,
            h,
            plane_bytes(p0, "planes[0].data")?,
            p0.row_stride,
            plane_bytes(p1, "planes[1].data")?,
            p1.row_stride,
        )?,
        SEGFACE_PIXEL_FORMAT_NV12 => Frame::nv12(
            w,
            h,
            plane_bytes(p0, "planes[0].data")?,
            p0.row_stride,
            plane_bytes(p1, "planes[1].data")?,
            p1.row_stride,
            range,
        )?,
        SEGFACE_PIXEL_FORMAT_I420 => Frame::i420(
            w,
            h,
            (plane_bytes(p0, "planes[0].data")?, p0.row_stride),
            (plane_bytes(p1, "planes[1].data")?, p1.row_stride),
            (plane_bytes(p2, "planes[2].data")?, p2.row_stride),
            range,
        )?,
        SEGFACE_PIXEL_FORMAT_YUV420 => {
            let plane = |p: &SegfacePlane, name| -> Result<Plane<'a>, Failure> {
                Ok(Plane {
                    data: plane_bytes(p, name)?,
                    row_stride: p.row_stride,
                    pixel_stride: p.pixel_stride,
                })
            };
            Frame::yuv420(
                w,
                h,
                plane(p0, "planes[0].data")?,
                plane(p1, "planes[1].data")?,
                plane(p2, "planes[2].data")?,
                range,
            )?
        }
        other => {
            return Err(Failure(SegfaceStatus::ErrUnsupportedFormat, format!("unknown pixel format {other}")))
        }
    };
    let orientation =
        Orientation { rotation: Rotation::from_degrees(frame.rotation_degrees)?, mirror: frame.mirror != 0 };
    let face = match face {
        Some(f) if (f.struct_size as usize) < std::mem::size_of::<SegfaceFace>() => {
            return Err(struct_size_error("SegfaceFace", f.struct_size, std::mem::size_of::<SegfaceFace>()))
        }
        Some(f) => Some(FaceBox { x: f.x, y: f.y, width: f.width, height: f.height }),
        None => None,
    };
    Ok((parsed, FrameOptions { orientation, face }))
}

fn image_view<'a>(image: &'a SegfaceImage) -> Result<ImageView<'a>, Failure> {
    if (image.struct_size as usize) < std::mem::size_of::<SegfaceImage>() {
        return Err(struct_size_error(
            "SegfaceImage",
            image.struct_size,
            std::mem::size_of::<SegfaceImage>(),
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
        let image = image.as_ref().ok_or_else(|| null("image"))?;
        with_session(session, labels, |inner| {
            let view = image_view(image)?;
            let out = std::slice::from_raw_parts_mut(labels, labels_len);
            inner.parse_into(&view, out, labels_stride).map_err(Failure::from)
        })
    })
}

/// Parses a camera frame (NV21, NV12, I420, YUV_420_888-style planes or packed RGB, in sensor
/// orientation) and writes a label map of the frame's own size and orientation: `frame->height`
/// rows of `frame->width` labels, `labels_stride` bytes apart. With `face` (upright frame
/// pixels), the model sees that box and its labels are mapped back into it; other pixels are
/// background (0). With `face == NULL` the whole upright frame is the face crop.
///
/// # Safety
/// `session` must be NULL or a live session; `frame` NULL or a valid descriptor whose planes
/// are readable for their `data_len` bytes; `face` NULL or valid; `labels` NULL or writable for
/// `labels_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn segface_parse_frame(
    session: *mut SegfaceSession,
    frame: *const SegfaceFrame,
    face: *const SegfaceFace,
    labels: *mut u8,
    labels_len: usize,
    labels_stride: usize,
) -> SegfaceStatus {
    guarded(|| {
        let frame = frame.as_ref().ok_or_else(|| null("frame"))?;
        let face = face.as_ref();
        with_session(session, labels, |inner| {
            let (parsed, options) = frame_options(frame, face)?;
            let out = std::slice::from_raw_parts_mut(labels, labels_len);
            inner.parse_frame_into(&parsed, &options, out, labels_stride).map_err(Failure::from)
        })
    })
}

/// Runs `body` with exclusive use of the session, after checking `labels` is not NULL (or
/// reports the session busy or poisoned).
///
/// # Safety
/// `session` must be NULL or a live session.
unsafe fn with_session(
    session: *mut SegfaceSession,
    labels: *mut u8,
    body: impl FnOnce(&mut Session) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let session = session.as_ref().ok_or_else(|| null("session"))?;
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
        // SAFETY: the busy flag gives this call exclusive access to the session.
        body(&mut *session.session.get())
    }));
    session.busy.store(false, Ordering::Release);
    match result {
        Ok(r) => r,
        Err(panic) => {
            session.poisoned.store(true, Ordering::Release);
            std::panic::resume_unwind(panic)
        }
    }
}
