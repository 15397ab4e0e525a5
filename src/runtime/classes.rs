//! The 19 CelebAMask-HQ classes in SegFace's output order (spec 8.1).
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
