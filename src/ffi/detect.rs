//! The face detector (RetinaFace, `models/retinaface_mnet.onnx`) through C.

use std::ffi::c_char;

use super::{bytes_arg, free_handle, guarded, null, struct_size_at, struct_size_error, utf8_arg};
use super::{frame_arg, Failure, SegfaceFrame, SegfaceStatus};
use crate::handle;
use crate::{DetectedFace, FaceBox, FaceDetector};

/// A loaded face detector: immutable; may be used from several threads at once.
pub struct SegfaceDetector {
    pub(crate) detector: FaceDetector,
}

/// A face found in a frame, in upright frame pixels. Arrays of it are `struct_size` bytes
/// apart: set `struct_size = sizeof(SegfaceDetection)` in the first element.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegfaceDetection {
    pub struct_size: u32,
    /// Detector confidence, 0..1 (0 for a face the caller gave a video session).
    pub score: f32,
    /// The tight face box (brows to chin).
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// The square crop SegFace should see (2.2 times the tight box's longer side): pass it as a
    /// `SEGFACE_FACE_BOX` face.
    pub crop_x: f32,
    pub crop_y: f32,
    pub crop_width: f32,
    pub crop_height: f32,
    /// Left eye, right eye, nose tip, left and right mouth corners as x, y pairs: pass them as
    /// a `SEGFACE_FACE_LANDMARKS` face.
    pub landmarks: [f32; 10],
}

impl SegfaceDetection {
    pub(crate) fn new(score: f32, tight: FaceBox, crop: FaceBox, landmarks: [[f32; 2]; 5]) -> Self {
        SegfaceDetection {
            struct_size: std::mem::size_of::<SegfaceDetection>() as u32,
            score,
            x: tight.x,
            y: tight.y,
            width: tight.width,
            height: tight.height,
            crop_x: crop.x,
            crop_y: crop.y,
            crop_width: crop.width,
            crop_height: crop.height,
            landmarks: landmarks.as_flattened().try_into().expect("5 points"),
        }
    }

    fn of(face: &DetectedFace) -> Self {
        SegfaceDetection::new(face.score, face.bbox, face.segface_crop(), face.landmarks)
    }
}

/// Writes up to `capacity` detections into the caller's array (stride: `out[0].struct_size`)
/// and their total number into `*count`.
///
/// # Safety
/// `out` must be NULL or writable for `capacity` elements of its stride; `count` NULL or
/// writable.
pub(crate) unsafe fn write_detections(
    items: impl ExactSizeIterator<Item = SegfaceDetection>,
    out: *mut SegfaceDetection,
    capacity: usize,
    count: *mut usize,
) -> Result<(), Failure> {
    if count.is_null() {
        return Err(null("count"));
    }
    *count = 0;
    let total = items.len();
    if capacity > 0 {
        if out.is_null() {
            return Err(null("out"));
        }
        let stride = struct_size_at(out) as usize;
        let size = std::mem::size_of::<SegfaceDetection>();
        if stride < size {
            return Err(struct_size_error("SegfaceDetection", stride as u32, size));
        }
        for (i, item) in items.take(capacity).enumerate() {
            std::ptr::write_unaligned((out as *mut u8).add(i * stride) as *mut SegfaceDetection, item);
        }
    }
    *count = total;
    Ok(())
}

/// The input size to build a detector for: 0 means the default.
fn input_size(size: u32) -> usize {
    if size == 0 {
        FaceDetector::DEFAULT_SIZE
    } else {
        size as usize
    }
}

/// # Safety
/// `out` must be NULL or writable.
unsafe fn detector_into(
    out: *mut *mut SegfaceDetector,
    load: impl FnOnce() -> Result<FaceDetector, Failure>,
) -> SegfaceStatus {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        *out = std::ptr::null_mut();
        *out = crate::handle::into_raw(SegfaceDetector { detector: load()? });
        Ok(())
    })
}

/// Loads the RetinaFace detector (`models/retinaface_mnet.onnx`) for a square input of
/// `input_size` pixels (a multiple of 32; 0: 640). Frames are letterboxed into it: smaller is
/// faster and misses small faces. Free it with `segface_detector_free`.
///
/// # Safety
/// `path` must be NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_detector_load_file(
    path: *const c_char,
    input_size: u32,
    out: *mut *mut SegfaceDetector,
) -> SegfaceStatus {
    detector_into(out, || {
        Ok(FaceDetector::load(std::path::Path::new(utf8_arg(path, "path")?), self::input_size(input_size))?)
    })
}

/// Like `segface_detector_load_file`, from memory (the bytes are not kept).
///
/// # Safety
/// `data` must be NULL or readable for `len` bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_detector_load_memory(
    data: *const u8,
    len: usize,
    input_size: u32,
    out: *mut *mut SegfaceDetector,
) -> SegfaceStatus {
    detector_into(out, || Ok(FaceDetector::load(bytes_arg(data, len)?, self::input_size(input_size))?))
}

/// Frees a detector and sets `*detector` to NULL. Accepts NULL and `*detector == NULL`. Video
/// sessions made with it stay valid.
///
/// # Safety
/// `*detector` must be NULL or a live detector not in use.
#[no_mangle]
pub unsafe extern "C" fn segface_detector_free(detector: *mut *mut SegfaceDetector) {
    free_handle(detector)
}

/// Finds the faces of the upright frame scoring at least `min_score` (0..1; 0.7 is a good
/// start), best first. Writes up to `capacity` of them into `out` (stride
/// `out[0].struct_size`; `out` may be NULL when `capacity` is 0) and how many were found into
/// `*count`, which may exceed `capacity`.
///
/// # Safety
/// `detector` must be NULL or live; `frame` NULL or valid with readable planes; `out` NULL or
/// writable for `capacity` elements; `count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_detect(
    detector: *const SegfaceDetector,
    frame: *const SegfaceFrame,
    min_score: f32,
    out: *mut SegfaceDetection,
    capacity: usize,
    count: *mut usize,
) -> SegfaceStatus {
    guarded(|| {
        let detector = handle::get(detector).ok_or_else(|| null("detector"))?;
        let frame = frame.as_ref().ok_or_else(|| null("frame"))?;
        let (parsed, orientation) = frame_arg(frame)?;
        let faces = detector.detector.detect(&parsed, orientation, min_score)?;
        write_detections(faces.iter().map(SegfaceDetection::of), out, capacity, count)
    })
}
