//! What the training loop reads: any source of (R x R image, R x R labels) pairs, turned into
//! normalised batches on the training device.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::face_warp::FaceWarps;
use crate::error::{Error, Result};
use crate::eval::datasets::{Dataset, Prepared};
use crate::image::preprocess::normalize_into;
use crate::runtime::metadata::{IMAGENET_MEAN, IMAGENET_STD};

/// Samples for training or validation.
pub trait Samples: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample `index` at `resolution`.
    fn get(&self, index: usize, resolution: usize) -> Result<Prepared>;
    /// Sample `index` as training sees it in `epoch` (augmented, where the source augments).
    fn get_for_epoch(&self, index: usize, resolution: usize, _epoch: usize) -> Result<Prepared> {
        self.get(index, resolution)
    }
}

impl Samples for Dataset {
    fn len(&self) -> usize {
        self.samples().len()
    }
    fn get(&self, index: usize, resolution: usize) -> Result<Prepared> {
        self.prepare(&self.samples()[index], resolution)
    }
}

/// The first `limit` samples of another source.
pub struct Limited<'a, S: Samples + ?Sized>(pub &'a S, pub usize);

impl<S: Samples + ?Sized> Samples for Limited<'_, S> {
    fn get_for_epoch(&self, index: usize, resolution: usize, epoch: usize) -> Result<Prepared> {
        self.0.get_for_epoch(index, resolution, epoch)
    }
    fn len(&self) -> usize {
        self.0.len().min(self.1)
    }
    fn get(&self, index: usize, resolution: usize) -> Result<Prepared> {
        self.0.get(index, resolution)
    }
}

/// A batch: (B, 3, R, R) ImageNet-normalised images, (B, R, R) labels, and for LaPa the face
/// warps the model runs through.
pub struct Batch<B: Backend> {
    pub images: Tensor<B, 4>,
    pub labels: Tensor<B, 3, Int>,
    pub warps: Option<FaceWarps>,
}

pub fn batch<B: Backend>(samples: &[Prepared], resolution: usize, device: &B::Device) -> Result<Batch<B>> {
    let plane = resolution * resolution;
    let mut images = vec![0f32; samples.len() * 3 * plane];
    let mut labels = Vec::with_capacity(samples.len() * plane);
    for (sample, out) in samples.iter().zip(images.chunks_exact_mut(3 * plane)) {
        normalize_into(&sample.rgb, &IMAGENET_MEAN, &IMAGENET_STD, out);
        labels.extend(sample.labels.iter().map(|&l| l as i64));
    }
    let points: Vec<[[f32; 2]; 5]> = samples.iter().filter_map(|s| s.face_points).collect();
    let warps = match points.len() {
        0 => None,
        n if n == samples.len() => Some(FaceWarps::new(&points, resolution)?),
        _ => return Err(Error::invalid_argument("a batch mixes aligned (LaPa) and unaligned samples")),
    };
    let n = samples.len();
    Ok(Batch {
        images: Tensor::from_data(TensorData::new(images, [n, 3, resolution, resolution]), device),
        labels: Tensor::from_data(TensorData::new(labels, [n, resolution, resolution]), device),
        warps,
    })
}
