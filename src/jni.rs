//! JNI shim for `ai.segface.SegFace` (android/segface/src/main/java): a thin layer over
//! [`Model`] and [`Session`], compiled into libsegface.so with the `jni` feature.
//!
//! The Java object holds one native handle (a session, which owns its model). The Java side
//! serialises calls on it (`synchronized`), checks that buffers are direct, and turns `close()`
//! into `nativeClose`. Library errors become `ai.segface.SegFaceException` with the message; JNI
//! failures and panics become `RuntimeException` through jni-rs's error policy, so nothing
//! unwinds into the JVM.

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JByteBuffer, JClass, JFloatArray, JObjectArray, JString};
use jni::sys::{jboolean, jint, jlong};
use jni::{jni_str, Env, EnvUnowned};

use crate::error::Error;
use crate::frame::{Face, FaceBox, Frame, FrameOptions, Orientation, Plane, Rotation, YuvRange};
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

/// A direct buffer's bytes.
///
/// # Safety
/// The Java caller keeps the buffer reachable for the duration of the native call.
unsafe fn direct_bytes<'a>(env: &mut Env, buffer: &JByteBuffer) -> JniResult<&'a [u8]> {
    let address = env.get_direct_buffer_address(buffer)?;
    let capacity = env.get_direct_buffer_capacity(buffer)?;
    Ok(std::slice::from_raw_parts(address, capacity))
}

/// A direct buffer's bytes, to write.
///
/// # Safety
/// As `direct_bytes`, and no other slice of the same memory is alive during the call.
unsafe fn direct_bytes_mut<'a>(env: &mut Env, buffer: &JByteBuffer) -> JniResult<&'a mut [u8]> {
    let address = env.get_direct_buffer_address(buffer)?;
    let capacity = env.get_direct_buffer_capacity(buffer)?;
    Ok(std::slice::from_raw_parts_mut(address, capacity))
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java signature: three planes, their geometry, the output
pub extern "system" fn Java_ai_segface_SegFace_nativeParseYuv420<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    y: JByteBuffer<'l>,
    y_row_stride: jint,
    u: JByteBuffer<'l>,
    v: JByteBuffer<'l>,
    uv_row_stride: jint,
    uv_pixel_stride: jint,
    width: jint,
    height: jint,
    rotation_degrees: jint,
    mirror: jboolean,
    face_box: JFloatArray<'l>,
    labels: JByteBuffer<'l>,
) {
    env.with_env(|env| -> JniResult<()> {
        // SAFETY: see `handle_mut`.
        let handle = unsafe { live_handle(handle) }?;
        let face = if face_box.is_null() {
            None
        } else {
            let mut b = [0f32; 4];
            if face_box.len(env)? != 4 {
                return throw(env, &Error::invalid_argument("faceBox must hold x, y, width, height"));
            }
            face_box.get_region(env, 0, &mut b)?;
            Some(FaceBox { x: b[0], y: b[1], width: b[2], height: b[3] })
        };
        let geometry = [y_row_stride, uv_row_stride, uv_pixel_stride, width, height, rotation_degrees];
        if geometry.iter().any(|&g| g < 0) {
            return throw(env, &Error::invalid_argument(format!("negative frame geometry {geometry:?}")));
        }
        // SAFETY: the Java caller keeps the buffers reachable during the call and checks that the
        // label buffer is none of the planes.
        let (y, u, v, out) = unsafe {
            (
                direct_bytes(env, &y)?,
                direct_bytes(env, &u)?,
                direct_bytes(env, &v)?,
                direct_bytes_mut(env, &labels)?,
            )
        };
        let plane = |data, row_stride: jint, pixel_stride: jint| Plane {
            data,
            row_stride: row_stride as usize,
            pixel_stride: pixel_stride as usize,
        };
        let parsed = Rotation::from_degrees(rotation_degrees as u32).and_then(|rotation| {
            let frame = Frame::yuv420(
                width as u32,
                height as u32,
                plane(y, y_row_stride, 1),
                plane(u, uv_row_stride, uv_pixel_stride),
                plane(v, uv_row_stride, uv_pixel_stride),
                YuvRange::Full,
            )?;
            let options =
                FrameOptions { orientation: Orientation { rotation, mirror }, face: face.map(Face::Box) };
            handle.parse_frame_into(&frame, &options, out, width as usize)
        });
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
