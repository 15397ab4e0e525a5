//! Where a face is in an upright frame: a box, or the 5 landmarks a detector reports.

use crate::error::{Error, Result};
use crate::image::resize::SourceBox;

/// Left eye, right eye, nose tip, left and right mouth corners (as seen in the image), in upright
/// frame pixels.
pub type Landmarks = [[f32; 2]; 5];

/// Where the face is, in upright frame pixels (after rotation and mirroring): the box the model
/// sees, stretched to its square input. Make it square and include hair and neck (about 1.6x the
/// detector's tight face box) to match the aligned crops SegFace was trained on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl FaceBox {
    /// The part of the box inside a `width x height` upright image; an error if none is.
    pub fn clip(&self, width: usize, height: usize) -> Result<SourceBox> {
        let FaceBox { x, y, width: bw, height: bh } = *self;
        if ![x, y, bw, bh].iter().all(|v| v.is_finite()) || bw <= 0.0 || bh <= 0.0 {
            return Err(Error::invalid_argument(format!("face box {self:?} is not a box")));
        }
        let area = SourceBox {
            x0: (x as f64).max(0.0),
            y0: (y as f64).max(0.0),
            x1: ((x + bw) as f64).min(width as f64),
            y1: ((y + bh) as f64).min(height as f64),
        };
        if area.x1 - area.x0 < 1.0 || area.y1 - area.y0 < 1.0 {
            return Err(Error::invalid_argument(format!(
                "face box {self:?} lies outside the {width}x{height} upright frame"
            )));
        }
        Ok(area)
    }
}

/// Where a face is, in upright frame pixels: a box the model sees stretched to its square input,
/// or 5 landmarks for a similarity-aligned crop like SegFace's training images (turned so the
/// eyes are level, as docs/camera.md describes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Face {
    Box(FaceBox),
    Landmarks(Landmarks),
}

impl From<FaceBox> for Face {
    fn from(b: FaceBox) -> Self {
        Face::Box(b)
    }
}
