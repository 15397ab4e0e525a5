//! Similarity-aligned face crops from 5 landmarks.
//!
//! SegFace was trained on CelebAMask-HQ, whose images are CelebA-HQ crops: squares placed by a
//! similarity transform of the eye and mouth positions (Karras et al., 2018). Given the same 5
//! points a detector reports (left eye, right eye, nose tip, left and right mouth corners), we
//! place the same square: centred a tenth of the eye-to-mouth vector below the eyes' midpoint,
//! turned so the eyes lie level, with a half-side of max(2 x eye distance, 1.8 x eye-to-mouth
//! distance). A tilted head is then straightened before the model sees it, as in training.
//!
//! The crop is sampled bilinearly (several samples per output pixel when the square is larger
//! than the model input, so a big face is averaged rather than aliased); samples that fall outside
//! the frame repeat its edge pixels. Labels go back through the inverse transform.

use crate::error::{Error, Result};
use crate::image::face::{FaceBox, Landmarks};
use crate::image::resize::RowSource;
use crate::ops::kernels::bilinear::lerp;

/// Landmarks of a `width x height` image moved onto the R x R image the whole image is resized
/// to (as LaPa's alignment points are).
#[cfg(feature = "eval")]
pub fn resized_landmarks(points: &Landmarks, width: usize, height: usize, resolution: usize) -> Landmarks {
    let scale = [resolution as f32 / width as f32, resolution as f32 / height as f32];
    points.map(|[x, y]| [x * scale[0], y * scale[1]])
}

/// The most samples per axis averaged into one model pixel (a 16x downscale still averages 64).
const MAX_SAMPLES_PER_AXIS: usize = 8;

/// A square of the upright frame, possibly turned: model pixel coordinates (u, v) in 0..=R map
/// to `origin + u / R * x_edge + v / R * y_edge` (x_edge and y_edge are perpendicular and of
/// equal length, the side).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlignedSquare {
    pub origin: [f32; 2],
    pub x_edge: [f32; 2],
    pub y_edge: [f32; 2],
}

/// Quarter turn that takes image x towards image y (clockwise on screen, y pointing down).
fn quarter_turn(v: [f32; 2]) -> [f32; 2] {
    [-v[1], v[0]]
}

fn length(v: [f32; 2]) -> f32 {
    v[0].hypot(v[1])
}

impl AlignedSquare {
    /// The CelebA-HQ square for these landmarks.
    pub fn from_landmarks(points: &Landmarks) -> Result<Self> {
        if !points.iter().flatten().all(|v| v.is_finite()) {
            return Err(Error::invalid_argument(format!("landmarks {points:?} are not all finite")));
        }
        let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        let [left_eye, right_eye, _nose, left_mouth, right_mouth] = *points;
        let eyes = mid(left_eye, right_eye);
        let mouth = mid(left_mouth, right_mouth);
        let eye_to_eye = [right_eye[0] - left_eye[0], right_eye[1] - left_eye[1]];
        let eye_to_mouth = [mouth[0] - eyes[0], mouth[1] - eyes[1]];
        // The square's x axis: along the eyes, corrected by the turned eye-to-mouth direction,
        // which keeps it level when the eye points are noisy.
        let turned = quarter_turn(eye_to_mouth);
        let axis = [eye_to_eye[0] - turned[0], eye_to_eye[1] - turned[1]];
        let axis_len = length(axis);
        let half_side = (2.0 * length(eye_to_eye)).max(1.8 * length(eye_to_mouth));
        if !(axis_len >= 1e-3 && half_side >= 1.0) {
            return Err(Error::invalid_argument(format!(
                "landmarks {points:?} are too close together to place a face"
            )));
        }
        let x = [axis[0] / axis_len * half_side, axis[1] / axis_len * half_side];
        let y = quarter_turn(x);
        let centre = [eyes[0] + 0.1 * eye_to_mouth[0], eyes[1] + 0.1 * eye_to_mouth[1]];
        Ok(AlignedSquare {
            origin: [centre[0] - x[0] - y[0], centre[1] - x[1] - y[1]],
            x_edge: [2.0 * x[0], 2.0 * x[1]],
            y_edge: [2.0 * y[0], 2.0 * y[1]],
        })
    }

    /// Side length in frame pixels.
    pub fn side(&self) -> f32 {
        length(self.x_edge)
    }

    /// The frame point of model coordinates (u, v) for a model input of `r` pixels.
    pub fn to_frame(&self, u: f32, v: f32, r: f32) -> [f32; 2] {
        let (a, b) = (u / r, v / r);
        [
            self.origin[0] + a * self.x_edge[0] + b * self.y_edge[0],
            self.origin[1] + a * self.x_edge[1] + b * self.y_edge[1],
        ]
    }

    /// The model coordinates (u, v) of frame point `p`, for a model input of `r` pixels.
    pub fn to_model(&self, p: [f32; 2], r: f32) -> (f32, f32) {
        let d = [p[0] - self.origin[0], p[1] - self.origin[1]];
        let side2 = self.x_edge[0] * self.x_edge[0] + self.x_edge[1] * self.x_edge[1];
        let u = (d[0] * self.x_edge[0] + d[1] * self.x_edge[1]) / side2 * r;
        let v = (d[0] * self.y_edge[0] + d[1] * self.y_edge[1]) / side2 * r;
        (u, v)
    }

    /// The upright box around the (possibly turned) square.
    pub fn bounds(&self) -> FaceBox {
        let corners = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)].map(|(u, v)| self.to_frame(u, v, 1.0));
        let min = |i: usize| corners.iter().map(|c| c[i]).fold(f32::INFINITY, f32::min);
        let max = |i: usize| corners.iter().map(|c| c[i]).fold(f32::NEG_INFINITY, f32::max);
        FaceBox { x: min(0), y: min(1), width: max(0) - min(0), height: max(1) - min(1) }
    }

    /// The upright pixels (columns, rows) the square touches within a `width x height` frame;
    /// an error if it lies wholly outside.
    pub fn pixel_bounds(
        &self,
        width: usize,
        height: usize,
    ) -> Result<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let b = self.bounds();
        let clip = |lo: f32, hi: f32, n: usize| {
            (lo.floor().max(0.0).min(n as f32) as usize)..(hi.ceil().max(0.0).min(n as f32) as usize)
        };
        let (xs, ys) = (clip(b.x, b.x + b.width, width), clip(b.y, b.y + b.height, height));
        if xs.is_empty() || ys.is_empty() {
            return Err(Error::invalid_argument(format!(
                "the aligned face square {self:?} lies outside the {width}x{height} upright frame"
            )));
        }
        Ok((xs, ys))
    }
}

/// Reusable buffers for [`Warper::warp`].
#[derive(Default)]
pub struct Warper {
    /// The upright pixels under the square (clipped to the frame), packed RGB8.
    region: Vec<u8>,
}

impl Warper {
    /// Samples the square of `src` into an `r x r` packed RGB8 image in `dst`.
    pub fn warp(
        &mut self,
        src: &impl RowSource,
        square: &AlignedSquare,
        r: usize,
        dst: &mut Vec<u8>,
    ) -> Result<()> {
        let (w, h) = (src.width(), src.height());
        let (xs, ys) = square.pixel_bounds(w, h)?;
        // One more pixel each side for the bilinear neighbours, still inside the frame.
        let (x0, x1) = (xs.start.saturating_sub(1), (xs.end + 1).min(w));
        let (y0, y1) = (ys.start.saturating_sub(1), (ys.end + 1).min(h));
        let rw = x1 - x0;
        self.region.resize(rw * (y1 - y0) * 3, 0);
        for (y, row) in (y0..y1).zip(self.region.chunks_exact_mut(rw * 3)) {
            src.read_row(y, x0, x1, row);
        }
        let region = &self.region;
        let samples = ((square.side() / r as f32).ceil() as usize).clamp(1, MAX_SAMPLES_PER_AXIS);
        let weight = 1.0 / (samples * samples) as f32;
        // Sample positions clamp to the frame, so they always fall inside the region read.
        let (max_x, max_y) = ((w - 1) as f32, (h - 1) as f32);
        dst.clear();
        dst.resize(r * r * 3, 0);
        let rf = r as f32;
        for (j, out_row) in dst.chunks_exact_mut(r * 3).enumerate() {
            for (i, out) in out_row.chunks_exact_mut(3).enumerate() {
                let mut acc = [0f32; 3];
                for b in 0..samples {
                    let v = j as f32 + (b as f32 + 0.5) / samples as f32;
                    for a in 0..samples {
                        let u = i as f32 + (a as f32 + 0.5) / samples as f32;
                        let p = square.to_frame(u, v, rf);
                        // Pixel centres sit at integer + 0.5.
                        let sx = (p[0] - 0.5).clamp(0.0, max_x);
                        let sy = (p[1] - 0.5).clamp(0.0, max_y);
                        let (lx, ly) = (sx as usize, sy as usize);
                        let (hx, hy) = ((lx + 1).min(w - 1), (ly + 1).min(h - 1));
                        let (fx, fy) = (sx - lx as f32, sy - ly as f32);
                        let at = |x: usize, y: usize| ((y - y0) * rw + (x - x0)) * 3;
                        let (p00, p10, p01, p11) = (at(lx, ly), at(hx, ly), at(lx, hy), at(hx, hy));
                        for (c, acc) in acc.iter_mut().enumerate() {
                            let top = lerp(region[p00 + c] as f32, region[p10 + c] as f32, fx);
                            let bottom = lerp(region[p01 + c] as f32, region[p11 + c] as f32, fx);
                            *acc += lerp(top, bottom, fy);
                        }
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = (a * weight).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::resize::PackedRgb;

    /// An upright face: eyes 40 px apart at y = 100, mouth 50 px below.
    const UPRIGHT: Landmarks = [[80.0, 100.0], [120.0, 100.0], [100.0, 125.0], [85.0, 150.0], [115.0, 150.0]];

    #[test]
    fn an_upright_face_gets_an_axis_aligned_square_below_the_eyes() {
        let s = AlignedSquare::from_landmarks(&UPRIGHT).unwrap();
        // Half-side max(2 * 40, 1.8 * 50) = 90; centre (100, 105).
        assert_eq!(s.origin, [10.0, 15.0]);
        assert_eq!(s.x_edge, [180.0, 0.0]);
        assert_eq!(s.y_edge, [0.0, 180.0]);
    }

    #[test]
    fn a_turned_face_gets_the_same_square_turned() {
        // Turn the landmarks 90 degrees clockwise about the origin: (x, y) -> (-y, x).
        let turned = UPRIGHT.map(|[x, y]| [-y, x]);
        let s = AlignedSquare::from_landmarks(&turned).unwrap();
        let u = AlignedSquare::from_landmarks(&UPRIGHT).unwrap();
        for (a, b) in [(s.x_edge, quarter_turn(u.x_edge)), (s.y_edge, quarter_turn(u.y_edge))] {
            assert!((a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3, "{a:?} vs {b:?}");
        }
        // Model coordinates round-trip through the frame.
        let (u_, v_) = s.to_model(s.to_frame(37.5, 201.25, 256.0), 256.0);
        assert!((u_ - 37.5).abs() < 1e-3 && (v_ - 201.25).abs() < 1e-3);
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        assert!(AlignedSquare::from_landmarks(&[[5.0, 5.0]; 5]).is_err());
        let mut nan = UPRIGHT;
        nan[2][0] = f32::NAN;
        assert!(AlignedSquare::from_landmarks(&nan).is_err());
        let far = UPRIGHT.map(|[x, y]| [x + 1e6, y]);
        let s = AlignedSquare::from_landmarks(&far).unwrap();
        assert!(s.pixel_bounds(640, 480).is_err());
    }

    #[test]
    fn an_axis_aligned_square_at_model_scale_copies_pixels() {
        // A 4x4 gradient image; the square covering it exactly at R = 4 reproduces it.
        let data: Vec<u8> = (0..48).map(|i| (i * 5) as u8).collect();
        let src = PackedRgb { data: &data, width: 4, height: 4 };
        let square = AlignedSquare { origin: [0.0, 0.0], x_edge: [4.0, 0.0], y_edge: [0.0, 4.0] };
        let mut out = Vec::new();
        Warper::default().warp(&src, &square, 4, &mut out).unwrap();
        assert_eq!(out, data);
        // Half size: each output pixel is the mean of a 2x2 block (2 samples per axis).
        let mut half = Vec::new();
        Warper::default().warp(&src, &square, 2, &mut half).unwrap();
        let mean = |x: usize, y: usize, c: usize| {
            let v = |xx: usize, yy: usize| data[(yy * 4 + xx) * 3 + c] as f32;
            ((v(x, y) + v(x + 1, y) + v(x, y + 1) + v(x + 1, y + 1)) / 4.0).round() as u8
        };
        assert_eq!(half[0], mean(0, 0, 0));
        assert_eq!(half[(2 + 1) * 3 + 2], mean(2, 2, 2));
    }
}
