//! JNI shims for the `ai.segface` Java classes (android/segface/src/main/java): thin layers over
//! [`crate::Session`] (`SegFace`), [`crate::video::detector::FaceDetector`] (`FaceDetector`) and
//! [`crate::VideoSession`] (`SegFaceVideo`), compiled into libsegface.so with the `jni` feature.
//!
//! Each Java object holds one native handle, the C ABI's mechanism (`crate::handle`): a
//! session or video session sits in an `Exclusive`, so a second thread is refused rather than
//! racing even where the Java side's `synchronized` is bypassed, and a panic poisons it; the
//! detector is shared. The Java side checks that buffers are direct and turns `close()` into
//! `nativeClose`. Library errors and refusals become `ai.segface.SegFaceException` with the whole
//! message; JNI failures and panics become `RuntimeException` through jni-rs's error policy, so
//! nothing unwinds into the JVM.

mod detector;
mod segface;
mod video;

use jni::objects::{JByteBuffer, JFloatArray, JIntArray};
use jni::sys::{jboolean, jlong};
use jni::{jni_str, Env};

use crate::handle::{self, Exclusive, Refused};
use crate::{ClassSet, ClassSetMask, Error, Face, FaceBox, Frame, Orientation, Outputs, Plane, PlaneMut};
use crate::{Rotation, SoftMasks, YuvRange};

type JniResult<T> = jni::errors::Result<T>;

/// Throws `SegFaceException(message)`; the native method then returns its default value.
fn throw(env: &mut Env, error: &Error) -> JniResult<()> {
    throw_message(env, &error.report())
}

fn throw_message(env: &mut Env, message: &str) -> JniResult<()> {
    env.throw_new(jni_str!("ai/segface/SegFaceException"), jni::strings::JNIString::new(message))
}

/// Hands `value` to Java as a handle, or throws the error and returns 0.
fn into_handle<T>(env: &mut Env, value: Result<T, Error>) -> JniResult<jlong> {
    match value {
        Ok(v) => Ok(handle::into_raw(v) as jlong),
        Err(e) => throw(env, &e).map(|_| 0),
    }
}

/// The shared value behind a live handle; a closed (0) one is an error.
///
/// # Safety
/// `handle` must be 0 or a value `into_handle::<T>` returned and not yet freed (the Java class
/// zeroes its copy when it frees it).
unsafe fn shared<'a, T>(handle: jlong, class: &'static str) -> JniResult<&'a T> {
    handle::get(handle as *const T).ok_or(jni::errors::Error::NullPtr(class))
}

/// Runs `body` on the value behind a live `Exclusive` handle, one call at a time: a busy or
/// poisoned handle throws `SegFaceException` instead.
///
/// # Safety
/// As [`shared`], for an `into_handle::<Exclusive<T>>` handle.
unsafe fn with_exclusive<'local, T, R>(
    env: &mut Env<'local>,
    handle: jlong,
    class: &'static str,
    body: impl FnOnce(&mut Env<'local>, &mut T) -> JniResult<R>,
) -> JniResult<R> {
    let cell = shared::<Exclusive<T>>(handle, class)?;
    match cell.with(|value| Ok::<_, Refused>(body(env, value))) {
        Ok(result) => result,
        Err(refused) => {
            throw_message(env, refused.message())?;
            Err(jni::errors::Error::JavaException)
        }
    }
}

/// A read of the value behind a live `Exclusive` handle; `None` when closed, busy or poisoned.
///
/// # Safety
/// As [`with_exclusive`].
unsafe fn peek<T, R>(handle: jlong, read: impl FnOnce(&T) -> R) -> Option<R> {
    let cell = handle::get(handle as *const Exclusive<T>)?;
    cell.with(|value| Ok::<_, Refused>(read(value))).ok()
}

/// Frees a handle; 0 is a no-op.
///
/// # Safety
/// `handle` must be 0 or from `into_handle::<T>`, freed once (the Java side zeroes its copy
/// under the object lock).
unsafe fn free<T>(handle: jlong) {
    handle::free(handle as *mut T)
}

/// Turns a library result into a Java exception.
fn or_throw(env: &mut Env, result: Result<(), Error>) -> JniResult<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => throw(env, &e),
    }
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

/// The memory span of a direct buffer (empty for null).
fn span(env: &mut Env, buffer: &JByteBuffer) -> JniResult<(usize, usize)> {
    if buffer.is_null() {
        return Ok((0, 0));
    }
    let address = env.get_direct_buffer_address(buffer)? as usize;
    let capacity = env.get_direct_buffer_capacity(buffer)?;
    Ok((address, address.saturating_add(capacity)))
}

/// Output buffers must not share memory with each other or with the frame's planes (two Java
/// buffers can view the same memory, so object identity is not enough).
fn check_disjoint(
    env: &mut Env,
    outputs: &[&JByteBuffer],
    inputs: &[&JByteBuffer],
) -> JniResult<Option<Error>> {
    let outs: Vec<(usize, usize)> = outputs.iter().map(|b| span(env, b)).collect::<JniResult<_>>()?;
    let ins: Vec<(usize, usize)> = inputs.iter().map(|b| span(env, b)).collect::<JniResult<_>>()?;
    let overlap = |a: &(usize, usize), b: &(usize, usize)| a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1;
    for (i, a) in outs.iter().enumerate() {
        if outs[i + 1..].iter().chain(&ins).any(|b| overlap(a, b)) {
            return Ok(Some(Error::invalid_argument(
                "output buffers must not share memory with each other or the frame",
            )));
        }
    }
    Ok(None)
}

/// A `YUV_420_888` frame from Java's `Yuv420Frame`: its planes and `geometry` = {yRowStride,
/// uvRowStride, uvPixelStride, width, height, rotationDegrees}.
struct JavaFrame<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    geometry: [i32; 6],
    mirror: bool,
}

impl<'a> JavaFrame<'a> {
    /// # Safety
    /// The Java caller keeps the buffers reachable during the call.
    unsafe fn read(
        env: &mut Env,
        (y, u, v): (&JByteBuffer, &JByteBuffer, &JByteBuffer),
        geometry: &JIntArray,
        mirror: jboolean,
    ) -> JniResult<Self> {
        let mut g = [0i32; 6];
        if geometry.len(env)? != 6 {
            return Err(jni::errors::Error::JniCall(jni::errors::JniError::InvalidArguments));
        }
        geometry.get_region(env, 0, &mut g)?;
        Ok(JavaFrame {
            y: direct_bytes(env, y)?,
            u: direct_bytes(env, u)?,
            v: direct_bytes(env, v)?,
            geometry: g,
            mirror,
        })
    }

    /// The library's frame and orientation (a bad geometry is the library's error).
    fn frame(&self) -> Result<(Frame<'a>, Orientation), Error> {
        let [y_row, uv_row, uv_pixel, width, height, rotation] = self.geometry;
        if self.geometry.iter().any(|&g| g < 0) {
            return Err(Error::invalid_argument(format!("negative frame geometry {:?}", self.geometry)));
        }
        let plane = |data, row_stride: i32, pixel_stride: i32| Plane {
            data,
            row_stride: row_stride as usize,
            pixel_stride: pixel_stride as usize,
        };
        let frame = Frame::yuv420(
            width as u32,
            height as u32,
            plane(self.y, y_row, 1),
            plane(self.u, uv_row, uv_pixel),
            plane(self.v, uv_row, uv_pixel),
            YuvRange::Full,
        )?;
        let orientation =
            Orientation { rotation: Rotation::from_degrees(rotation as u32)?, mirror: self.mirror };
        Ok((frame, orientation))
    }
}

/// Values per face in the packed `float[]` Java's `FaceRegion`s travel in: kind (0 box,
/// 1 landmarks), then x, y, width, height or the 10 landmark coordinates.
const FACE_FLOATS: usize = 11;

/// Java's packed faces as the library's; `None` for a null array.
fn faces(env: &mut Env, packed: &JFloatArray) -> JniResult<Result<Option<Vec<Face>>, Error>> {
    if packed.is_null() {
        return Ok(Ok(None));
    }
    let n = packed.len(env)?;
    let mut values = vec![0f32; n];
    packed.get_region(env, 0, &mut values)?;
    if n % FACE_FLOATS != 0 {
        return Ok(Err(Error::invalid_argument(format!("{n} face values; {FACE_FLOATS} per face expected"))));
    }
    let parsed: Result<Vec<Face>, Error> = values
        .chunks_exact(FACE_FLOATS)
        .map(|f| match f[0] as i32 {
            0 => Ok(Face::Box(FaceBox { x: f[1], y: f[2], width: f[3], height: f[4] })),
            1 => Ok(Face::Landmarks(std::array::from_fn(|i| [f[1 + 2 * i], f[2 + 2 * i]]))),
            other => Err(Error::invalid_argument(format!("unknown face kind {other}"))),
        })
        .collect();
    Ok(parsed.map(Some))
}

/// Java's `ParseOutputs`: labels, soft masks and a class-set mask (each may be null), with
/// `params` = {softMaskClasses, classSet, classSetSoft}; planes are tightly packed frame-sized.
struct JavaOutputs<'a, 'l> {
    labels: &'a JByteBuffer<'l>,
    soft: &'a JByteBuffer<'l>,
    set: &'a JByteBuffer<'l>,
    params: &'a JIntArray<'l>,
}

impl JavaOutputs<'_, '_> {
    /// The library's outputs for a `width x height` frame.
    ///
    /// # Safety
    /// The buffers are reachable for the call and do not overlap (see `check_disjoint`).
    unsafe fn outputs<'b>(&self, env: &mut Env, width: usize, height: usize) -> JniResult<Outputs<'b>> {
        let mut p = [0i32; 3];
        if self.params.len(env)? != 3 {
            return Err(jni::errors::Error::JniCall(jni::errors::JniError::InvalidArguments));
        }
        self.params.get_region(env, 0, &mut p)?;
        let mut buffer = |b: &JByteBuffer| -> JniResult<Option<&'b mut [u8]>> {
            if b.is_null() {
                Ok(None)
            } else {
                direct_bytes_mut(env, b).map(Some)
            }
        };
        let (labels, soft, set) = (buffer(self.labels)?, buffer(self.soft)?, buffer(self.set)?);
        Ok(Outputs {
            labels: labels.map(|data| PlaneMut { data, stride: width }),
            soft_masks: soft.map(|data| SoftMasks {
                classes: ClassSet(p[0] as u32),
                data,
                stride: width,
                plane_stride: width * height,
            }),
            class_set: set.map(|data| ClassSetMask {
                classes: ClassSet(p[1] as u32),
                soft: p[2] != 0,
                data,
                stride: width,
            }),
        })
    }
}

/// A frame parse from Java, shared by `SegFace` and `SegFaceVideo`: checks that no output
/// shares memory with another buffer, reads the faces (`None` for a null array), the frame and
/// the outputs, runs `parse`, and turns a library error into a Java exception.
///
/// # Safety
/// The Java caller keeps every buffer reachable during the call.
unsafe fn parse_java_frame(
    env: &mut Env,
    planes: (&JByteBuffer, &JByteBuffer, &JByteBuffer),
    geometry: &JIntArray,
    mirror: jboolean,
    packed_faces: &JFloatArray,
    java_outputs: JavaOutputs,
    parse: impl FnOnce(&Frame, Orientation, Option<&[Face]>, &mut Outputs) -> Result<(), Error>,
) -> JniResult<()> {
    let outputs = [java_outputs.labels, java_outputs.soft, java_outputs.set];
    if let Some(e) = check_disjoint(env, &outputs, &[planes.0, planes.1, planes.2])? {
        return throw(env, &e);
    }
    let faces = match faces(env, packed_faces)? {
        Ok(f) => f,
        Err(e) => return throw(env, &e),
    };
    let frame = JavaFrame::read(env, planes, geometry, mirror)?;
    let (w, h) = (frame.geometry[3].max(0) as usize, frame.geometry[4].max(0) as usize);
    // Outputs were checked not to overlap anything.
    let mut outputs = java_outputs.outputs(env, w, h)?;
    let parsed = frame
        .frame()
        .and_then(|(parsed, orientation)| parse(&parsed, orientation, faces.as_deref(), &mut outputs));
    or_throw(env, parsed)
}

/// Values per face in the packed `float[]` detections travel back in: score, box (4), crop
/// (4), landmarks (10).
const DETECTION_FLOATS: usize = 19;

fn pack_detection(out: &mut Vec<f32>, score: f32, tight: FaceBox, crop: FaceBox, landmarks: &[[f32; 2]; 5]) {
    let start = out.len();
    out.push(score);
    out.extend([tight.x, tight.y, tight.width, tight.height]);
    out.extend([crop.x, crop.y, crop.width, crop.height]);
    out.extend(landmarks.iter().flatten());
    debug_assert_eq!(out.len() - start, DETECTION_FLOATS);
}

fn float_array<'l>(env: &mut Env<'l>, values: &[f32]) -> JniResult<JFloatArray<'l>> {
    let array = JFloatArray::new(env, values.len())?;
    array.set_region(env, 0, values)?;
    Ok(array)
}
