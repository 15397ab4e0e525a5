//! Where a face's crop comes from in the upright frame, and how its labels go back.

use std::ops::Range;

use crate::error::Result;
use crate::image::align::AlignedSquare;
use crate::image::face::Face;
use crate::image::frame::OrientedFrame;
use crate::image::resize::{RowSource, SourceBox};

/// Where the model's input comes from in the upright frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Placement {
    /// A box, stretched to the model's square input (PIL-exact bicubic resize).
    Area(SourceBox),
    /// A turned square, and the upright pixels it touches.
    Square { square: AlignedSquare, xs: Range<usize>, ys: Range<usize> },
}

impl Placement {
    pub(crate) fn of(face: &Face, source: &OrientedFrame) -> Result<Self> {
        let (w, h) = (source.width(), source.height());
        match face {
            Face::Box(b) => Ok(Placement::Area(b.clip(w, h)?)),
            Face::Landmarks(points) => {
                let square = AlignedSquare::from_landmarks(points)?;
                let (xs, ys) = square.pixel_bounds(w, h)?;
                Ok(Placement::Square { square, xs, ys })
            }
        }
    }

    /// The placements of `faces`; no faces: the whole upright frame.
    pub(crate) fn of_faces(faces: &[Face], source: &OrientedFrame) -> Result<Vec<Self>> {
        if faces.is_empty() {
            return Ok(vec![Placement::Area(SourceBox::whole(source.width(), source.height()))]);
        }
        faces.iter().map(|f| Placement::of(f, source)).collect()
    }
}
