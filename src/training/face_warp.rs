//! The LaPa model's face alignment (spec 9): a similarity transform from the face's 5 landmarks
//! to a template, then a tanh warp (factor 0.8) that keeps the centre linear and compresses the
//! border, sampled with `grid_sample` semantics (bilinear, align_corners = false, zeros outside).
//! The model sees the warped image; its logits are sampled back to the image's own grid before
//! the loss or the argmax.
//!
//! The sampling grids hold constants (they depend on landmarks, not on weights), so each warp is
//! four gathers of the input with fixed bilinear weights: exact, and differentiable with respect
//! to what is sampled on every burn backend.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{Error, Result};

/// The 5-point template (eye centres, nose tip, mouth corners) for a 512 x 512 frame.
pub const TEMPLATE_512: [[f32; 2]; 5] =
    [[196.0, 226.0], [316.0, 226.0], [256.0, 286.0], [220.0, 360.4], [292.0, 360.4]];
/// How much of each half-axis is tanh-compressed (0: a crop, 1: a full tanh warp).
pub const WARP_FACTOR: f32 = 0.8;
/// `arctanh` inputs are clamped to +-(1 - this).
const ARCTANH_CLAMP: f32 = 1e-3;

/// A 2-D similarity (scale, rotation, translation) as the reference's 3 x 3 matrix rows
/// [[a, b, dx], [-b, a, dy], [0, 0, 1]], mapping image pixels to aligned pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub dx: f32,
    pub dy: f32,
}

impl Similarity {
    /// Least-squares similarity taking `from` onto `to` (the reference's closed form).
    pub fn fit(from: &[[f32; 2]; 5], to: &[[f32; 2]; 5]) -> Result<Self> {
        let mean = |p: &[[f32; 2]; 5]| {
            let s = p.iter().fold([0f32; 2], |s, q| [s[0] + q[0], s[1] + q[1]]);
            [s[0] / 5.0, s[1] / 5.0]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut a1, mut c1, mut c2) = (0f32, 0f32, 0f32);
        for (f, t) in from.iter().zip(to) {
            let (fd, td) = ([f[0] - mf[0], f[1] - mf[1]], [t[0] - mt[0], t[1] - mt[1]]);
            a1 += fd[0] * fd[0] + fd[1] * fd[1];
            c1 += td[0] * fd[0] + td[1] * fd[1];
            c2 += td[0] * fd[1] - td[1] * fd[0];
        }
        // The reference divides regardless and gets NaN for coincident landmarks.
        if a1.is_nan() || a1 <= 0.0 || a1.is_infinite() {
            return Err(Error::invalid_argument(format!(
                "face landmarks {from:?} are coincident or not finite: no alignment exists"
            )));
        }
        let (a, b) = (c1 / a1, c2 / a1);
        Ok(Similarity { a, b, dx: mt[0] - a * mf[0] - b * mf[1], dy: mt[1] + b * mf[0] - a * mf[1] })
    }

    /// The alignment of a face with landmarks `points` (pixels of the R x R image) to the
    /// template scaled to R (face scale 1).
    pub fn face_alignment(points: &[[f32; 2]; 5], resolution: usize) -> Result<Self> {
        let side = (resolution - 1) as f32;
        let target = TEMPLATE_512
            .map(|[x, y]| [((x / 256.0 - 1.0) + 1.0) * side / 2.0, ((y / 256.0 - 1.0) + 1.0) * side / 2.0]);
        Self::fit(points, &target)
    }

    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x + self.b * y + self.dx, -self.b * x + self.a * y + self.dy]
    }

    /// The inverse map (aligned pixels to image pixels).
    pub fn inverse(&self) -> Similarity {
        let norm = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / norm, -self.b / norm);
        // x = a' u + b' v + dx', with [a', b'; -b', a'] the inverse of the linear part.
        Similarity { a, b, dx: -(a * self.dx + b * self.dy), dy: -(-b * self.dx + a * self.dy) }
    }
}

/// Normalised coordinate t in [-1, 1] -> its tanh-compressed counterpart (the forward warp).
fn tanh_warp(t: f32) -> f32 {
    let k = WARP_FACTOR;
    if t > 1.0 - k {
        ((t - 1.0 + k) / k).tanh() * k + 1.0 - k
    } else if t < -1.0 + k {
        ((t + 1.0 - k) / k).tanh() * k - 1.0 + k
    } else {
        t
    }
}

/// The inverse of [`tanh_warp`], arctanh clamped short of +-1.
fn inverse_tanh_warp(t: f32) -> f32 {
    let k = WARP_FACTOR;
    let atanh = |v: f32| v.clamp(-1.0 + ARCTANH_CLAMP, 1.0 - ARCTANH_CLAMP).atanh();
    if t > 1.0 - k {
        atanh((t - 1.0 + k) / k) * k + 1.0 - k
    } else if t < -1.0 + k {
        atanh((t + 1.0 - k) / k) * k - 1.0 + k
    } else {
        t
    }
}

/// Pixel -> [-1, 1] -> `warp` -> pixel, per axis, on an R-sized axis (integer pixel indices
/// without +0.5: the reference's half-pixel quirk, kept for parity).
fn through_normalised(p: [f32; 2], resolution: usize, warp: fn(f32) -> f32) -> [f32; 2] {
    let r = resolution as f32;
    p.map(|v| (warp(v / r * 2.0 - 1.0) + 1.0) / 2.0 * r)
}

/// For every pixel of an R x R output, where to sample the R x R input, in input pixels as
/// `grid_sample` with align_corners = false reads a grid built as pixel / R * 2 - 1.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleMap {
    pub resolution: usize,
    /// (x, y) per output pixel, row-major, in the input's pixel-centre coordinates.
    pub at: Vec<[f32; 2]>,
}

impl SampleMap {
    fn build(resolution: usize, source_of: impl Fn([f32; 2]) -> [f32; 2]) -> Self {
        let r = resolution as f32;
        let mut at = Vec::with_capacity(resolution * resolution);
        for y in 0..resolution {
            for x in 0..resolution {
                let [sx, sy] = source_of([x as f32, y as f32]);
                // grid = s / R * 2 - 1, then grid_sample's unnormalisation ((g + 1) R - 1) / 2.
                let g = [sx / r * 2.0 - 1.0, sy / r * 2.0 - 1.0];
                at.push(g.map(|g| ((g + 1.0) * r - 1.0) / 2.0));
            }
        }
        SampleMap { resolution, at }
    }

    /// The model's input: each aligned, warped pixel samples the image.
    pub fn warp(alignment: &Similarity, resolution: usize) -> Self {
        let inverse = alignment.inverse();
        Self::build(resolution, |p| inverse.apply(through_normalised(p, resolution, inverse_tanh_warp)))
    }

    /// The logits back on the image's grid: each image pixel samples the warped output.
    pub fn unwarp(alignment: &Similarity, resolution: usize) -> Self {
        Self::build(resolution, |p| through_normalised(alignment.apply(p), resolution, tanh_warp))
    }

    /// The four bilinear taps of every output pixel: input index and weight, zero weight (and
    /// index 0) for neighbours outside the input, as `grid_sample`'s zero padding.
    fn taps(&self) -> [(Vec<i64>, Vec<f32>); 4] {
        let r = self.resolution as i64;
        let mut taps: [(Vec<i64>, Vec<f32>); 4] = Default::default();
        for [x, y] in &self.at {
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let corners = [
                (0, 0, (1.0 - fx) * (1.0 - fy)),
                (1, 0, fx * (1.0 - fy)),
                (0, 1, (1.0 - fx) * fy),
                (1, 1, fx * fy),
            ];
            for ((dx, dy, w), (index, weight)) in corners.into_iter().zip(taps.iter_mut()) {
                let (cx, cy) = (x0 as i64 + dx, y0 as i64 + dy);
                let inside = (0..r).contains(&cx) && (0..r).contains(&cy) && w.is_finite();
                index.push(if inside { cy * r + cx } else { 0 });
                weight.push(if inside { w } else { 0.0 });
            }
        }
        taps
    }
}

/// Samples each item of `x` (B, C, R, R) through its own map: bilinear, zeros outside.
pub fn resample<B: Backend>(x: Tensor<B, 4>, maps: &[SampleMap]) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    assert_eq!(maps.len(), b, "one sample map per batch item");
    assert!(maps.iter().all(|m| m.resolution == h && h == w), "maps and input are R x R");
    let device = x.device();
    let plane = h * w;
    let flat = x.swap_dims(0, 1).reshape([c, b * plane]);
    let per_item: Vec<_> = maps.iter().map(SampleMap::taps).collect();
    let mut out: Option<Tensor<B, 2>> = None;
    for k in 0..4 {
        let mut index = Vec::with_capacity(b * plane);
        let mut weight = Vec::with_capacity(b * plane);
        for (item, taps) in per_item.iter().enumerate() {
            index.extend(taps[k].0.iter().map(|&i| i + (item * plane) as i64));
            weight.extend_from_slice(&taps[k].1);
        }
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [b * plane]), &device);
        let weight = Tensor::<B, 2>::from_data(TensorData::new(weight, [1, b * plane]), &device);
        let term = flat.clone().select(1, index) * weight;
        out = Some(match out {
            Some(sum) => sum + term,
            None => term,
        });
    }
    out.expect("four taps").reshape([c, b, h, w]).swap_dims(0, 1)
}

/// The forward and inverse maps of a batch of faces.
#[derive(Clone, Debug)]
pub struct FaceWarps {
    pub warp: Vec<SampleMap>,
    pub unwarp: Vec<SampleMap>,
}

impl FaceWarps {
    /// From each face's 5 landmarks in R x R pixels.
    pub fn new(points: &[[[f32; 2]; 5]], resolution: usize) -> Result<Self> {
        let alignments: Vec<Similarity> =
            points.iter().map(|p| Similarity::face_alignment(p, resolution)).collect::<Result<_>>()?;
        Ok(FaceWarps {
            warp: alignments.iter().map(|a| SampleMap::warp(a, resolution)).collect(),
            unwarp: alignments.iter().map(|a| SampleMap::unwarp(a, resolution)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity { a: 0.8, b: 0.3, dx: 12.0, dy: -7.0 };
        let from = TEMPLATE_512;
        let to = from.map(|p| truth.apply(p));
        let fitted = Similarity::fit(&from, &to).unwrap();
        for (x, y) in [(fitted.a, truth.a), (fitted.b, truth.b), (fitted.dx, truth.dx), (fitted.dy, truth.dy)]
        {
            assert!((x - y).abs() < 1e-3, "{fitted:?} vs {truth:?}");
        }
        let back = fitted.inverse().apply(fitted.apply([100.0, 50.0]));
        assert!((back[0] - 100.0).abs() < 1e-3 && (back[1] - 50.0).abs() < 1e-3, "{back:?}");
        assert!(Similarity::fit(&[[5.0, 5.0]; 5], &to).is_err());
    }

    #[test]
    fn the_template_face_aligns_to_itself_at_512() {
        let points = TEMPLATE_512.map(|[x, y]| [x * 511.0 / 512.0, y * 511.0 / 512.0]);
        let s = Similarity::face_alignment(&points, 512).unwrap();
        assert!(
            (s.a - 1.0).abs() < 1e-5 && s.b.abs() < 1e-5 && s.dx.abs() < 1e-3 && s.dy.abs() < 1e-3,
            "{s:?}"
        );
    }

    #[test]
    fn tanh_warp_is_linear_inside_and_inverted_outside() {
        for t in [-0.15f32, 0.0, 0.15] {
            assert_eq!(tanh_warp(t), t);
        }
        for t in [-0.9f32, -0.5, 0.3, 0.7, 0.95] {
            assert!((inverse_tanh_warp(tanh_warp(t)) - t).abs() < 1e-4, "{t}");
            assert!(tanh_warp(t).abs() < t.abs(), "the border is compressed");
        }
    }

    type Cpu = crate::training::Cpu;

    fn identity() -> Similarity {
        Similarity { a: 1.0, b: 0.0, dx: 0.0, dy: 0.0 }
    }

    #[test]
    fn the_linear_centre_samples_half_a_pixel_up_and_left() {
        // The reference builds grids from integer pixel indices but samples with
        // align_corners = false: pixel p reads p - 0.5 (kept for parity).
        let map = SampleMap::warp(&identity(), 64);
        assert_eq!(map.at[32 * 64 + 32], [31.5, 31.5]);
        let back = SampleMap::unwarp(&identity(), 64);
        assert_eq!(back.at[30 * 64 + 34], [33.5, 29.5]);
    }

    fn image(r: usize, value: impl Fn(f32, f32) -> [f32; 2]) -> Tensor<Cpu, 4> {
        let mut data = vec![0f32; 2 * r * r];
        for y in 0..r {
            for x in 0..r {
                let [a, b] = value(x as f32, y as f32);
                data[y * r + x] = a;
                data[r * r + y * r + x] = b;
            }
        }
        Tensor::from_data(TensorData::new(data, [1, 2, r, r]), &Default::default())
    }

    #[test]
    fn resampling_a_ramp_returns_the_sampled_coordinates() {
        // Bilinear sampling of f(x, y) = (x, y) gives back the sampling position wherever all
        // four neighbours are inside; outside neighbours count as zero.
        let r = 48;
        let points = [[14.0, 18.0], [31.0, 16.0], [23.0, 26.0], [16.0, 35.0], [30.0, 34.0]];
        let map = SampleMap::warp(&Similarity::face_alignment(&points, r).unwrap(), r);
        let out = resample(image(r, |x, y| [x, y]), std::slice::from_ref(&map))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let mut checked = 0;
        for (i, [x, y]) in map.at.iter().enumerate() {
            let inside = *x >= 0.0 && *y >= 0.0 && *x <= (r - 1) as f32 && *y <= (r - 1) as f32;
            if inside && x.fract() != 0.0 && y.fract() != 0.0 {
                assert!(
                    (out[i] - x).abs() < 1e-3 && (out[r * r + i] - y).abs() < 1e-3,
                    "pixel {i}: {x}, {y}"
                );
                checked += 1;
            }
            if *x < -1.0 || *y < -1.0 || *x > r as f32 || *y > r as f32 {
                assert_eq!((out[i], out[r * r + i]), (0.0, 0.0), "zero padding at pixel {i}");
            }
        }
        assert!(checked > r * r / 4, "only {checked} pixels inside");
    }

    #[test]
    fn unwarp_undoes_warp_on_the_face() {
        // A smooth image warped and warped back matches itself around the face, up to the two
        // half-pixel shifts and the bilinear blur; an unaligned copy does not.
        let r = 64;
        let smooth = |x: f32, y: f32| [(x / 9.0).sin() + (y / 7.0).cos(), (x + y) / 64.0];
        let points = [[22.0, 26.0], [40.0, 25.0], [31.0, 35.0], [24.0, 44.0], [38.0, 44.0]];
        let warps = FaceWarps::new(&[points], r).unwrap();
        let original = image(r, smooth);
        let round = resample(resample(original.clone(), &warps.warp), &warps.unwarp);
        let warped_only = resample(original.clone(), &warps.warp);
        let centre =
            |t: Tensor<Cpu, 4>| t.slice([0..1, 0..1, 20..44, 20..44]).into_data().to_vec::<f32>().unwrap();
        let (a, b, c) = (centre(original), centre(round), centre(warped_only));
        let mean_diff =
            |u: &[f32], v: &[f32]| u.iter().zip(v).map(|(p, q)| (p - q).abs()).sum::<f32>() / u.len() as f32;
        let (round_trip, unaligned) = (mean_diff(&a, &b), mean_diff(&a, &c));
        assert!(round_trip < 0.1, "round trip differs by {round_trip} on average");
        assert!(
            unaligned > 3.0 * round_trip,
            "warping alone changes as little ({unaligned} vs {round_trip})"
        );
    }
}
