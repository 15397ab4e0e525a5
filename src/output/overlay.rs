//! What people look at: a label map drawn in colour over the image, and pixels per class.
//!
//! The palette is indexed like [`crate::runtime::classes::CELEBA_CLASSES`].

/// Overlay colour (RGB) of each class index; indices past the table wrap around.
/// Left/right pairs share a hue with different brightness so symmetric parts read together.
pub const PALETTE: [[u8; 3]; 19] = [
    [0, 0, 0],       // background
    [255, 153, 51],  // neck
    [255, 204, 153], // skin
    [0, 102, 204],   // cloth
    [204, 0, 102],   // l_ear
    [255, 51, 153],  // r_ear
    [102, 51, 0],    // l_brow
    [153, 102, 51],  // r_brow
    [0, 153, 0],     // l_eye
    [102, 255, 102], // r_eye
    [255, 255, 0],   // nose
    [102, 0, 0],     // mouth
    [204, 0, 0],     // l_lip
    [255, 80, 80],   // u_lip
    [128, 0, 255],   // hair
    [0, 255, 255],   // eye_g
    [0, 0, 153],     // hat
    [255, 215, 0],   // ear_r
    [192, 192, 192], // neck_l
];

/// The overlay colour of class `index`.
pub fn palette_color(index: usize) -> [u8; 3] {
    PALETTE[index % PALETTE.len()]
}

/// Blends each non-background pixel of `rgb` (packed RGB8) with its class colour, 50 %.
pub fn overlay(rgb: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = rgb.to_vec();
    for (px, &label) in out.chunks_exact_mut(3).zip(labels) {
        if label != 0 {
            let color = palette_color(label as usize);
            for c in 0..3 {
                px[c] = ((px[c] as u16 + color[c] as u16) / 2) as u8;
            }
        }
    }
    out
}

/// The colour image of a label map (each pixel its class colour), packed RGB8.
pub fn colorize(labels: &[u8]) -> Vec<u8> {
    labels.iter().flat_map(|&l| palette_color(l as usize)).collect()
}

/// Pixels per class index.
pub fn class_counts(labels: &[u8], classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes.max(1)];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts
}
