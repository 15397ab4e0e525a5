//! `ai.segface.FaceDetector`: the RetinaFace detector behind a Java object.

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JByteBuffer, JClass, JFloatArray, JIntArray, JString};
use jni::sys::{jboolean, jfloat, jint, jlong};
use jni::EnvUnowned;

use super::{float_array, free, into_handle, pack_detection, shared, throw, JavaFrame, JniResult};
use crate::FaceDetector;

/// The input size a Java caller asked for: 0 or less means the default.
fn input_size(size: jint) -> usize {
    if size <= 0 {
        FaceDetector::DEFAULT_SIZE
    } else {
        size as usize
    }
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_FaceDetector_nativeLoadPath<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    path: JString<'l>,
    size: jint,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let path = path.try_to_string(env)?;
        into_handle(env, FaceDetector::load(&path, input_size(size)))
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_FaceDetector_nativeLoadBytes<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    bytes: JByteArray<'l>,
    size: jint,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let bytes = env.convert_byte_array(&bytes)?;
        into_handle(env, FaceDetector::load(&bytes, input_size(size)))
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// The faces as packed floats (see `DETECTION_FLOATS`), best first.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: the frame and the threshold
pub extern "system" fn Java_ai_segface_FaceDetector_nativeDetect<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    y: JByteBuffer<'l>,
    u: JByteBuffer<'l>,
    v: JByteBuffer<'l>,
    geometry: JIntArray<'l>,
    mirror: jboolean,
    min_score: jfloat,
) -> JFloatArray<'l> {
    env.with_env(|env| -> JniResult<JFloatArray<'l>> {
        // SAFETY: `handle` came from a load and is live (the Java side zeroes it on close).
        let detector = unsafe { shared::<FaceDetector>(handle, "closed FaceDetector") }?;
        // SAFETY: the Java caller keeps the buffers reachable during the call.
        let frame = unsafe { JavaFrame::read(env, (&y, &u, &v), &geometry, mirror) }?;
        let found = frame.frame().and_then(|(f, orientation)| detector.detect(&f, orientation, min_score));
        match found {
            Ok(faces) => {
                let mut packed = Vec::new();
                for f in &faces {
                    pack_detection(&mut packed, f.score, f.bbox, f.segface_crop(), &f.landmarks);
                }
                float_array(env, &packed)
            }
            Err(e) => {
                throw(env, &e)?;
                float_array(env, &[])
            }
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_FaceDetector_nativeClose<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    // SAFETY: `handle` came from a load; the Java side zeroes its copy under the object lock.
    unsafe { free::<FaceDetector>(handle) }
}
