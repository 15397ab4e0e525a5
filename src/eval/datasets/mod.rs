//! The three face-parsing datasets SegFace trains and evaluates on, read from their real on-disk
//! layouts with their official splits (spec section 8), and turned into what the model sees: an
//! R x R RGB image and its R x R ground-truth label map.
//!
//! - CelebAMask-HQ (19 classes): per-part masks merged in the reference's precedence order.
//! - LaPa (11 classes): label PNGs as they are, 106 landmarks per face.
//! - Helen (11 classes): label PNGs, a crop around the 68 landmarks.
//!
//! Images are resized as the reference evaluates them (PIL bicubic, `resize`), labels with
//! nearest-neighbour sampling at pixel centres (PIL's `NEAREST`). Every missing or malformed file
//! is an error that names it.

mod celebamask_hq;
mod helen;
mod lapa;

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::image::resize::{BicubicResizer, PackedRgb, SourceBox};
use crate::runtime::classes::CELEBA_CLASSES;

pub use celebamask_hq::CELEBA_PART_SUFFIXES;
pub use helen::crop_box as helen_crop_box;
pub use lapa::{lapa_five_points, LAPA_LANDMARKS};

/// LaPa's 11 classes in output order (spec 8.2).
pub const LAPA_CLASSES: [&str; 11] =
    ["background", "face_lr_rr", "lb", "rb", "le", "re", "nose", "ul", "im", "ll", "hair"];
/// Helen's 11 classes in output order (spec 8.3).
pub const HELEN_CLASSES: [&str; 11] =
    ["bg", "face", "lb", "rb", "le", "re", "nose", "ulip", "imouth", "llip", "hair"];
/// Helen's merged groups (logged, not part of the mean F1): eyes, brows, mouth, overall.
pub const HELEN_GROUPS: [(&str, &[usize]); 4] =
    [("eyes", &[4, 5]), ("brows", &[2, 3]), ("mouth", &[7, 8, 9]), ("overall", &[2, 3, 4, 5, 6, 7, 8, 9])];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    CelebAMaskHq,
    LaPa,
    Helen,
}

impl std::str::FromStr for DatasetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "celebamask-hq" => Ok(DatasetKind::CelebAMaskHq),
            "lapa" => Ok(DatasetKind::LaPa),
            "helen" => Ok(DatasetKind::Helen),
            other => {
                Err(Error::invalid_argument(format!("dataset `{other}`: use celebamask-hq, lapa or helen")))
            }
        }
    }
}

impl DatasetKind {
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            DatasetKind::CelebAMaskHq => &CELEBA_CLASSES,
            DatasetKind::LaPa => &LAPA_CLASSES,
            DatasetKind::Helen => &HELEN_CLASSES,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(Error::invalid_argument(format!("split `{other}`: use train, val or test"))),
        }
    }
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// Where a sample's ground truth comes from.
#[derive(Clone, Debug, PartialEq)]
enum LabelSource {
    /// CelebAMask-HQ: the part masks of image `id` under the annotation folder.
    CelebAParts { annotations: PathBuf, id: usize },
    /// A label PNG whose grey values are the classes.
    Png(PathBuf),
}

/// One image of a dataset split.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The name predictions are stored under (`<id>.png`).
    pub id: String,
    pub image: PathBuf,
    label: LabelSource,
    /// The face's landmarks in image pixels (LaPa: 106, Helen: 68 already scaled by 0.5).
    pub landmarks: Option<Vec<[f32; 2]>>,
}

/// A label map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    pub width: usize,
    pub height: usize,
    pub labels: Vec<u8>,
}

/// What the model sees for one sample, and what it is scored against, both R x R.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub rgb: Vec<u8>,
    pub labels: Vec<u8>,
    /// LaPa only: the 5 alignment points (spec 8.2) in pixels of the R x R image, for the LaPa
    /// model's face warp.
    pub face_points: Option<[[f32; 2]; 5]>,
}

/// A dataset split, listed (files are read sample by sample).
pub struct Dataset {
    pub kind: DatasetKind,
    pub split: Split,
    samples: Vec<Sample>,
}

pub(crate) fn malformed(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("{}: {what}", path.display()))
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))
}

pub(crate) fn open_image(path: &Path) -> Result<image::DynamicImage> {
    let reader = image::ImageReader::open(path).map_err(|e| Error::io(path.display(), e))?;
    let reader = reader.with_guessed_format().map_err(|e| Error::io(path.display(), e))?;
    reader.decode().map_err(|e| Error::new(ErrorKind::InvalidImage, format!("{}: {e}", path.display())))
}

/// A grey label PNG whose values must be below `classes`; an error names the file.
pub fn read_label_png(path: &Path, classes: usize) -> Result<Labels> {
    let grey = open_image(path)?.to_luma8();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    let labels = grey.into_raw();
    if let Some(bad) = labels.iter().find(|&&v| v as usize >= classes) {
        return Err(malformed(path, format!("label value {bad} is not one of the {classes} classes")));
    }
    Ok(Labels { width, height, labels })
}

/// Nearest-neighbour resampling of the `area` (integer pixel box) of a label map to `out x out`,
/// sampling at output pixel centres like PIL's `NEAREST`.
pub fn resize_nearest(labels: &Labels, area: [usize; 4], out: usize) -> Vec<u8> {
    let [x0, y0, x1, y1] = area;
    let (w, h) = (x1 - x0, y1 - y0);
    let pick = |i: usize, n: usize| (((i as f64 + 0.5) * n as f64 / out as f64) as usize).min(n - 1);
    let columns: Vec<usize> = (0..out).map(|x| x0 + pick(x, w)).collect();
    let mut resized = Vec::with_capacity(out * out);
    for y in 0..out {
        let row = &labels.labels[(y0 + pick(y, h)) * labels.width..];
        resized.extend(columns.iter().map(|&x| row[x]));
    }
    resized
}

impl Dataset {
    /// Lists the `split` of the dataset at `root` (the folder holding `CelebA-HQ-img` etc. for
    /// CelebAMask-HQ, the `LaPa` folder, the `helen` folder).
    pub fn open(kind: DatasetKind, root: &Path, split: Split) -> Result<Dataset> {
        let samples = match kind {
            DatasetKind::CelebAMaskHq => celebamask_hq::list(root, split)?,
            DatasetKind::LaPa => lapa::list(root, split)?,
            DatasetKind::Helen => helen::list(root, split)?,
        };
        Ok(Dataset { kind, split, samples })
    }

    pub fn classes(&self) -> &'static [&'static str] {
        self.kind.classes()
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The sample's ground truth at its stored size (512 x 512 for CelebAMask-HQ).
    pub fn labels(&self, sample: &Sample) -> Result<Labels> {
        match &sample.label {
            LabelSource::CelebAParts { annotations, id } => celebamask_hq::merged_labels(annotations, *id),
            LabelSource::Png(path) => read_label_png(path, self.classes().len()),
        }
    }

    /// The R x R image and labels of `sample`, prepared as the reference evaluates it: the whole
    /// image (CelebAMask-HQ, LaPa) or the landmark crop (Helen), resized to R.
    pub fn prepare(&self, sample: &Sample, resolution: usize) -> Result<Prepared> {
        let rgb = open_image(&sample.image)?.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let labels = self.labels(sample)?;
        let area = match self.kind {
            DatasetKind::Helen => {
                let points = sample.landmarks.as_deref().unwrap_or_default();
                helen::crop_box(points, w, h)
                    .ok_or_else(|| malformed(&sample.image, "its landmarks leave no crop inside the image"))?
            }
            _ => [0, 0, w, h],
        };
        // The image and its labels must cover the same pixels, except CelebAMask-HQ's masks,
        // which are drawn at 512 x 512 for 1024 x 1024 images (both cover the whole face).
        let label_area = if self.kind == DatasetKind::CelebAMaskHq {
            [0, 0, labels.width, labels.height]
        } else if (labels.width, labels.height) != (w, h) {
            return Err(malformed(
                &sample.image,
                format!("is {w} x {h} but its labels are {} x {}", labels.width, labels.height),
            ));
        } else {
            area
        };
        let mut resized = Vec::new();
        let source = PackedRgb { data: rgb.as_raw(), width: w, height: h };
        let [x0, y0, x1, y1] = area.map(|v| v as f64);
        BicubicResizer::default().resize_box(
            &source,
            SourceBox { x0, y0, x1, y1 },
            &mut resized,
            resolution,
            resolution,
        );
        let face_points = match self.kind {
            DatasetKind::LaPa => {
                let points = sample.landmarks.as_deref().and_then(lapa_five_points).ok_or_else(|| {
                    malformed(&sample.image, "has no 106 landmarks for the LaPa face alignment")
                })?;
                Some(crate::image::align::resized_landmarks(&points, w, h, resolution))
            }
            _ => None,
        };
        Ok(Prepared { rgb: resized, labels: resize_nearest(&labels, label_area, resolution), face_points })
    }
}
