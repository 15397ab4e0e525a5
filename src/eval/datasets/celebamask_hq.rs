//! CelebAMask-HQ: `CelebA-HQ-img/<id>.jpg`, `CelebAMask-HQ-mask-anno/<id / 2000>/<id:05>_<part>.png`,
//! split through `CelebA-HQ-to-CelebA-mapping.txt` and CelebA's `list_eval_partition.txt`.

use std::collections::HashMap;
use std::path::Path;

use super::{malformed, open_image, read_text, LabelSource, Labels, Sample, Split};
use crate::error::Result;

/// The part masks in the reference's merge order: part i writes label i + 1 and later parts
/// overwrite earlier ones, so a necklace wins over everything and the neck loses to everything.
pub const CELEBA_PART_SUFFIXES: [&str; 18] = [
    "neck", "skin", "cloth", "l_ear", "r_ear", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth",
    "l_lip", "u_lip", "hair", "eye_g", "hat", "ear_r", "neck_l",
];

/// The reference merges into a 512 x 512 canvas whatever the masks' size.
const CANVAS: usize = 512;
const IMAGES: &str = "CelebA-HQ-img";
const ANNOTATIONS: &str = "CelebAMask-HQ-mask-anno";
const MAPPING: &str = "CelebA-HQ-to-CelebA-mapping.txt";
const PARTITION: &str = "list_eval_partition.txt";

/// Original CelebA file name -> HQ index, from the mapping file (`idx orig_idx orig_file`, after
/// a header line).
fn read_mapping(path: &Path) -> Result<HashMap<String, usize>> {
    let text = read_text(path)?;
    let mut mapping = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [idx, _, file] = fields[..] else {
            return Err(malformed(path, format!("line {} is not `idx orig_idx orig_file`", n + 1)));
        };
        let idx: usize =
            idx.parse().map_err(|_| malformed(path, format!("line {}: `{idx}` is not an index", n + 1)))?;
        mapping.insert(file.to_string(), idx);
    }
    Ok(mapping)
}

pub(super) fn list(root: &Path, split: Split) -> Result<Vec<Sample>> {
    let mapping = read_mapping(&root.join(MAPPING))?;
    let partition_path = root.join(PARTITION);
    let wanted = match split {
        Split::Train => "0",
        Split::Val => "1",
        Split::Test => "2",
    };
    let mut samples = Vec::new();
    // Samples come in the partition file's order, as in the reference.
    for (n, line) in read_text(&partition_path)?.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [file, part] = fields[..] else {
            return Err(malformed(&partition_path, format!("line {} is not `file partition`", n + 1)));
        };
        if !matches!(part, "0" | "1" | "2") {
            return Err(malformed(
                &partition_path,
                format!("line {}: partition `{part}` is not 0, 1 or 2", n + 1),
            ));
        }
        if part != wanted {
            continue;
        }
        if let Some(&id) = mapping.get(file) {
            samples.push(Sample {
                id: id.to_string(),
                image: root.join(IMAGES).join(format!("{id}.jpg")),
                label: LabelSource::CelebAParts { annotations: root.join(ANNOTATIONS), id },
                landmarks: None,
            });
        }
    }
    Ok(samples)
}

/// The label map of HQ image `id`: its part masks merged into the 512 x 512 canvas. A part
/// without a mask file is absent from the image (most images lack most parts).
pub(super) fn merged_labels(annotations: &Path, id: usize) -> Result<Labels> {
    let folder = annotations.join((id / 2000).to_string());
    let mut labels = vec![0u8; CANVAS * CANVAS];
    for (part, suffix) in CELEBA_PART_SUFFIXES.iter().enumerate() {
        let path = folder.join(format!("{id:05}_{suffix}.png"));
        if !path.is_file() {
            continue;
        }
        let mask = open_image(&path)?.to_rgb8();
        if (mask.width() as usize, mask.height() as usize) != (CANVAS, CANVAS) {
            return Err(malformed(
                &path,
                format!("is {} x {}, expected 512 x 512", mask.width(), mask.height()),
            ));
        }
        for (label, pixel) in labels.iter_mut().zip(mask.pixels()) {
            if pixel.0.iter().any(|&v| v > 0) {
                *label = part as u8 + 1;
            }
        }
    }
    Ok(Labels { width: CANVAS, height: CANVAS, labels })
}
