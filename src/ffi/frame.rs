//! Image and camera-frame descriptors, and where the faces are, as the safe API's types.

use super::{null, struct_size_at, struct_size_error, Failure, SegfaceStatus};
use crate::{Face, FaceBox, Frame, ImageView, Orientation, PixelFormat, Plane, Rotation, YuvRange};

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

/// `SegfaceFace.kind`: the model sees the box `x, y, width, height`, stretched to its square
/// input (make it square, about 2.2 times the tight face box, to match the training crops).
pub const SEGFACE_FACE_BOX: u32 = 0;
/// `SegfaceFace.kind`: the face is placed by its 5 `landmarks`: a square crop turned so the
/// eyes are level, like SegFace's (CelebA-HQ) training images; the box fields are ignored.
pub const SEGFACE_FACE_LANDMARKS: u32 = 1;

/// The most faces one call parses.
pub const SEGFACE_MAX_FACES: usize = 64;

/// Where a face is, in upright frame pixels (after rotation and mirroring). Set
/// `struct_size = sizeof(SegfaceFace)`. Callers built against 0.1 (the box fields only, 20
/// bytes) keep working: their faces are boxes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SegfaceFace {
    pub struct_size: u32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// `SEGFACE_FACE_BOX` or `SEGFACE_FACE_LANDMARKS`.
    pub kind: u32,
    /// Left eye, right eye, nose tip, left and right mouth corners (as seen in the image), as
    /// x, y pairs; used when `kind` is `SEGFACE_FACE_LANDMARKS`.
    pub landmarks: [f32; 10],
}

/// The first, box-only version of `SegfaceFace`.
#[repr(C)]
#[derive(Clone, Copy)]
struct FaceV1 {
    struct_size: u32,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

/// A face array from C: `n` structs, `faces[0].struct_size` bytes apart.
///
/// # Safety
/// `faces` must be NULL or point to `n` readable structs of that size.
pub(crate) unsafe fn faces_arg(faces: *const SegfaceFace, n: usize) -> Result<Vec<Face>, Failure> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if faces.is_null() {
        return Err(null("faces"));
    }
    if n > SEGFACE_MAX_FACES {
        return Err(Failure(
            SegfaceStatus::ErrInvalidArgument,
            format!("{n} faces; at most {SEGFACE_MAX_FACES} per call"),
        ));
    }
    let stride = struct_size_at(faces) as usize;
    if stride < std::mem::size_of::<FaceV1>() || !stride.is_multiple_of(4) {
        return Err(struct_size_error("SegfaceFace", stride as u32, std::mem::size_of::<FaceV1>()));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let at = (faces as *const u8).add(i * stride);
        let v1 = std::ptr::read_unaligned(at as *const FaceV1);
        if v1.struct_size as usize != stride {
            return Err(Failure(
                SegfaceStatus::ErrInvalidArgument,
                format!("faces[{i}].struct_size is {}, faces[0]'s is {stride}", v1.struct_size),
            ));
        }
        let face_box = FaceBox { x: v1.x, y: v1.y, width: v1.width, height: v1.height };
        if stride < std::mem::size_of::<SegfaceFace>() {
            out.push(Face::Box(face_box));
            continue;
        }
        let full = std::ptr::read_unaligned(at as *const SegfaceFace);
        out.push(match full.kind {
            SEGFACE_FACE_BOX => Face::Box(face_box),
            SEGFACE_FACE_LANDMARKS => {
                let l = full.landmarks;
                Face::Landmarks([[l[0], l[1]], [l[2], l[3]], [l[4], l[5]], [l[6], l[7]], [l[8], l[9]]])
            }
            other => {
                return Err(Failure(
                    SegfaceStatus::ErrInvalidArgument,
                    format!("faces[{i}].kind {other} is unknown"),
                ))
            }
        });
    }
    Ok(out)
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

/// Caller bytes of a plane.
///
/// # Safety
/// `plane.data` must be NULL or readable for `plane.data_len` bytes.
pub(crate) unsafe fn plane_bytes<'a>(plane: &SegfacePlane, name: &str) -> Result<&'a [u8], Failure> {
    if plane.data.is_null() {
        return Err(null(name));
    }
    Ok(std::slice::from_raw_parts(plane.data, plane.data_len))
}

/// A frame descriptor as the safe API's frame and its orientation.
///
/// # Safety
/// Every plane the format uses must be NULL or readable for its `data_len` bytes.
pub(crate) unsafe fn frame_arg<'a>(frame: &'a SegfaceFrame) -> Result<(Frame<'a>, Orientation), Failure> {
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
    Ok((parsed, orientation))
}

pub(crate) fn image_view<'a>(image: &'a SegfaceImage) -> Result<ImageView<'a>, Failure> {
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
