//! Camera frames as phones deliver them: interleaved RGB/RGBA/BGRA, or YUV 4:2:0 in any of its
//! layouts (NV21 from Android's camera, NV12 and I420, or three planes with their own row and
//! pixel strides as in Android's `YUV_420_888`), in sensor orientation.
//!
//! A frame is only read, never copied: [`OrientedFrame`] turns it upright (rotation, mirroring)
//! and converts YUV to RGB pixel by pixel while the resizer reads the rows it needs.

use crate::error::{Error, ErrorKind, Result};
use crate::image::resize::RowSource;
use crate::image::view::{ImageView, MAX_IMAGE_DIM};

/// One plane of a YUV image: sample `(x, y)` is `data[y * row_stride + x * pixel_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub row_stride: usize,
    pub pixel_stride: usize,
}

impl Plane<'_> {
    /// Checks that `width x height` samples fit in `data`.
    fn check(&self, name: &str, width: usize, height: usize) -> Result<()> {
        if self.pixel_stride == 0 || self.row_stride < (width - 1) * self.pixel_stride + 1 {
            return Err(Error::invalid_argument(format!(
                "{name} plane: row stride {} and pixel stride {} cannot hold {width} samples per row",
                self.row_stride, self.pixel_stride
            )));
        }
        let needed = self
            .row_stride
            .checked_mul(height - 1)
            .and_then(|v| v.checked_add((width - 1) * self.pixel_stride + 1))
            .ok_or_else(|| Error::invalid_argument(format!("{name} plane size overflows")))?;
        if self.data.len() < needed {
            return Err(Error::new(
                ErrorKind::BufferTooSmall,
                format!("{name} plane has {} bytes, {width}x{height} samples need {needed}", self.data.len()),
            ));
        }
        Ok(())
    }

    #[inline]
    fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.row_stride + x * self.pixel_stride]
    }
}

/// How YUV values map to RGB: ITU-R BT.601 coefficients, full range (JPEG/JFIF, what Android's
/// camera delivers) or limited "video" range (Y in 16..235, as iOS's `...VideoRange` formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YuvRange {
    #[default]
    Full,
    Limited,
}

/// A camera frame.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    Packed(ImageView<'a>),
    Yuv420 { width: u32, height: u32, y: Plane<'a>, u: Plane<'a>, v: Plane<'a>, range: YuvRange },
}

fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::invalid_argument(format!("frame size {width}x{height} is empty")));
    }
    if width > MAX_IMAGE_DIM || height > MAX_IMAGE_DIM {
        return Err(Error::new(
            ErrorKind::ImageTooLarge,
            format!("frame size {width}x{height} exceeds the limit of {MAX_IMAGE_DIM} per side"),
        ));
    }
    Ok(())
}

impl<'a> Frame<'a> {
    /// YUV 4:2:0 from three planes (chroma at half resolution, rounded up), each with its own
    /// row and pixel stride: Android's `YUV_420_888` as `Image.getPlanes()` gives it.
    pub fn yuv420(
        width: u32,
        height: u32,
        y: Plane<'a>,
        u: Plane<'a>,
        v: Plane<'a>,
        range: YuvRange,
    ) -> Result<Self> {
        check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        y.check("Y", w, h)?;
        u.check("U", cw, ch)?;
        v.check("V", cw, ch)?;
        Ok(Frame::Yuv420 { width, height, y, u, v, range })
    }

    /// NV21 (Android's camera default): a Y plane, then interleaved V, U at half resolution.
    pub fn nv21(
        width: u32,
        height: u32,
        y: &'a [u8],
        y_stride: usize,
        vu: &'a [u8],
        vu_stride: usize,
    ) -> Result<Self> {
        Self::semi_planar(width, height, (y, y_stride), (vu, vu_stride), 1, YuvRange::Full)
    }

    /// NV12: a Y plane, then interleaved U, V at half resolution.
    pub fn nv12(
        width: u32,
        height: u32,
        y: &'a [u8],
        y_stride: usize,
        uv: &'a [u8],
        uv_stride: usize,
        range: YuvRange,
    ) -> Result<Self> {
        Self::semi_planar(width, height, (y, y_stride), (uv, uv_stride), 0, range)
    }

    /// A Y plane and one plane of interleaved chroma pairs whose U sample is at `u_offset`
    /// (0 for NV12's U,V; 1 for NV21's V,U).
    fn semi_planar(
        width: u32,
        height: u32,
        (y, y_stride): (&'a [u8], usize),
        (chroma, chroma_stride): (&'a [u8], usize),
        u_offset: usize,
        range: YuvRange,
    ) -> Result<Self> {
        let plane = |offset: usize| Plane {
            data: chroma.get(offset..).unwrap_or(&[]),
            row_stride: chroma_stride,
            pixel_stride: 2,
        };
        let luma = Plane { data: y, row_stride: y_stride, pixel_stride: 1 };
        Self::yuv420(width, height, luma, plane(u_offset), plane(1 - u_offset), range)
    }

    /// I420 (YUV420p): Y, U and V planes, chroma at half resolution.
    #[allow(clippy::too_many_arguments)]
    pub fn i420(
        width: u32,
        height: u32,
        (y, y_stride): (&'a [u8], usize),
        (u, u_stride): (&'a [u8], usize),
        (v, v_stride): (&'a [u8], usize),
        range: YuvRange,
    ) -> Result<Self> {
        let plane = |data, row_stride| Plane { data, row_stride, pixel_stride: 1 };
        Self::yuv420(width, height, plane(y, y_stride), plane(u, u_stride), plane(v, v_stride), range)
    }

    pub fn width(&self) -> u32 {
        match self {
            Frame::Packed(view) => view.width(),
            Frame::Yuv420 { width, .. } => *width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            Frame::Packed(view) => view.height(),
            Frame::Yuv420 { height, .. } => *height,
        }
    }

    /// The RGB value of pixel `(x, y)` (chroma from the 2x2 block's sample, as libyuv does).
    #[inline]
    fn rgb_at(&self, x: usize, y: usize) -> [u8; 3] {
        match self {
            Frame::Packed(view) => view.rgb_at(x, y),
            Frame::Yuv420 { y: luma, u, v, range, .. } => {
                yuv_to_rgb(luma.at(x, y), u.at(x / 2, y / 2), v.at(x / 2, y / 2), *range)
            }
        }
    }
}

/// BT.601 YUV -> RGB in 16-bit fixed point, rounded and clamped.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8, range: YuvRange) -> [u8; 3] {
    const ONE: i32 = 1 << 16;
    // The BT.601 coefficients times 2^16, rounded: full range 1.402, 0.344136, 0.714136, 1.772;
    // limited range 255/219 for Y, then 1.596027, 0.391762, 0.812968, 2.017232. Constants, as
    // this runs for every pixel read.
    const FULL: [i32; 4] = [91881, 22553, 46802, 116130];
    const LIMITED: [i32; 4] = [104597, 25675, 53279, 132201];
    const LIMITED_Y: i32 = 76309;
    let (y, u, v) = (y as i32, u as i32 - 128, v as i32 - 128);
    let (luma, [r_v, g_u, g_v, b_u]) = match range {
        YuvRange::Full => (y * ONE, FULL),
        YuvRange::Limited => ((y - 16) * LIMITED_Y, LIMITED),
    };
    let clamp = |value: i32| ((value + ONE / 2) >> 16).clamp(0, 255) as u8;
    [clamp(luma + r_v * v), clamp(luma - g_u * u - g_v * v), clamp(luma + b_u * u)]
}

/// Clockwise rotation that turns the frame upright (Android's `ImageInfo.getRotationDegrees`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rotation {
    #[default]
    R0,
    R90,
    R180,
    R270,
}

impl Rotation {
    pub fn from_degrees(degrees: u32) -> Result<Self> {
        match degrees % 360 {
            0 => Ok(Rotation::R0),
            90 => Ok(Rotation::R90),
            180 => Ok(Rotation::R180),
            270 => Ok(Rotation::R270),
            other => {
                Err(Error::invalid_argument(format!("rotation {other} is not a multiple of 90 degrees")))
            }
        }
    }
}

/// How to turn a frame upright: rotate clockwise, then mirror left-right (front cameras).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Orientation {
    pub rotation: Rotation,
    pub mirror: bool,
}

impl Orientation {
    /// The upright size of a `width x height` frame.
    pub fn upright_size(&self, width: usize, height: usize) -> (usize, usize) {
        match self.rotation {
            Rotation::R0 | Rotation::R180 => (width, height),
            Rotation::R90 | Rotation::R270 => (height, width),
        }
    }

    /// The frame pixel shown at upright pixel `(x, y)` of a `width x height` frame.
    #[inline]
    pub fn to_frame(&self, x: usize, y: usize, width: usize, height: usize) -> (usize, usize) {
        let (upright_w, _) = self.upright_size(width, height);
        let x = if self.mirror { upright_w - 1 - x } else { x };
        match self.rotation {
            Rotation::R0 => (x, y),
            Rotation::R90 => (y, height - 1 - x),
            Rotation::R180 => (width - 1 - x, height - 1 - y),
            Rotation::R270 => (width - 1 - y, x),
        }
    }
}

/// A frame seen upright: what the resizer reads.
pub struct OrientedFrame<'a> {
    pub frame: Frame<'a>,
    pub orientation: Orientation,
}

impl RowSource for OrientedFrame<'_> {
    fn width(&self) -> usize {
        self.orientation.upright_size(self.frame.width() as usize, self.frame.height() as usize).0
    }
    fn height(&self) -> usize {
        self.orientation.upright_size(self.frame.width() as usize, self.frame.height() as usize).1
    }
    fn read_row(&self, y: usize, x0: usize, x1: usize, out: &mut [u8]) {
        let (w, h) = (self.frame.width() as usize, self.frame.height() as usize);
        if let (Frame::Packed(view), Orientation { rotation: Rotation::R0, mirror: false }) =
            (&self.frame, self.orientation)
        {
            return view.read_rgb_row(y, x0, x1, out);
        }
        for (x, px) in (x0..x1).zip(out.chunks_exact_mut(3)) {
            let (fx, fy) = self.orientation.to_frame(x, y, w, h);
            px.copy_from_slice(&self.frame.rgb_at(fx, fy));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_primaries_convert_like_bt601() {
        assert_eq!(yuv_to_rgb(128, 128, 128, YuvRange::Full), [128, 128, 128]);
        assert_eq!(yuv_to_rgb(16, 128, 128, YuvRange::Limited), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128, YuvRange::Limited), [255, 255, 255]);
        // Pure red in full-range BT.601: Y 76, U 85, V 255.
        let [r, g, b] = yuv_to_rgb(76, 85, 255, YuvRange::Full);
        assert!(r >= 253 && g <= 2 && b <= 2, "{r} {g} {b}");
    }

    #[test]
    fn rotations_visit_every_frame_pixel_once() {
        let (w, h) = (5, 3);
        for rotation in [Rotation::R0, Rotation::R90, Rotation::R180, Rotation::R270] {
            for mirror in [false, true] {
                let o = Orientation { rotation, mirror };
                let (uw, uh) = o.upright_size(w, h);
                let mut seen = vec![false; w * h];
                for y in 0..uh {
                    for x in 0..uw {
                        let (fx, fy) = o.to_frame(x, y, w, h);
                        assert!(!seen[fy * w + fx]);
                        seen[fy * w + fx] = true;
                    }
                }
                assert!(seen.iter().all(|&s| s));
            }
        }
        // 90 degrees clockwise: the frame's bottom-left corner becomes the upright top-left.
        let o = Orientation { rotation: Rotation::R90, mirror: false };
        assert_eq!(o.to_frame(0, 0, w, h), (0, h - 1));
    }

    #[test]
    fn planes_that_do_not_hold_the_frame_are_refused() {
        let y = vec![0u8; 16 * 8];
        let vu = vec![128u8; 16 * 4 - 1];
        let err = Frame::nv21(16, 8, &y, 16, &vu, 16).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferTooSmall, "{err}");
        assert!(Frame::nv21(16, 8, &y, 16, &y[..16 * 4], 16).is_ok());
        let err = Frame::nv21(16, 8, &y, 8, &y[..64], 16).unwrap_err();
        assert!(err.message().contains("Y plane"), "{err}");
    }
}
