//! JNI shim for `ai.segface.SegFace` (android/segface/src/main/java): a thin layer over
//! [`Model`] and [`Session`], compiled into libsegface.so with the `jni` feature.
//!
//! The Java object holds one native handle (a session, which owns its model). The Java side
//! serialises calls on it (`synchronized`), checks that buffers are direct, and turns `close()`
//! into `nativeClose`. Library errors become `ai.segface.SegFaceException` with the message; JNI
//! failures and panics become `RuntimeException` through jni-rs's error policy, so nothing
//! unwinds into the JVM.

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JByteBuffer, JClass, JObjectArray, JString};
use jni::sys::{jint, jlong};
use jni::{jni_str, Env, EnvUnowned};

use crate::error::Error;
use crate::image_view::{ImageView, PixelFormat};
use crate::model::Model;
use crate::session::Session;

/// What a Java `SegFace` holds: a session, which keeps its model alive and describes it.
type Handle = Session;

type JniResult<T> = jni::errors::Result<T>;

/// Throws `SegFaceException(message)`; the native method then returns its default value.
fn throw(env: &mut Env, error: &Error) -> JniResult<()> {
    let message = jni::strings::JNIString::new(error.message());
    env.throw_new(jni_str!("ai/segface/SegFaceException"), message)
}

fn load(env: &mut Env, loaded: Result<Model, Error>) -> JniResult<jlong> {
    match loaded.and_then(|model| model.session()) {
        Ok(handle) => Ok(Box::into_raw(Box::new(handle)) as jlong),
        Err(e) => throw(env, &e).map(|_| 0),
    }
}

/// A Java string that may be null.
fn optional_string(env: &mut Env, s: &JString) -> JniResult<Option<String>> {
    if s.is_null() {
        return Ok(None);
    }
    s.try_to_string(env).map(Some)
}

/// # Safety
/// `handle` must be 0 or a value returned by a load function and not yet closed; the Java
/// class guarantees both and that no other call runs on it at the same time.
unsafe fn handle_mut<'a>(handle: jlong) -> Option<&'a mut Handle> {
    (handle as *mut Handle).as_mut()
}

/// Like `handle_mut`, with a closed (0) handle as an error.
///
/// # Safety
/// As `handle_mut`.
unsafe fn live_handle<'a>(handle: jlong) -> JniResult<&'a mut Handle> {
    handle_mut(handle).ok_or(jni::errors::Error::NullPtr("closed SegFace"))
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeLoadPath<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    path: JString<'l>,
    sha256: JString<'l>,
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let path = path.try_to_string(env)?;
        let loaded = match optional_string(env, &sha256)? {
            Some(sha256) => Model::load_verified(path, &sha256),
            None => Model::load(path),
        };
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
) -> jlong {
    env.with_env(|env| -> JniResult<jlong> {
        let bytes = env.convert_byte_array(&bytes)?;
        let loaded = match optional_string(env, &sha256)? {
            Some(sha256) => Model::from_bytes_verified(&bytes, &sha256),
            None => Model::from_bytes(&bytes),
        };
        load(env, loaded)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeClassNames<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JObjectArray<'l, JString<'l>> {
    env.with_env(|env| -> JniResult<JObjectArray<'l, JString<'l>>> {
        // SAFETY: see `handle_mut`.
        let handle = unsafe { live_handle(handle) }?;
        let classes = &handle.model().info().classes;
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
    // SAFETY: see `handle_mut`.
    unsafe { handle_mut(handle) }.map_or(0, |h| h.model().info().resolution as jint)
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
        // SAFETY: see `handle_mut`.
        let handle = unsafe { live_handle(handle) }?;
        let pixels = env.get_direct_buffer_address(&rgba)?;
        let pixels_len = env.get_direct_buffer_capacity(&rgba)?;
        let out = env.get_direct_buffer_address(&labels)?;
        let out_len = env.get_direct_buffer_capacity(&labels)?;
        if width <= 0 || height <= 0 || row_stride <= 0 {
            return throw(
                env,
                &Error::invalid_argument(format!("bad image geometry {width}x{height}, stride {row_stride}")),
            );
        }
        // SAFETY: a direct buffer's address is valid for its capacity while the buffer is
        // reachable, which the Java caller guarantees for the duration of the call; the two
        // buffers are distinct objects (checked on the Java side).
        let (pixels, out) = unsafe {
            (std::slice::from_raw_parts(pixels, pixels_len), std::slice::from_raw_parts_mut(out, out_len))
        };
        let parsed =
            ImageView::new(pixels, width as u32, height as u32, row_stride as usize, PixelFormat::Rgba8)
                .and_then(|view| handle.parse_into(&view, out, width as usize));
        match parsed {
            Ok(()) => Ok(()),
            Err(e) => throw(env, &e),
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_ai_segface_SegFace_nativeClose<'l>(
    _env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    if handle != 0 {
        // SAFETY: `handle` came from `Box::into_raw` in `load`; the Java side zeroes its copy
        // under the object lock, so it is freed once.
        let _ = std::panic::catch_unwind(|| drop(unsafe { Box::from_raw(handle as *mut Handle) }));
    }
}
