//! LaPa's training augmentation (spec 7): a random affine map of the R x R sample (rotation
//! U(-30, 30) degrees about the centre, scale U(0.5, 3), translation U(-20, 20) pixels, no
//! shear), bicubic for the image, nearest for the labels, zeros outside, with the alignment
//! landmarks moved the same way. No flips: left and right are classes.

use super::data::Samples;
use crate::error::Result;
use crate::eval::datasets::Prepared;
use crate::image::resize::cubic;
use crate::rng::SplitMix64;

/// One draw of the random affine map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub degrees: f64,
    pub scale: f64,
    pub translate: [f64; 2],
}

impl Affine {
    pub const MAX_DEGREES: f64 = 30.0;
    pub const SCALE: (f64, f64) = (0.5, 3.0);
    pub const MAX_TRANSLATE: f64 = 20.0;

    pub(crate) fn draw(rng: &mut SplitMix64) -> Self {
        Affine {
            degrees: rng.uniform(-Self::MAX_DEGREES, Self::MAX_DEGREES),
            scale: rng.uniform(Self::SCALE.0, Self::SCALE.1),
            translate: [
                rng.uniform(-Self::MAX_TRANSLATE, Self::MAX_TRANSLATE),
                rng.uniform(-Self::MAX_TRANSLATE, Self::MAX_TRANSLATE),
            ],
        }
    }

    /// Where a point of the input lands (continuous coordinates, pixel i spans [i, i + 1)).
    pub fn forward(&self, [x, y]: [f64; 2], size: usize) -> [f64; 2] {
        let c = size as f64 / 2.0;
        let (sin, cos) = self.degrees.to_radians().sin_cos();
        let (dx, dy) = (x - c, y - c);
        [
            c + self.translate[0] + self.scale * (cos * dx - sin * dy),
            c + self.translate[1] + self.scale * (sin * dx + cos * dy),
        ]
    }

    /// Where an output point comes from.
    pub fn backward(&self, [x, y]: [f64; 2], size: usize) -> [f64; 2] {
        let c = size as f64 / 2.0;
        let (sin, cos) = self.degrees.to_radians().sin_cos();
        let (dx, dy) = ((x - c - self.translate[0]) / self.scale, (y - c - self.translate[1]) / self.scale);
        [c + cos * dx + sin * dy, c - sin * dx + cos * dy]
    }

    /// The sample seen through this map.
    pub fn apply(&self, sample: &Prepared, size: usize) -> Prepared {
        let mut rgb = vec![0u8; size * size * 3];
        let mut labels = vec![0u8; size * size];
        for y in 0..size {
            for x in 0..size {
                let [sx, sy] = self.backward([x as f64 + 0.5, y as f64 + 0.5], size);
                if !(0.0..size as f64).contains(&sx) || !(0.0..size as f64).contains(&sy) {
                    continue;
                }
                let out = y * size + x;
                labels[out] = sample.labels[sy as usize * size + sx as usize];
                let pixel = bicubic(&sample.rgb, size, sx - 0.5, sy - 0.5);
                rgb[out * 3..out * 3 + 3].copy_from_slice(&pixel);
            }
        }
        let face_points = sample.face_points.map(|points| {
            points.map(|[x, y]| {
                let [u, v] = self.forward([x as f64, y as f64], size);
                [u as f32, v as f32]
            })
        });
        Prepared { rgb, labels, face_points }
    }
}

/// RGB at pixel-index coordinates (x, y) of a square RGB8 image, edges clamped.
fn bicubic(rgb: &[u8], size: usize, x: f64, y: f64) -> [u8; 3] {
    let (x0, y0) = (x.floor(), y.floor());
    let mut acc = [0f64; 3];
    for j in -1..=2 {
        let wy = cubic(y - (y0 + j as f64));
        let row = (y0 as isize + j).clamp(0, size as isize - 1) as usize;
        for i in -1..=2 {
            let w = wy * cubic(x - (x0 + i as f64));
            let col = (x0 as isize + i).clamp(0, size as isize - 1) as usize;
            let p = &rgb[(row * size + col) * 3..][..3];
            for c in 0..3 {
                acc[c] += w * p[c] as f64;
            }
        }
    }
    acc.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// Training samples augmented with a fresh affine map per sample and epoch (a function of the
/// seed, the epoch and the index, so resumed runs see what uninterrupted ones do). `get`
/// (validation) is untouched.
pub struct RandomAffine<'a, S: Samples + ?Sized> {
    pub samples: &'a S,
    pub seed: u64,
}

impl<S: Samples + ?Sized> Samples for RandomAffine<'_, S> {
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn get(&self, index: usize, resolution: usize) -> Result<Prepared> {
        self.samples.get(index, resolution)
    }
    fn get_for_epoch(&self, index: usize, resolution: usize, epoch: usize) -> Result<Prepared> {
        let sample = self.samples.get_for_epoch(index, resolution, epoch)?;
        let mut rng = SplitMix64::new(self.seed ^ ((epoch as u64) << 32) ^ index as u64);
        Ok(Affine::draw(&mut rng).apply(&sample, resolution))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_inverts_forward() {
        let a = Affine { degrees: 23.0, scale: 1.7, translate: [-6.0, 11.0] };
        let p = [12.25, 40.5];
        let q = a.backward(a.forward(p, 64), 64);
        assert!((q[0] - p[0]).abs() < 1e-9 && (q[1] - p[1]).abs() < 1e-9);
    }

    #[test]
    fn the_identity_map_keeps_the_sample_and_labels_follow_the_image() {
        let size = 16;
        let rgb: Vec<u8> = (0..size * size * 3).map(|i| (i * 7 % 251) as u8).collect();
        let labels: Vec<u8> = (0..size * size).map(|i| (i % 11) as u8).collect();
        let sample =
            Prepared { rgb: rgb.clone(), labels: labels.clone(), face_points: Some([[3.0, 4.0]; 5]) };
        let same = Affine { degrees: 0.0, scale: 1.0, translate: [0.0, 0.0] }.apply(&sample, size);
        assert_eq!((same.rgb, same.labels, same.face_points), (rgb, labels.clone(), Some([[3.0, 4.0]; 5])));
        // A whole-pixel shift moves labels and landmarks together; what enters is zero.
        let moved = Affine { degrees: 0.0, scale: 1.0, translate: [2.0, 0.0] }.apply(&sample, size);
        assert_eq!(moved.labels[5 * size + 7], labels[5 * size + 5]);
        assert_eq!(moved.labels[5 * size], 0);
        assert_eq!(moved.face_points, Some([[5.0, 4.0]; 5]));
        // A quarter turn about the centre.
        let turned = Affine { degrees: 90.0, scale: 1.0, translate: [0.0, 0.0] }.apply(&sample, size);
        let [x, y] = Affine { degrees: 90.0, scale: 1.0, translate: [0.0, 0.0] }.backward([10.5, 3.5], size);
        assert_eq!(turned.labels[3 * size + 10], labels[y as usize * size + x as usize]);
    }

    #[test]
    fn draws_stay_in_the_reference_ranges() {
        let mut rng = SplitMix64::new(5);
        for _ in 0..1000 {
            let a = Affine::draw(&mut rng);
            assert!(a.degrees.abs() <= 30.0 && (0.5..3.0).contains(&a.scale));
            assert!(a.translate.iter().all(|t| t.abs() <= 20.0));
        }
    }

    struct One(Prepared);

    impl Samples for One {
        fn len(&self) -> usize {
            1
        }
        fn get(&self, _: usize, _: usize) -> Result<Prepared> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn each_epoch_draws_anew_and_validation_is_untouched() {
        let size = 24;
        let rgb: Vec<u8> = (0..size * size * 3).map(|i| (i % 256) as u8).collect();
        let sample = Prepared { rgb, labels: vec![1; size * size], face_points: None };
        let source = One(sample.clone());
        let augmented = RandomAffine { samples: &source, seed: 9 };
        assert_eq!(augmented.get(0, size).unwrap(), sample);
        let (a, b) =
            (augmented.get_for_epoch(0, size, 0).unwrap(), augmented.get_for_epoch(0, size, 1).unwrap());
        assert_eq!(a, augmented.get_for_epoch(0, size, 0).unwrap(), "a function of seed, epoch and index");
        assert_ne!(a, b);
        assert_ne!(a, sample);
    }
}
