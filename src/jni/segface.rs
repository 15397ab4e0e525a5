//! `ai.segface.SegFace`: a session (which owns its model) behind a Java object.

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JByteBuffer, JClass, JFloatArray, JIntArray, JObjectArray, JString};
use jni::sys::{jboolean, jint, jlong};
use jni::{Env, EnvUnowned};

use super::{direct_bytes, direct_bytes_mut, free, into_handle, or_throw, parse_java_frame, peek, throw};
use super::{with_exclusive, JavaOutputs, JniResult};
use crate::handle::Exclusive;
use crate::{Error, ImageView, LoadOptions, Model, PixelFormat, Precision, Session};

/// What a Java `SegFace` holds: a session, which keeps its model alive and describes it.
pub(super) type Handle = Exclusive<Session>;

/// The name a closed `SegFace` is reported by.
pub(super) const CLOSED: &str = "closed SegFace";

fn load(env: &mut Env, loaded: Result<Model, Error>) -> JniResult<jlong> {
    into_handle(env, loaded.and_then(|model| model.session()).map(Exclusive::new))
}

/// A Java string that may be null.
fn optional_string(env: &mut Env, s: &JString) -> JniResult<Option<String>> {
    if s.is_null() {
        return Ok(None);
    }
    s.try_to_string(env).map(Some)
}

/// Load options from the Java arguments: `precision` is `Precision.ordinal()`.
fn load_options(env: &mut Env, sha256: &JString, precision: jint) -> JniResult<Result<LoadOptions, Error>> {
    let expected_sha256 = optional_string(env, sha256)?;
    Ok(Precision::from_code(precision.into()).map(|precision| LoadOptions {
        expected_sha256,
        precision,
        emulate_f16: false,
    }))
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeLoadPath<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    path: JString<'l>,
    sha256: JString<'l>,
    precision: jint,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let path = path.try_to_string(env)?;
        let loaded = load_options(env, &sha256, precision)?.and_then(|o| Model::load_with(&path, &o));
        load(env, loaded)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeLoadBytes<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    bytes: JByteArray<'l>,
    sha256: JString<'l>,
    precision: jint,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let bytes = env.convert_byte_array(&bytes)?;
        let loaded = load_options(env, &sha256, precision)?.and_then(|o| Model::load_with(&bytes, &o));
        load(env, loaded)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeF16Available<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> jboolean {
    crate::f16_available()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativePrecision<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    // SAFETY: `handle` came from `load`; the Java side zeroes its copy when it closes it.
    unsafe { peek(handle, |s: &Session| s.model().info().precision.code() as jint) }.unwrap_or(0)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeClassNames<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JObjectArray<'l, JString<'l>> {
    env.with_env(|env| -> JniResult<JObjectArray<'l, JString<'l>>> {
        // SAFETY: as for `nativePrecision`.
        let classes = unsafe { peek(handle, |s: &Session| s.model().info().classes.clone()) };
        let classes = classes.ok_or(jni::errors::Error::NullPtr(CLOSED))?;
        let empty = JString::from_str(env, "")?;
        let array = JObjectArray::<JString>::new(env, classes.len(), &empty)?;
        for (i, name) in classes.iter().enumerate() {
            let name = JString::from_str(env, name)?;
            array.set_element(env, i, &name)?;
        }
        Ok(array)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeResolution<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    // SAFETY: as for `nativePrecision`.
    unsafe { peek(handle, |s: &Session| s.model().info().resolution as jint) }.unwrap_or(0)
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: pixels, their geometry, the output
pub extern "system" fn Java_ai_segface_SegFace_nativeParse<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    rgba: JByteBuffer<'l>,
    width: jint,
    height: jint,
    row_stride: jint,
    labels: JByteBuffer<'l>,
) {
    env.with_env(|env| -> JniResult<()> {
        if width <= 0 || height <= 0 || row_stride <= 0 {
            return throw(
                env,
                &Error::invalid_argument(format!("bad image geometry {width}x{height}, stride {row_stride}")),
            );
        }
        // SAFETY: a direct buffer's address is valid for its capacity while the buffer is
        // reachable, which the Java caller guarantees for the duration of the call; the two
        // buffers are distinct objects (checked on the Java side).
        let (pixels, out) = unsafe { (direct_bytes(env, &rgba)?, direct_bytes_mut(env, &labels)?) };
        // SAFETY: as for `nativePrecision`.
        unsafe {
            with_exclusive(env, handle, CLOSED, |env, session: &mut Session| {
                let parsed = ImageView::new(
                    pixels,
                    width as u32,
                    height as u32,
                    row_stride as usize,
                    PixelFormat::Rgba8,
                )
                .and_then(|view| session.parse_into(&view, out, width as usize));
                or_throw(env, parsed)
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: the frame, the faces, the outputs
pub extern "system" fn Java_ai_segface_SegFace_nativeParseFrame<'l>(
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
        // SAFETY: as for `nativePrecision`; the Java caller keeps the buffers reachable during
        // the call.
        unsafe {
            with_exclusive(env, handle, CLOSED, |env, session: &mut Session| {
                parse_java_frame(
                    env,
                    (&y, &u, &v),
                    &geometry,
                    mirror,
                    &packed_faces,
                    outputs,
                    |frame, o, faces, out| session.parse_frame(frame, o, faces.unwrap_or_default(), out),
                )
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeSetThreads<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    threads: jint,
) {
    env.with_env(|env| -> JniResult<()> {
        // A negative count is out of range like any other: usize::MAX is refused by set_threads.
        let threads = usize::try_from(threads).unwrap_or(usize::MAX);
        // SAFETY: as for `nativePrecision`.
        unsafe {
            with_exclusive(env, handle, CLOSED, |env, session: &mut Session| {
                let set = session.set_threads(threads);
                or_throw(env, set)
            })
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeThreads<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jint {
    // SAFETY: as for `nativePrecision`.
    unsafe { peek(handle, |s: &Session| s.threads() as jint) }.unwrap_or(0)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeClose<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    // SAFETY: `handle` came from `load`; the Java side zeroes its copy under the object lock.
    unsafe { free::<Handle>(handle) }
}
