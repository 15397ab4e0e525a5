//! Drawn faces standing in for a dataset: an oval of skin with hair above, eyeglasses, a mouth,
//! a neck and clothes, on a background, each shape with its own colour and a little texture,
//! placed and sized differently per sample. Labels use the CelebAMask-HQ classes. For tests that
//! prove the loop learns, and for timing training on any machine with no dataset.

use crate::error::Result;
use crate::eval::datasets::Prepared;
use crate::training::data::Samples;

pub struct SyntheticFaces {
    pub count: usize,
    pub seed: u64,
}

/// A deterministic value in [0, 1) for (seed, sample, slot).
fn jitter(seed: u64, sample: usize, slot: u64) -> f32 {
    let mut z =
        seed ^ (sample as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ slot.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
}

/// (label, colour) of the parts, drawn in this order (later on top): clothes, neck, skin, hair,
/// eyeglasses and the inner mouth. All are large: a test must learn them in a few dozen steps.
const PARTS: [(u8, [u8; 3]); 6] = [
    (3, [40, 90, 160]),
    (1, [210, 160, 130]),
    (2, [224, 172, 140]),
    (14, [70, 45, 30]),
    (15, [20, 20, 20]),
    (11, [150, 30, 50]),
];

impl Samples for SyntheticFaces {
    fn len(&self) -> usize {
        self.count
    }

    fn get(&self, index: usize, resolution: usize) -> Result<Prepared> {
        let r = resolution as f32;
        let j = |slot: u64| jitter(self.seed, index, slot);
        let (cx, cy) = (r * (0.45 + 0.1 * j(0)), r * (0.42 + 0.06 * j(1)));
        let (rx, ry) = (r * (0.26 + 0.05 * j(2)), r * (0.36 + 0.04 * j(3)));
        let inside = |part: usize, x: f32, y: f32| -> bool {
            let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
            match part {
                0 => y > cy + 0.8 * ry + 0.1 * r,
                1 => (x - cx).abs() < 0.5 * rx && y > cy,
                2 => dx * dx + dy * dy <= 1.0,
                3 => dx * dx + (dy + 0.35) * (dy + 0.35) <= 1.0 && dy < -0.5,
                4 => dx.abs() < 0.8 && (y - (cy - 0.15 * ry)).abs() < 0.06 * r,
                5 => (x - cx).abs() < 0.17 * r && y >= cy + 0.12 * r && y < cy + 0.26 * r,
                _ => false,
            }
        };
        let background =
            [(40.0 + 150.0 * j(5)) as u8, (60.0 + 120.0 * j(6)) as u8, (90.0 + 100.0 * j(7)) as u8];
        let mut rgb = Vec::with_capacity(resolution * resolution * 3);
        let mut labels = Vec::with_capacity(resolution * resolution);
        for y in 0..resolution {
            for x in 0..resolution {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let mut label = 0u8;
                let mut colour = background;
                for (part, &(l, c)) in PARTS.iter().enumerate() {
                    if inside(part, px, py) {
                        label = l;
                        colour = c;
                    }
                }
                // Texture, so colour alone is not a lookup table.
                let noise = ((x * 7 + y * 13 + index * 5) % 17) as i16 - 8;
                rgb.extend(colour.iter().map(|&c| (c as i16 + noise).clamp(0, 255) as u8));
                labels.push(label);
            }
        }
        Ok(Prepared { rgb, labels, face_points: None })
    }
}
