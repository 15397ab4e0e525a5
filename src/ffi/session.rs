//! Sessions and the parse calls.

use super::SegfaceOutputs;
use super::{
    faces_arg, frame_arg, image_view, outputs_arg, SegfaceFace, SegfaceFrame, SegfaceImage, SegfaceModel,
};
use super::{free_handle, guarded, null, Failure, SegfaceStatus};
use crate::handle::{self, Exclusive};
use crate::{Outputs, Session};

/// Per-stream state; use one session from one thread at a time.
pub struct SegfaceSession {
    pub(crate) session: Exclusive<Session>,
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
        let model = handle::get(model).ok_or_else(|| null("model"))?;
        let session = model.model.session()?;
        *out = handle::into_raw(SegfaceSession { session: Exclusive::new(session) });
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

/// Runs each parse on `threads` threads (1 to 64): 1, the default, is the calling thread alone;
/// more starts a pool of that many worker threads owned by the session, on which tract's matrix
/// products and segface's own operators share their work. Out-of-range counts are refused
/// (`SEGFACE_STATUS_ERR_INVALID_ARGUMENT`) and leave the count as it was.
///
/// # Safety
/// `session` must be NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn segface_session_set_threads(
    session: *mut SegfaceSession,
    threads: u32,
) -> SegfaceStatus {
    guarded(|| {
        let session = handle::get(session).ok_or_else(|| null("session"))?;
        session.session.with(|inner| inner.set_threads(threads as usize).map_err(Failure::from))
    })
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
        let session = handle::get(session).ok_or_else(|| null("session"))?;
        if labels.is_null() {
            return Err(null("labels"));
        }
        session.session.with(|inner| {
            let view = image_view(image)?;
            let out = std::slice::from_raw_parts_mut(labels, labels_len);
            inner.parse_into(&view, out, labels_stride).map_err(Failure::from)
        })
    })
}

/// Parses a camera frame (NV21, NV12, I420, YUV_420_888-style planes or packed RGB, in sensor
/// orientation) and writes a label map of the frame's own size and orientation: `frame->height`
/// rows of `frame->width` labels, `labels_stride` bytes apart. With `face` (upright frame
/// pixels: a box, or landmarks), the model sees that part of the frame and its labels are
/// mapped back into it; other pixels are background (0). With `face == NULL` the whole upright
/// frame is the face crop.
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
        let session = handle::get(session).ok_or_else(|| null("session"))?;
        if labels.is_null() {
            return Err(null("labels"));
        }
        let faces = faces_arg(face, usize::from(!face.is_null()))?;
        session.session.with(|inner| {
            let (parsed, orientation) = frame_arg(frame)?;
            let out = std::slice::from_raw_parts_mut(labels, labels_len);
            let mut outputs = Outputs::label_map(out, labels_stride);
            inner.parse_frame(&parsed, orientation, &faces, &mut outputs).map_err(Failure::from)
        })
    })
}

/// Parses the `n_faces` faces of a frame (`faces` may be NULL when `n_faces` is 0: the whole
/// upright frame is one face crop) into the outputs `outputs` asks for: a label map, soft masks
/// and a class-set mask, each of the frame's size and orientation. Each face runs the model
/// once; where crops overlap, a pixel takes the face most confident it is not background.
/// `faces` is an array of `n_faces` structs `faces[0].struct_size` bytes apart (every element
/// with that `struct_size`).
///
/// # Safety
/// `session` must be NULL or a live session; `frame` NULL or valid with readable planes;
/// `faces` NULL or `n_faces` readable structs; `outputs` NULL or valid, its buffers writable for
/// their lengths and not overlapping.
#[no_mangle]
pub unsafe extern "C" fn segface_parse_frame_outputs(
    session: *mut SegfaceSession,
    frame: *const SegfaceFrame,
    faces: *const SegfaceFace,
    n_faces: usize,
    outputs: *const SegfaceOutputs,
) -> SegfaceStatus {
    guarded(|| {
        let frame = frame.as_ref().ok_or_else(|| null("frame"))?;
        let session = handle::get(session).ok_or_else(|| null("session"))?;
        let outputs = outputs.as_ref().ok_or_else(|| null("outputs"))?;
        let faces = faces_arg(faces, n_faces)?;
        session.session.with(|inner| {
            let (parsed, orientation) = frame_arg(frame)?;
            let mut outputs = outputs_arg(outputs)?;
            inner.parse_frame(&parsed, orientation, &faces, &mut outputs).map_err(Failure::from)
        })
    })
}
