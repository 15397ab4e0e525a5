//! The training model run on any image the way the runtime parses it: the whole image resized to
//! R x R with the same PIL-exact bicubic, ImageNet normalisation, and the logits resampled
//! bilinearly to the image's size before the argmax. So a checkpoint's labels can be compared
//! pixel for pixel with the edge runtime's.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::face_warp::FaceWarps;
use super::model::{Architecture, SegFace};
use crate::convert::weights::Weights;
use crate::error::{Error, Result};
use crate::image::align::resized_landmarks;
use crate::image::preprocess::normalize_into;
use crate::image::resize::BicubicResizer;
use crate::output::resample::{LabelsMut, Logits, Postprocessor};
use crate::runtime::metadata::{IMAGENET_MEAN, IMAGENET_STD};

/// A model built for `weights` (its backbone read off them, see [`Architecture::of_weights`])
/// and loaded with them.
pub fn model_from_weights<B: Backend>(weights: &Weights, device: &B::Device) -> Result<SegFace<B>> {
    let classes = weights.class_tokens();
    if classes == 0 {
        return Err(Error::invalid_model("the weights hold no class tokens: not a SegFace state dict"));
    }
    let mut model = SegFace::new(&Architecture::of_weights(weights)?, classes, device);
    model.load_weights(weights, device)?;
    Ok(model)
}

/// Labels of a packed RGB8 image (`width x height`), at the image's size.
pub fn predict_image<B: Backend>(
    model: &SegFace<B>,
    rgb: &[u8],
    width: usize,
    height: usize,
    resolution: usize,
    device: &B::Device,
) -> Result<Vec<u8>> {
    predict_image_aligned(model, rgb, width, height, resolution, None, device)
}

/// As [`predict_image`], for a LaPa model given the face's 5 landmarks in image pixels (eye
/// centres, nose tip, mouth corners, as seen in the image): the model runs on the face-warped
/// image and its logits are warped back (spec 9).
pub fn predict_image_aligned<B: Backend>(
    model: &SegFace<B>,
    rgb: &[u8],
    width: usize,
    height: usize,
    resolution: usize,
    face_points: Option<[[f32; 2]; 5]>,
    device: &B::Device,
) -> Result<Vec<u8>> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(Error::invalid_argument(format!(
            "{} bytes is not a {width} x {height} RGB image",
            rgb.len()
        )));
    }
    let mut resized = Vec::new();
    BicubicResizer::default().resize_rgb(rgb, width, height, &mut resized, resolution, resolution);
    let mut input = vec![0f32; 3 * resolution * resolution];
    normalize_into(&resized, &IMAGENET_MEAN, &IMAGENET_STD, &mut input);
    let images = Tensor::<B, 4>::from_data(TensorData::new(input, [1, 3, resolution, resolution]), device);
    let warps = face_points
        .map(|points| FaceWarps::new(&[resized_landmarks(&points, width, height, resolution)], resolution))
        .transpose()?;
    let logits = model
        .forward_warped(images, warps.as_ref())
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float logits");
    let mut labels = vec![0u8; width * height];
    Postprocessor::default().labels_from_logits(
        Logits { data: &logits, classes: model.num_classes(), size: resolution },
        LabelsMut { data: &mut labels, width, height, stride: width },
    );
    Ok(labels)
}
