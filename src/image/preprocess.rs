//! Image -> model tensor, as the reference evaluates: the whole image resized to R x R with
//! antialiased bicubic exactly as PIL (see `resize`; skipped when already R x R), scaled to
//! [0, 1], normalised per channel, laid out NCHW.

use crate::error::Result;
use crate::image::align::{AlignedSquare, Warper};
use crate::image::frame::{Frame, OrientedFrame};
use crate::image::resize::{BicubicResizer, RowSource, SourceBox};
use crate::image::view::ImageView;

/// Reusable buffers, so a steady stream of same-sized frames allocates nothing here.
#[derive(Default)]
pub struct Preprocessor {
    resized: Vec<u8>,
    resizer: BicubicResizer,
    warper: Warper,
}

impl Preprocessor {
    /// The R x R RGB8 image the model sees for the whole image.
    pub fn resize_rgb(&mut self, image: &ImageView, resolution: usize) -> Result<&[u8]> {
        let source = OrientedFrame { frame: Frame::Packed(*image), orientation: Default::default() };
        let area = SourceBox::whole(source.width(), source.height());
        Ok(self.resize_area(&source, area, resolution))
    }

    /// The R x R RGB8 image the model sees for `area` of an upright source (read in place).
    pub fn resize_area(&mut self, source: &impl RowSource, area: SourceBox, resolution: usize) -> &[u8] {
        self.resizer.resize_box(source, area, &mut self.resized, resolution, resolution);
        &self.resized
    }

    /// The R x R RGB8 image the model sees for a turned square of an upright source.
    pub fn warp(
        &mut self,
        source: &impl RowSource,
        square: &AlignedSquare,
        resolution: usize,
    ) -> Result<&[u8]> {
        self.warper.warp(source, square, resolution, &mut self.resized)?;
        Ok(&self.resized)
    }
}

/// Writes `(rgb / 255 - mean) / std` of an R x R RGB8 image into `out` as (3, R, R).
pub fn normalize_into(rgb: &[u8], mean: &[f32; 3], std: &[f32; 3], out: &mut [f32]) {
    let plane = rgb.len() / 3;
    debug_assert_eq!(out.len(), rgb.len());
    for (p, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            // Same float32 steps as ToTensor then Normalize.
            out[c * plane + p] = (px[c] as f32 / 255.0 - mean[c]) / std[c];
        }
    }
}
