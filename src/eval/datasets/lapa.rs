//! LaPa: `<root>/{train,val,test}/{images/<name>.jpg, labels/<name>.png, landmarks/<name>.txt}`,
//! where `<root>` is the `LaPa` folder. Each landmark file holds the count 106, then 106 x, y.

use std::path::Path;

use super::{malformed, read_text, LabelSource, Sample, Split};
use crate::error::{Error, Result};

/// Landmarks per LaPa face.
pub const LAPA_LANDMARKS: usize = 106;

/// Reads a landmark file: the point count, then that many x, y pairs.
fn read_landmarks(path: &Path) -> Result<Vec<[f32; 2]>> {
    let text = read_text(path)?;
    let numbers: Vec<f32> = text
        .split_whitespace()
        .map(|t| t.parse::<f32>().map_err(|_| malformed(path, format!("`{t}` is not a number"))))
        .collect::<Result<_>>()?;
    match numbers.split_first() {
        Some((&count, rest)) if count == LAPA_LANDMARKS as f32 && rest.len() == 2 * LAPA_LANDMARKS => {
            Ok(rest.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
        }
        Some((&count, _)) if count != LAPA_LANDMARKS as f32 => {
            Err(malformed(path, format!("starts with {count}, expected {LAPA_LANDMARKS} points")))
        }
        _ => Err(malformed(path, format!("does not hold {LAPA_LANDMARKS} x, y pairs after the count"))),
    }
}

/// The 5 points the LaPa model aligns with (spec 8.2), from the 106: eye centres as the means of
/// points 74 and 104 and of 83 and 105, the nose tip 54, the mouth corners 84 and 90.
pub fn lapa_five_points(points: &[[f32; 2]]) -> Option<[[f32; 2]; 5]> {
    if points.len() != LAPA_LANDMARKS {
        return None;
    }
    let mean =
        |a: usize, b: usize| [(points[a][0] + points[b][0]) / 2.0, (points[a][1] + points[b][1]) / 2.0];
    Some([mean(74, 104), mean(83, 105), points[54], points[84], points[90]])
}

pub(super) fn list(root: &Path, split: Split) -> Result<Vec<Sample>> {
    let dir = root.join(split.name());
    let images = dir.join("images");
    let entries = std::fs::read_dir(&images).map_err(|e| Error::io(images.display(), e))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(images.display(), e))?.path();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")) {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let label = dir.join("labels").join(format!("{name}.png"));
            if !label.is_file() {
                return Err(malformed(&label, "is missing (every image needs its label)"));
            }
            let landmarks = read_landmarks(&dir.join("landmarks").join(format!("{name}.txt")))?;
            Ok(Sample {
                image: images.join(format!("{name}.jpg")),
                label: LabelSource::Png(label),
                landmarks: Some(landmarks),
                id: name,
            })
        })
        .collect()
}
