//! Video sessions through C: faces followed across frames, detection reused, results smoothed.

use super::{
    faces_arg, frame_arg, outputs_arg, SegfaceDetection, SegfaceDetector, SegfaceFace, SegfaceFrame,
};
use super::{free_handle, guarded, null, struct_size_error, write_detections, Failure, SegfaceStatus};
use super::{SegfaceModel, SegfaceOutputs};
use crate::handle::{self, Exclusive};
use crate::{TrackedFace, VideoOptions, VideoSession};

/// How a video session finds and smooths faces. Fill it with `segface_video_options_default`,
/// then change what you need.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegfaceVideoOptions {
    pub struct_size: u32,
    /// Temporal smoothing strength in [0, 1): each face's logits are kept as
    /// `s * kept + (1 - s) * new` (0: off; 0.9: about the last 10 frames count).
    pub smoothing: f32,
    /// Run the detector on one frame in `detect_every` and reuse its faces in between.
    pub detect_every: u32,
    /// Detector score threshold, 0..1.
    pub min_score: f32,
    /// The most faces parsed per frame.
    pub max_faces: u32,
    /// Nonzero: place detected faces by their landmarks (turned upright) instead of the box.
    pub align: u32,
    /// Threads each parse runs on (as `segface_session_set_threads`).
    pub threads: u32,
}

/// A video stream's state; use it from one thread at a time.
pub struct SegfaceVideo {
    video: Exclusive<VideoSession>,
}

impl From<VideoOptions> for SegfaceVideoOptions {
    fn from(o: VideoOptions) -> Self {
        SegfaceVideoOptions {
            struct_size: std::mem::size_of::<SegfaceVideoOptions>() as u32,
            smoothing: o.smoothing,
            detect_every: o.detect_every,
            min_score: o.min_score,
            max_faces: o.max_faces.min(u32::MAX as usize) as u32,
            align: o.align as u32,
            threads: o.threads.min(u32::MAX as usize) as u32,
        }
    }
}

/// Fills `*options` with the defaults (smoothing 0.5, detection every 5 frames, score 0.7, 4
/// faces, boxes, 1 thread) and sets its `struct_size`.
///
/// # Safety
/// `options` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_video_options_default(options: *mut SegfaceVideoOptions) -> SegfaceStatus {
    guarded(|| {
        let options = options.as_mut().ok_or_else(|| null("options"))?;
        *options = VideoOptions::default().into();
        Ok(())
    })
}

/// Creates a video session on `model`. With `detector` (may be NULL) frames parsed without
/// faces are searched for faces; without one they are parsed whole. `options` NULL: defaults.
/// Free it with `segface_video_free`.
///
/// # Safety
/// `model` and `detector` must be NULL or live; `options` NULL or valid; `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn segface_video_create(
    model: *const SegfaceModel,
    detector: *const SegfaceDetector,
    options: *const SegfaceVideoOptions,
    out: *mut *mut SegfaceVideo,
) -> SegfaceStatus {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        *out = std::ptr::null_mut();
        let model = handle::get(model).ok_or_else(|| null("model"))?;
        let options = match options.as_ref() {
            None => VideoOptions::default(),
            Some(o) if (o.struct_size as usize) < std::mem::size_of::<SegfaceVideoOptions>() => {
                return Err(struct_size_error(
                    "SegfaceVideoOptions",
                    o.struct_size,
                    std::mem::size_of::<SegfaceVideoOptions>(),
                ))
            }
            Some(o) => VideoOptions {
                smoothing: o.smoothing,
                detect_every: o.detect_every,
                min_score: o.min_score,
                max_faces: o.max_faces as usize,
                align: o.align != 0,
                threads: o.threads as usize,
            },
        };
        let detector = handle::get(detector).map(|d| d.detector.clone());
        let video = VideoSession::new(&model.model, detector, options)?;
        *out = handle::into_raw(SegfaceVideo { video: Exclusive::new(video) });
        Ok(())
    })
}

/// Frees a video session and sets `*video` to NULL. Accepts NULL and `*video == NULL`.
///
/// # Safety
/// `*video` must be NULL or a live video session not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn segface_video_free(video: *mut *mut SegfaceVideo) {
    free_handle(video)
}

/// Parses the next frame of the stream into `outputs` (as `segface_parse_frame_outputs`).
/// `faces`/`n_faces`: the caller's faces for this frame; NULL and 0: the detector's (run on
/// one frame in `detect_every`, reused in between), or the whole frame without a detector.
///
/// # Safety
/// As `segface_parse_frame_outputs`, with `video` NULL or a live video session.
#[no_mangle]
pub unsafe extern "C" fn segface_video_parse(
    video: *mut SegfaceVideo,
    frame: *const SegfaceFrame,
    faces: *const SegfaceFace,
    n_faces: usize,
    outputs: *const SegfaceOutputs,
) -> SegfaceStatus {
    guarded(|| {
        let video = handle::get(video).ok_or_else(|| null("video"))?;
        let frame = frame.as_ref().ok_or_else(|| null("frame"))?;
        let outputs = outputs.as_ref().ok_or_else(|| null("outputs"))?;
        let faces = faces_arg(faces, n_faces)?;
        video.video.with(|inner| {
            let (parsed, orientation) = frame_arg(frame)?;
            let mut outputs = outputs_arg(outputs)?;
            let given = (n_faces > 0).then_some(faces.as_slice());
            inner.parse(&parsed, orientation, given, &mut outputs).map_err(Failure::from)
        })
    })
}

/// Forgets every face and its history (call it at scene cuts): the next frame stands alone.
///
/// # Safety
/// `video` must be NULL or a live video session.
#[no_mangle]
pub unsafe extern "C" fn segface_video_reset(video: *mut SegfaceVideo) -> SegfaceStatus {
    guarded(|| {
        let video = handle::get(video).ok_or_else(|| null("video"))?;
        video.video.with(|inner| {
            inner.reset();
            Ok(())
        })
    })
}

/// The faces the last `segface_video_parse` used, as detections: `x..height` the detector's
/// tight box (or the face's crop box when the caller gave the face), `crop_*` the smoothed crop
/// the model saw (for landmarks: its upright bounding box), `landmarks` the smoothed landmarks
/// or the detector's, `score` the detector's (0 for the caller's faces). Arguments as
/// `segface_detect`.
///
/// # Safety
/// `video` must be NULL or a live video session; `out` NULL or writable for `capacity`
/// elements; `count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn segface_video_faces(
    video: *mut SegfaceVideo,
    out: *mut SegfaceDetection,
    capacity: usize,
    count: *mut usize,
) -> SegfaceStatus {
    guarded(|| {
        let video = handle::get(video).ok_or_else(|| null("video"))?;
        video.video.with(|inner| {
            let faces: Vec<SegfaceDetection> = inner.faces().map(tracked_detection).collect();
            write_detections(faces.into_iter(), out, capacity, count)
        })
    })
}

fn tracked_detection(t: &TrackedFace) -> SegfaceDetection {
    let (d, crop) = t.as_detection();
    SegfaceDetection::new(d.score, d.bbox, crop, d.landmarks)
}
