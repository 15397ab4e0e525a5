//! The 19 CelebAMask-HQ classes in SegFace's output order (spec 8.1) and the overlay palette.
//!
//! This order is SegFace's own, not the common face-parsing.PyTorch order: do not mix tables.

/// Class names in output-channel order (the reference's evaluation names).
pub const CELEBA_CLASSES: [&str; 19] = [
    "background",
    "neck",
    "skin",
    "cloth",
    "l_ear",
    "r_ear",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "nose",
    "mouth",
    "l_lip",
    "u_lip",
    "hair",
    "eye_g",
    "hat",
    "ear_r",
    "neck_l",
];

/// What each class means, for people reading a summary.
pub const CELEBA_DESCRIPTIONS: [&str; 19] = [
    "background",
    "neck",
    "face skin",
    "clothing",
    "left ear",
    "right ear",
    "left brow",
    "right brow",
    "left eye",
    "right eye",
    "nose",
    "inner mouth",
    "lower lip",
    "upper lip",
    "hair",
    "eyeglasses",
    "hat",
    "earring",
    "necklace",
];

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
