//! Finding faces in a frame with RetinaFace (MobileNet-0.25 body; boxes, scores and 5
//! landmarks), run through tract like the parser. `models/retinaface_mnet.onnx` is the trained
//! detector (MIT, `models/LICENSE.retinaface`).
//!
//! The upright frame is letterboxed into a square input (its longer side scaled to the input
//! size, read in place like the parser's input), normalised as the detector was trained (BGR,
//! minus the per-channel means 104, 117, 123), and the output anchors are decoded with
//! RetinaFace's prior boxes (steps 8, 16, 32; two sizes per step) and variances (0.1, 0.2), then
//! thinned by non-maximum suppression.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::{Error, ErrorKind, Result};
use crate::image::face::FaceBox;
use crate::image::frame::{Frame, Orientation, OrientedFrame};
use crate::image::resize::{BicubicResizer, RowSource, SourceBox};
use crate::ops::kernels::vector_state::clear_upper_vector_state;
use crate::runtime::load;
use crate::runtime::model::ModelSource;

/// RetinaFace's prior boxes: feature strides and the two anchor sizes of each.
const STEPS: [(usize, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const CENTER_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;
/// The detector's training means, in B, G, R order.
const BGR_MEAN: [f32; 3] = [104.0, 117.0, 123.0];
/// Overlap above which the weaker of two detections is dropped.
const NMS_IOU: f32 = 0.4;

/// A face the detector found, in upright frame pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectedFace {
    pub score: f32,
    /// The tight face box (brows to chin).
    pub bbox: FaceBox,
    /// Left eye, right eye, nose tip, left and right mouth corners (as seen in the image).
    pub landmarks: [[f32; 2]; 5],
}

impl DetectedFace {
    /// The square crop around the face that SegFace's training images show: 2.2 times the
    /// tight box's longer side, centred on it, so hair, ears and neck are in view.
    pub fn segface_crop(&self) -> FaceBox {
        let FaceBox { x, y, width, height } = self.bbox;
        let side = 2.2 * width.max(height);
        let (cx, cy) = (x + width / 2.0, y + height / 2.0);
        FaceBox { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side }
    }
}

/// A loaded face detector for one square input size.
#[derive(Clone)]
pub struct FaceDetector {
    plan: Arc<TypedRunnableModel>,
    size: usize,
    /// Prior boxes (cx, cy, w, h), in input pixels.
    priors: Arc<Vec<[f32; 4]>>,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector").field("size", &self.size).finish()
    }
}

fn priors(size: usize) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for (step, sizes) in STEPS {
        let cells = size.div_ceil(step);
        for i in 0..cells {
            for j in 0..cells {
                for s in sizes {
                    out.push([(j as f32 + 0.5) * step as f32, (i as f32 + 0.5) * step as f32, s, s]);
                }
            }
        }
    }
    out
}

impl FaceDetector {
    /// The input side the detector runs at by default: faces down to about 1/40 of the frame's
    /// longer side are found.
    pub const DEFAULT_SIZE: usize = 640;

    /// Loads a RetinaFace ONNX model (input `(N, 3, H, W)`; outputs `loc`, `conf`, `landmarks`)
    /// from a file or bytes and fixes its input to `size x size` (a multiple of 32).
    pub fn load<'a>(source: impl Into<ModelSource<'a>>, size: usize) -> Result<Self> {
        if !(32..=2048).contains(&size) || !size.is_multiple_of(32) {
            return Err(Error::invalid_argument(format!(
                "detector input size {size} is not a multiple of 32 in 32..=2048"
            )));
        }
        match source.into() {
            ModelSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
                load::guarded("the detector", || Self::build(&bytes, size))
            }
            ModelSource::Bytes(bytes) => load::guarded("the detector", || Self::build(bytes, size)),
        }
    }

    fn build(bytes: &[u8], size: usize) -> Result<Self> {
        let proto = load::decode(bytes, "the detector")?;
        let mut model = load::typed(&proto, size, "the detector")?;
        drop(proto);
        let invalid = |context: &str, e: TractError| Error::engine(ErrorKind::InvalidModel, context, e);
        clear_upper_vector_state();
        model = model.into_optimized().map_err(|e| invalid("cannot optimise the detector", e))?;
        let priors = priors(size);
        for (i, width) in [(0, 4), (1, 2), (2, 10)] {
            let fact = model.output_fact(i).map_err(|e| invalid("detector outputs", e))?;
            let dims: Vec<Option<usize>> = fact.shape.iter().map(|d| d.to_usize().ok()).collect();
            if dims != [Some(1), Some(priors.len()), Some(width)] {
                return Err(Error::invalid_model(format!(
                    "detector output {i} has shape {:?}, expected (1, {}, {width}): not RetinaFace",
                    fact.shape,
                    priors.len()
                )));
            }
        }
        let plan = model.into_runnable().map_err(|e| invalid("cannot plan the detector", e))?;
        Ok(FaceDetector { plan, size, priors: Arc::new(priors) })
    }

    /// The faces in the upright frame scoring at least `min_score` (0.5 to 0.9 is sensible),
    /// best first, in upright frame pixels.
    pub fn detect(
        &self,
        frame: &Frame,
        orientation: Orientation,
        min_score: f32,
    ) -> Result<Vec<DetectedFace>> {
        if !(0.0..=1.0).contains(&min_score) {
            return Err(Error::invalid_argument(format!("minimum score {min_score} is not in 0..=1")));
        }
        let source = OrientedFrame { frame: *frame, orientation };
        let (w, h) = (source.width(), source.height());
        let scale = self.size as f32 / w.max(h) as f32;
        let (nw, nh) =
            (((w as f32 * scale).round() as usize).max(1), ((h as f32 * scale).round() as usize).max(1));
        let mut rgb = Vec::new();
        BicubicResizer::default().resize_box(&source, SourceBox::whole(w, h), &mut rgb, nw, nh);
        let s = self.size;
        let input = tract_ndarray::Array4::from_shape_fn((1, 3, s, s), |(_, c, y, x)| {
            // Channel c of the detector is B, G, R; the letterbox padding is black.
            let value = if x < nw && y < nh { rgb[(y * nw + x) * 3 + (2 - c)] as f32 } else { 0.0 };
            value - BGR_MEAN[c]
        });
        let outputs = self
            .plan
            .spawn()
            .and_then(|mut state| {
                state.run_plan_with_eval(
                    tvec![Tensor::from(input).into()],
                    crate::ops::kernels::vector_state::eval_then_clear,
                )
            })
            .map_err(|e| Error::engine(ErrorKind::Inference, "face detection failed", e))?;
        let view = |i: usize| -> Result<&[f32]> {
            outputs[i]
                .try_as_plain_ram()
                .and_then(|t| t.as_slice::<f32>())
                .map_err(|e| Error::engine(ErrorKind::Inference, "detector output", e))
        };
        let (loc, conf, landmarks) = (view(0)?, view(1)?, view(2)?);
        let mut faces = Vec::new();
        for (i, p) in self.priors.iter().enumerate() {
            let score = conf[i * 2 + 1];
            if score.is_nan() || score < min_score {
                continue;
            }
            let l = &loc[i * 4..i * 4 + 4];
            let (cx, cy) = (p[0] + l[0] * CENTER_VARIANCE * p[2], p[1] + l[1] * CENTER_VARIANCE * p[3]);
            let (bw, bh) = (p[2] * (l[2] * SIZE_VARIANCE).exp(), p[3] * (l[3] * SIZE_VARIANCE).exp());
            let mut points = [[0f32; 2]; 5];
            for (k, point) in points.iter_mut().enumerate() {
                let m = &landmarks[i * 10 + k * 2..i * 10 + k * 2 + 2];
                *point = [
                    (p[0] + m[0] * CENTER_VARIANCE * p[2]) / scale,
                    (p[1] + m[1] * CENTER_VARIANCE * p[3]) / scale,
                ];
            }
            let bbox = FaceBox {
                x: (cx - bw / 2.0) / scale,
                y: (cy - bh / 2.0) / scale,
                width: bw / scale,
                height: bh / scale,
            };
            if [bbox.x, bbox.y, bbox.width, bbox.height].iter().all(|v| v.is_finite()) {
                faces.push(DetectedFace { score, bbox, landmarks: points });
            }
        }
        Ok(non_maximum_suppression(faces))
    }
}

pub(crate) fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let ix = (a.x + a.width).min(b.x + b.width) - a.x.max(b.x);
    let iy = (a.y + a.height).min(b.y + b.height) - a.y.max(b.y);
    let inter = ix.max(0.0) * iy.max(0.0);
    inter / (a.width * a.height + b.width * b.height - inter)
}

/// Candidates considered by the suppression (RetinaFace's reference keeps 5,000), which bounds
/// its cost when the score threshold is low.
const MAX_CANDIDATES: usize = 5000;

/// Best first; a face overlapping a better one by more than `NMS_IOU` is dropped.
fn non_maximum_suppression(mut faces: Vec<DetectedFace>) -> Vec<DetectedFace> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    faces.truncate(MAX_CANDIDATES);
    let mut kept: Vec<DetectedFace> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| iou(&k.bbox, &face.bbox) <= NMS_IOU) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_cover_the_input_like_retinaface() {
        // 640: (80^2 + 40^2 + 20^2) cells x 2 sizes = 16,800 anchors.
        let p = priors(640);
        assert_eq!(p.len(), 16_800);
        assert_eq!(p[0], [4.0, 4.0, 16.0, 16.0]);
        assert_eq!(p[1], [4.0, 4.0, 32.0, 32.0]);
        assert_eq!(*p.last().unwrap(), [624.0, 624.0, 512.0, 512.0]);
    }

    #[test]
    fn suppression_keeps_the_best_of_overlapping_faces() {
        let face = |score, x| DetectedFace {
            score,
            bbox: FaceBox { x, y: 0.0, width: 10.0, height: 10.0 },
            landmarks: [[0.0; 2]; 5],
        };
        let kept = non_maximum_suppression(vec![face(0.7, 1.0), face(0.9, 0.0), face(0.8, 30.0)]);
        assert_eq!(kept.iter().map(|f| f.score).collect::<Vec<_>>(), vec![0.9, 0.8]);
    }
}
