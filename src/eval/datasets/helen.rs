//! Helen: `<root>/{train,test}/<name>_image.jpg` and `<name>_label.png`, with the split's
//! `landmarks.txt` holding per line 136 numbers (68 x, y at twice the image scale) and the name.
//! The validation split is the test split, as in the reference.

use std::collections::HashMap;
use std::path::Path;

use super::{malformed, read_text, LabelSource, Sample, Split};
use crate::error::{Error, Result};

const POINTS: usize = 68;
/// The landmark file's coordinates are at twice the images' scale.
const LANDMARK_SCALE: f32 = 0.5;

/// A landmark line's key: the name without extension and `_image` suffix.
fn key(name: &str) -> &str {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.strip_suffix("_image").unwrap_or(stem)
}

fn read_landmarks(path: &Path) -> Result<HashMap<String, Vec<[f32; 2]>>> {
    let mut all = HashMap::new();
    for (n, line) in read_text(path)?.lines().enumerate() {
        let fields: Vec<&str> =
            line.split(|c: char| c.is_whitespace() || c == ',').filter(|f| !f.is_empty()).collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 2 * POINTS + 1 {
            return Err(malformed(
                path,
                format!("line {} has {} fields, expected 136 numbers and a name", n + 1, fields.len()),
            ));
        }
        let numbers: Vec<f32> = fields[..2 * POINTS]
            .iter()
            .map(|t| {
                t.parse::<f32>()
                    .map_err(|_| malformed(path, format!("line {}: `{t}` is not a number", n + 1)))
            })
            .collect::<Result<_>>()?;
        let points =
            numbers.chunks_exact(2).map(|p| [p[0] * LANDMARK_SCALE, p[1] * LANDMARK_SCALE]).collect();
        all.insert(key(fields[2 * POINTS]).to_string(), points);
    }
    Ok(all)
}

/// The reference's crop (spec 8.3): the landmarks' bounding box, a square of 1.2 x its larger
/// side around its centre, clipped to the image (so possibly not square), in whole pixels
/// `[x0, y0, x1, y1]`. `None` when nothing of it lies inside the image.
pub fn crop_box(points: &[[f32; 2]], width: usize, height: usize) -> Option<[usize; 4]> {
    let (mut min, mut max) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in points {
        for a in 0..2 {
            min[a] = min[a].min(p[a]);
            max[a] = max[a].max(p[a]);
        }
    }
    let half = 0.6 * (max[0] - min[0]).max(max[1] - min[1]);
    let centre = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
    if !(half.is_finite() && centre[0].is_finite() && centre[1].is_finite()) {
        return None;
    }
    let clip = |v: f32, limit: usize| (v.max(0.0) as usize).min(limit);
    let [x0, x1] = [clip(centre[0] - half, width), clip(centre[0] + half, width)];
    let [y0, y1] = [clip(centre[1] - half, height), clip(centre[1] + half, height)];
    (x1 > x0 && y1 > y0).then_some([x0, y0, x1, y1])
}

pub(super) fn list(root: &Path, split: Split) -> Result<Vec<Sample>> {
    let dir = root.join(match split {
        Split::Train => "train",
        Split::Val | Split::Test => "test",
    });
    let landmarks_path = dir.join("landmarks.txt");
    let mut landmarks = read_landmarks(&landmarks_path)?;
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut names = Vec::new();
    for entry in entries {
        let file = entry.map_err(|e| Error::io(dir.display(), e))?.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix("_image.jpg") {
            names.push(name.to_string());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let label = dir.join(format!("{name}_label.png"));
            if !label.is_file() {
                return Err(malformed(&label, "is missing (every image needs its label)"));
            }
            let points = landmarks
                .remove(&name)
                .ok_or_else(|| malformed(&landmarks_path, format!("has no landmarks for `{name}`")))?;
            Ok(Sample {
                image: dir.join(format!("{name}_image.jpg")),
                label: LabelSource::Png(label),
                landmarks: Some(points),
                id: name,
            })
        })
        .collect()
}
