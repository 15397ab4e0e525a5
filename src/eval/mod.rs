//! Scoring with the reference's protocol (feature `eval`): the three face-parsing datasets in
//! their published layouts and official splits, and the segmentation metrics summed over a
//! whole split (spec sections 8 and 10).

pub(crate) mod datasets;
pub(crate) mod metrics;

pub use datasets::{
    helen_crop_box, lapa_five_points, read_label_png, resize_nearest, Dataset, DatasetKind, Labels, Prepared,
    Sample, Split, CELEBA_PART_SUFFIXES, HELEN_CLASSES, HELEN_GROUPS, LAPA_CLASSES, LAPA_LANDMARKS,
};
pub use metrics::{ClassScore, ConfusionMatrix, Scores, IGNORE_LABEL};
