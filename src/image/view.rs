//! A borrowed, size-checked view of caller pixels.

use crate::error::{Error, ErrorKind, Result};

/// Largest accepted width or height, so that sizes never overflow and a hostile descriptor
/// cannot make us allocate gigabytes.
pub const MAX_IMAGE_DIM: u32 = 16384;

/// Interleaved 8-bit pixel layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum PixelFormat {
    Rgb8 = 0,
    Rgba8 = 1,
    Bgra8 = 2,
}

impl PixelFormat {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 => 3,
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => 4,
        }
    }
    /// Byte offsets of R, G and B within a pixel.
    pub(crate) fn rgb_offsets(self) -> [usize; 3] {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
            PixelFormat::Bgra8 => [2, 1, 0],
        }
    }
}

/// Pixels the caller owns: `height` rows of `width` pixels, rows `stride` bytes apart.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> ImageView<'a> {
    /// Checks that `data` holds the whole image: `stride >= width * bpp` and
    /// `stride * (height - 1) + width * bpp <= data.len()` (the last row may be short).
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::invalid_argument(format!("image size {width}x{height} is empty")));
        }
        if width > MAX_IMAGE_DIM || height > MAX_IMAGE_DIM {
            return Err(Error::new(
                ErrorKind::ImageTooLarge,
                format!("image size {width}x{height} exceeds the limit of {MAX_IMAGE_DIM} per side"),
            ));
        }
        let row_bytes = width as usize * format.bytes_per_pixel();
        if stride < row_bytes {
            return Err(Error::invalid_argument(format!(
                "row stride {stride} is smaller than a row of {width} {format:?} pixels ({row_bytes} bytes)"
            )));
        }
        let needed = stride
            .checked_mul(height as usize - 1)
            .and_then(|v| v.checked_add(row_bytes))
            .ok_or_else(|| Error::invalid_argument("image byte size overflows"))?;
        if data.len() < needed {
            return Err(Error::new(
                ErrorKind::BufferTooSmall,
                format!(
                    "image buffer has {} bytes, a {width}x{height} {format:?} image with stride {stride} needs {needed}",
                    data.len()
                ),
            ));
        }
        Ok(ImageView { data, width, height, stride, format })
    }

    /// A tightly packed RGB8 image.
    pub fn rgb(data: &'a [u8], width: u32, height: u32) -> Result<Self> {
        Self::new(data, width, height, width as usize * 3, PixelFormat::Rgb8)
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The RGB value of pixel `(x, y)`.
    #[inline]
    pub(crate) fn rgb_at(&self, x: usize, y: usize) -> [u8; 3] {
        let at = y * self.stride + x * self.format.bytes_per_pixel();
        let [r, g, b] = self.format.rgb_offsets();
        [self.data[at + r], self.data[at + g], self.data[at + b]]
    }

    /// Pixels `x0..x1` of row `y` as packed RGB8 into `out`.
    pub(crate) fn read_rgb_row(&self, y: usize, x0: usize, x1: usize, out: &mut [u8]) {
        let bpp = self.format.bytes_per_pixel();
        let row = &self.data[y * self.stride + x0 * bpp..y * self.stride + x1 * bpp];
        if self.format == PixelFormat::Rgb8 {
            out.copy_from_slice(row);
            return;
        }
        let [r, g, b] = self.format.rgb_offsets();
        for (px, o) in row.chunks_exact(bpp).zip(out.chunks_exact_mut(3)) {
            o.copy_from_slice(&[px[r], px[g], px[b]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_buffers_and_small_strides() {
        let data = vec![0u8; 10 * 4 * 3];
        assert!(ImageView::new(&data, 10, 3, 40, PixelFormat::Rgba8).is_ok());
        let err = ImageView::new(&data[..119], 10, 3, 40, PixelFormat::Rgba8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
        let err = ImageView::new(&data, 10, 3, 39, PixelFormat::Rgba8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = ImageView::new(&data, 0, 3, 40, PixelFormat::Rgba8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = ImageView::new(&data, 20000, 3, 80000, PixelFormat::Rgba8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImageTooLarge);
    }

    #[test]
    fn last_row_may_be_short_and_channels_are_reordered() {
        // 2x2 BGRA with stride 12 (4 bytes of padding per row); the last row ends at byte 20.
        let mut data = vec![0u8; 20];
        data[0..4].copy_from_slice(&[3, 2, 1, 255]);
        data[16..20].copy_from_slice(&[30, 20, 10, 255]);
        let view = ImageView::new(&data, 2, 2, 12, PixelFormat::Bgra8).unwrap();
        let mut rgb = vec![0u8; 12];
        view.read_rgb_row(0, 0, 2, &mut rgb[..6]);
        view.read_rgb_row(1, 0, 2, &mut rgb[6..]);
        assert_eq!(rgb, vec![1, 2, 3, 0, 0, 0, 0, 0, 0, 10, 20, 30]);
        assert_eq!(view.rgb_at(1, 1), [10, 20, 30]);
    }
}
