//! `segface parse`: a photo to a label map, with optional overlay, masks, probabilities and
//! JSON; the whole photo, a given face, or the faces a detector finds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use segface::{ClassSet, ClassSetMask, Face, FaceBox, FaceDetector, Frame, ImageView, LabelMap, Landmarks};
use segface::{Model, Outputs, PlaneMut, SoftMasks};

use crate::fetch::default_model;
use crate::{file_error, image_error, usage, CliResult, BUILT_IN_DETECTOR};

/// Which part of the photo is parsed.
pub(crate) enum Faces {
    WholeImage,
    Given(Face),
    Detect { detector: Option<PathBuf>, min_score: f32, align: bool },
}

/// Masks written beside the label map.
pub(crate) struct ExtraOutputs {
    pub(crate) mask: Option<PathBuf>,
    pub(crate) mask_classes: Option<String>,
    pub(crate) soft: bool,
    pub(crate) probabilities: Option<PathBuf>,
}

/// Ten comma-separated numbers: the 5 landmarks' x, y.
pub(crate) fn parse_landmarks(text: &str) -> Result<Landmarks, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| format!("`{v}` is not a number")))
        .collect::<Result<_, _>>()?;
    if values.len() != 10 {
        return Err(format!("expected 10 numbers (5 points x, y), got {}", values.len()));
    }
    Ok(std::array::from_fn(|i| [values[2 * i], values[2 * i + 1]]))
}

/// Class names or indices, comma-separated, as a set of the model's classes.
fn class_set(text: &str, names: &[String]) -> CliResult<ClassSet> {
    let indices = text.split(',').map(str::trim).map(|item| {
        names
            .iter()
            .position(|n| n == item)
            .or_else(|| item.parse::<usize>().ok().filter(|&i| i < names.len()))
            .ok_or_else(|| usage(format!("`{item}` is not a class of this model ({})", names.join(", "))))
    });
    ClassSet::of(indices.collect::<Result<Vec<_>, _>>()?)
}

/// `x,y,width,height` in pixels.
pub(crate) fn parse_face_box(text: &str) -> Result<FaceBox, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| format!("`{v}` is not a number")))
        .collect::<Result<_, _>>()?;
    match values.as_slice() {
        &[x, y, width, height] => Ok(FaceBox { x, y, width, height }),
        _ => Err(format!("expected x,y,width,height, got `{text}`")),
    }
}

pub(crate) fn load_rgb(path: &Path) -> CliResult<image::RgbImage> {
    let img = image::open(path).map_err(image_error(path))?;
    Ok(img.to_rgb8())
}

pub(crate) fn parse(
    image_path: &Path,
    model: Option<PathBuf>,
    output: &Path,
    overlay: Option<&Path>,
    json: bool,
    faces: Faces,
    extra: ExtraOutputs,
) -> CliResult {
    let model_path = match model {
        Some(m) => m,
        None => default_model()?,
    };
    let model = Model::load(&model_path)?;
    let rgb = load_rgb(image_path)?;
    let (w, h) = rgb.dimensions();
    let view = ImageView::rgb(rgb.as_raw(), w, h)?;
    let mut session = model.session()?;
    let started = Instant::now();
    let frame = Frame::Packed(view);
    let mut detected = Vec::new();
    let faces: Vec<Face> = match faces {
        Faces::WholeImage => Vec::new(),
        Faces::Given(face) => vec![face],
        Faces::Detect { detector, min_score, align } => {
            let detector = match detector {
                Some(path) => FaceDetector::load(&path, FaceDetector::DEFAULT_SIZE),
                None => FaceDetector::load(BUILT_IN_DETECTOR, FaceDetector::DEFAULT_SIZE),
            }?;
            detected = detector.detect(&frame, Default::default(), min_score)?;
            eprintln!("found {} face(s)", detected.len());
            detected
                .iter()
                .map(|d| if align { Face::Landmarks(d.landmarks) } else { Face::Box(d.segface_crop()) })
                .collect()
        }
    };
    let names = &model.info().classes;
    let plane = w as usize * h as usize;
    let mut labels = vec![0u8; plane];
    let mut mask = vec![0u8; if extra.mask.is_some() { plane } else { 0 }];
    let mut probabilities = vec![0u8; if extra.probabilities.is_some() { plane * names.len() } else { 0 }];
    let all_classes = ClassSet::of(0..names.len())?;
    let mut outputs = Outputs {
        labels: Some(PlaneMut { data: &mut labels, stride: w as usize }),
        soft_masks: extra.probabilities.is_some().then(|| SoftMasks {
            classes: all_classes,
            data: &mut probabilities,
            stride: w as usize,
            plane_stride: plane,
        }),
        class_set: match &extra.mask_classes {
            Some(text) if extra.mask.is_some() => Some(ClassSetMask {
                classes: class_set(text, names)?,
                soft: extra.soft,
                data: &mut mask,
                stride: w as usize,
            }),
            _ => None,
        },
    };
    session.parse_frame(&frame, Default::default(), &faces, &mut outputs)?;
    let save_grey = |path: &Path, data: &[u8]| {
        image::GrayImage::from_raw(w, h, data.to_vec())
            .expect("plane size")
            .save(path)
            .map_err(image_error(path))
    };
    if let Some(path) = &extra.mask {
        save_grey(path, &mask)?;
    }
    if let Some(dir) = &extra.probabilities {
        std::fs::create_dir_all(dir).map_err(file_error(dir))?;
        for (i, (name, plane)) in names.iter().zip(probabilities.chunks_exact(plane)).enumerate() {
            save_grey(&dir.join(format!("{i:02}_{name}.png")), plane)?;
        }
    }
    let labels = LabelMap { width: w, height: h, labels };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    image::GrayImage::from_raw(w, h, labels.labels.clone())
        .expect("label map size")
        .save(output)
        .map_err(image_error(output))?;
    if let Some(path) = overlay {
        let blended = segface::overlay(rgb.as_raw(), &labels.labels);
        image::RgbImage::from_raw(w, h, blended)
            .expect("overlay size")
            .save(path)
            .map_err(image_error(path))?;
    }
    let counts = segface::class_counts(&labels.labels, names.len());
    let total = (w as u64 * h as u64) as f64;
    if json {
        let classes: Vec<serde_json::Value> = names
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(i, (name, &n))| {
                serde_json::json!({"index": i, "name": name, "pixels": n, "fraction": n as f64 / total})
            })
            .collect();
        let summary = serde_json::json!({
            "image": image_path.display().to_string(),
            "width": w, "height": h,
            "model": model_path.display().to_string(),
            "resolution": model.info().resolution,
            "elapsed_ms": elapsed_ms,
            "classes": classes,
            "faces": detected.iter().map(|f| serde_json::json!({
                "score": f.score,
                "box": [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height],
                "landmarks": f.landmarks,
            })).collect::<Vec<_>>(),
        });
        println!("{summary:#}");
    } else {
        println!("{} ({w}x{h}) parsed in {elapsed_ms:.0} ms", image_path.display());
        for (i, (name, &n)) in names.iter().zip(&counts).enumerate() {
            if n > 0 {
                println!("{i:>3} {name:<12} {n:>9} px {:>6.2} %", 100.0 * n as f64 / total);
            }
        }
    }
    Ok(())
}
