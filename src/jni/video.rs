//! `ai.segface.SegFaceVideo`: a video session behind a Java object.

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteBuffer, JClass, JFloatArray, JIntArray};
use jni::sys::{jboolean, jfloat, jint, jlong};
use jni::EnvUnowned;

use super::{float_array, free, into_handle, pack_detection, parse_java_frame, peek, shared, with_exclusive};
use super::{JavaOutputs, JniResult};
use crate::handle::Exclusive;
use crate::{FaceDetector, Session, VideoOptions, VideoSession};

/// The name a closed `SegFaceVideo` is reported by.
const CLOSED: &str = "closed SegFaceVideo";

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: model, detector and the options
pub extern "system" fn Java_ai_segface_SegFaceVideo_nativeCreate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    model: jlong,
    detector: jlong,
    smoothing: jfloat,
    detect_every: jint,
    min_score: jfloat,
    max_faces: jint,
    align: jboolean,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        // SAFETY: both handles came from their loads and are live while the Java side holds
        // the objects' locks during the call.
        let model = unsafe { peek(model, |s: &Session| s.model().clone()) };
        let model = model.ok_or(jni::errors::Error::NullPtr(super::segface::CLOSED))?;
        let detector = match detector {
            0 => None,
            // SAFETY: as above.
            d => Some(unsafe { shared::<FaceDetector>(d, "closed FaceDetector") }?.clone()),
        };
        let options = VideoOptions {
            smoothing,
            detect_every: detect_every.max(0) as u32,
            min_score,
            max_faces: max_faces.max(0) as usize,
            align,
            threads: 1,
        };
        into_handle(env, VideoSession::new(&model, detector, options).map(Exclusive::new))
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: the frame, the faces, the outputs
pub extern "system" fn Java_ai_segface_SegFaceVideo_nativeParse<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    y: JByteBuffer<'l>,
    u: JByteBuffer<'l>,
    v: JByteBuffer<'l>,
    geometry: JIntArray<'l>,
    mirror: jboolean,
    packed_faces: JFloatArray<'l>,
    labels: JByteBuffer<'l>,
    soft: JByteBuffer<'l>,
    set: JByteBuffer<'l>,
    params: JIntArray<'l>,
) {
    env.with_env(|env| -> JniResult<()> {
        let outputs = JavaOutputs { labels: &labels, soft: &soft, set: &set, params: &params };
        // SAFETY: `handle` came from `nativeCreate` and is live; the Java caller keeps the
        // buffers reachable during the call.
        unsafe {
            with_exclusive(env, handle, CLOSED, |env, video: &mut VideoSession| {
                parse_java_frame(
                    env,
                    (&y, &u, &v),
                    &geometry,
                    mirror,
                    &packed_faces,
                    outputs,
                    |frame, o, faces, out| video.parse(frame, o, faces, out),
                )
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// The faces of the last frame as packed detections (see `DETECTION_FLOATS`).
#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFaceVideo_nativeFaces<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JFloatArray<'l> {
    env.with_env(|env| -> JniResult<JFloatArray<'l>> {
        // SAFETY: `handle` came from `nativeCreate` and is live.
        unsafe {
            with_exclusive(env, handle, CLOSED, |env, video: &mut VideoSession| {
                let mut packed = Vec::new();
                for t in video.faces() {
                    let (d, crop) = t.as_detection();
                    pack_detection(&mut packed, d.score, d.bbox, crop, &d.landmarks);
                }
                float_array(env, &packed)
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFaceVideo_nativeReset<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|env| -> JniResult<()> {
        // SAFETY: `handle` came from `nativeCreate` and is live.
        unsafe {
            with_exclusive(env, handle, CLOSED, |_, video: &mut VideoSession| {
                video.reset();
                Ok(())
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFaceVideo_nativeClose<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    // SAFETY: `handle` came from `nativeCreate`; the Java side zeroes its copy under the lock.
    unsafe { free::<Exclusive<VideoSession>>(handle) }
}
