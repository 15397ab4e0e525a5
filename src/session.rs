//! Per-stream inference: image -> preprocess -> engine -> postprocess -> labels. A session owns
//! tract's state and our scratch buffers, so parsing frames of a steady size allocates none of
//! our buffers after the first call. Not shareable between threads at once (`&mut self`).

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{FaceBox, Frame, FrameOptions, Orientation, OrientedFrame};
use crate::image_view::ImageView;
use crate::model::Model;
use crate::postprocess::{LabelsMut, Logits, Postprocessor};
use crate::preprocess::{normalize_into, Preprocessor};
use crate::resize::{RowSource, SourceBox};

/// A label map owned by Rust (the convenience form of `Session::parse_into`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMap {
    pub width: u32,
    pub height: u32,
    /// `width * height` class indices, row-major.
    pub labels: Vec<u8>,
}

pub struct Session {
    model: Model,
    state: TypedSimpleState,
    preprocessor: Preprocessor,
    postprocessor: Postprocessor,
    /// The input tensor, reused when tract has released it after a run.
    input: Option<Arc<Tensor>>,
}

impl Session {
    pub(crate) fn new(model: Model) -> Result<Session> {
        let state = model
            .inner()
            .plan
            .spawn()
            .map_err(|e| Error::engine(ErrorKind::Inference, "cannot create the inference state", e))?;
        Ok(Session {
            model,
            state,
            preprocessor: Preprocessor::default(),
            postprocessor: Postprocessor::default(),
            input: None,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Parses `image` and writes one class index per pixel into `labels`: `image.height()` rows
    /// of `image.width()` bytes, `labels_stride` bytes apart. Bytes between rows are untouched.
    pub fn parse_into(&mut self, image: &ImageView, labels: &mut [u8], labels_stride: usize) -> Result<()> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        check_labels(labels, w, h, labels_stride)?;
        let info = self.model.info();
        let (r, mean, std) = (info.resolution, info.mean, info.std);
        let classes = info.classes.len();
        let mut input = self.take_input(r);
        let rgb = self.preprocessor.resize_rgb(image, r)?;
        normalize_into(rgb, &mean, &std, input_slice(&mut input)?);
        let output = self.run(input)?;
        let logits = output_slice(&output)?;
        self.postprocessor.labels_from_logits(
            Logits { data: logits, classes, size: r },
            LabelsMut { data: labels, width: w, height: h, stride: labels_stride },
        );
        Ok(())
    }

    /// Parses a camera frame (any [`Frame`] layout, in sensor orientation) and writes a label map
    /// of the frame's own size and orientation into `labels` (`frame.height()` rows of
    /// `frame.width()` bytes, `labels_stride` apart). With a face box, the model sees that box
    /// of the upright frame and its labels are mapped back into it; pixels outside the box are
    /// background (0). Without one, the whole upright frame is the face crop.
    pub fn parse_frame_into(
        &mut self,
        frame: &Frame,
        options: &FrameOptions,
        labels: &mut [u8],
        labels_stride: usize,
    ) -> Result<()> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        check_labels(labels, w, h, labels_stride)?;
        let source = OrientedFrame { frame: *frame, orientation: options.orientation };
        match &options.face {
            Some(face) => {
                let area = face.clip(source.width(), source.height())?;
                clear_labels(labels, w, h, labels_stride);
                self.label_area(&source, area, labels, labels_stride)
            }
            None => self.label_area(
                &source,
                SourceBox::whole(source.width(), source.height()),
                labels,
                labels_stride,
            ),
        }
    }

    /// Parses several faces of one frame (e.g. from [`crate::detect::FaceDetector`]) into one
    /// frame-sized label map: each face's box is parsed as in [`Session::parse_frame_into`];
    /// where boxes overlap, a later face's background does not erase an earlier face's labels.
    /// Pixels outside every box are background.
    pub fn parse_faces_into(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        faces: &[FaceBox],
        labels: &mut [u8],
        labels_stride: usize,
    ) -> Result<()> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        check_labels(labels, w, h, labels_stride)?;
        let source = OrientedFrame { frame: *frame, orientation };
        let areas: Vec<SourceBox> =
            faces.iter().map(|f| f.clip(source.width(), source.height())).collect::<Result<_>>()?;
        clear_labels(labels, w, h, labels_stride);
        for area in areas {
            self.label_area(&source, area, labels, labels_stride)?;
        }
        Ok(())
    }

    /// Runs the model on `area` of the upright source and writes the labels of the frame pixels
    /// the area covers; background never overwrites another class (so faces can share a map).
    fn label_area(
        &mut self,
        source: &OrientedFrame,
        area: SourceBox,
        labels: &mut [u8],
        labels_stride: usize,
    ) -> Result<()> {
        let info = self.model.info();
        let (r, mean, std, classes) = (info.resolution, info.mean, info.std, info.classes.len());
        let mut input = self.take_input(r);
        let rgb = self.preprocessor.resize_area(source, area, r);
        normalize_into(rgb, &mean, &std, input_slice(&mut input)?);
        let output = self.run(input)?;
        let logits = Logits { data: output_slice(&output)?, classes, size: r };
        let (uw, uh) = (source.width(), source.height());
        let (w, h) = (source.frame.width() as usize, source.frame.height() as usize);
        // The upright pixels whose centres the box covers.
        let xs = (area.x0.round() as usize)..(area.x1.round() as usize).min(uw);
        let ys = (area.y0.round() as usize)..(area.y1.round() as usize).min(uh);
        let whole = xs.len() == uw && ys.len() == uh;
        let orientation = source.orientation;
        self.postprocessor.labels_in_box(logits, area, xs, ys, |x, y, label| {
            let (fx, fy) = orientation.to_frame(x, y, w, h);
            let out = &mut labels[fy * labels_stride + fx];
            if whole || label != 0 || *out == 0 {
                *out = label;
            }
        });
        Ok(())
    }

    /// Parses `image` into a new label map of the image's size.
    pub fn parse(&mut self, image: &ImageView) -> Result<LabelMap> {
        let mut labels = vec![0u8; image.width() as usize * image.height() as usize];
        self.parse_into(image, &mut labels, image.width() as usize)?;
        Ok(LabelMap { width: image.width(), height: image.height(), labels })
    }

    /// Runs the network on an already normalised (1, 3, R, R) input and returns the
    /// (1, C, R, R) logits, row-major. For parity checks and custom preprocessing.
    pub fn logits(&mut self, normalized: &[f32]) -> Result<Vec<f32>> {
        let r = self.model.info().resolution;
        if normalized.len() != 3 * r * r {
            return Err(Error::invalid_argument(format!(
                "input has {} values, the model takes 3 x {r} x {r}",
                normalized.len()
            )));
        }
        let mut input = self.take_input(r);
        input_slice(&mut input)?.copy_from_slice(normalized);
        let output = self.run(input)?;
        Ok(output_slice(&output)?.to_vec())
    }

    /// The R x R RGB8 image the network sees for `image` (after the reference's resize).
    pub fn model_input_rgb(&mut self, image: &ImageView) -> Result<Vec<u8>> {
        let r = self.model.info().resolution;
        Ok(self.preprocessor.resize_rgb(image, r)?.to_vec())
    }

    /// The reusable input tensor: kept when tract has released it after the previous run.
    fn take_input(&mut self, r: usize) -> Arc<Tensor> {
        match self.input.take() {
            Some(t) if Arc::strong_count(&t) == 1 => t,
            _ => Arc::new(Tensor::zero::<f32>(&[1, 3, r, r]).expect("input tensor")),
        }
    }

    fn run(&mut self, input: Arc<Tensor>) -> Result<TValue> {
        self.input = Some(input.clone());
        let mut outputs = self
            .state
            .run(tvec![TValue::from_const(input)])
            .map_err(|e| Error::engine(ErrorKind::Inference, "inference failed", e))?;
        Ok(outputs.remove(0))
    }
}

/// Sets the `w` label bytes of each of the `h` rows to background.
fn clear_labels(labels: &mut [u8], w: usize, h: usize, stride: usize) {
    for y in 0..h {
        labels[y * stride..y * stride + w].fill(0);
    }
}

/// The label buffer must hold `height` rows of `width` bytes, `stride` apart.
fn check_labels(labels: &[u8], w: usize, h: usize, stride: usize) -> Result<()> {
    if stride < w {
        return Err(Error::invalid_argument(format!(
            "label row stride {stride} is smaller than the image width {w}"
        )));
    }
    let needed = stride
        .checked_mul(h - 1)
        .and_then(|v| v.checked_add(w))
        .ok_or_else(|| Error::invalid_argument(format!("label row stride {stride} overflows")))?;
    if labels.len() < needed {
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!("label buffer has {} bytes, a {w}x{h} image needs {needed}", labels.len()),
        ));
    }
    Ok(())
}

fn engine_error(context: &str) -> impl Fn(TractError) -> Error + '_ {
    move |e| Error::engine(ErrorKind::Inference, context, e)
}

/// The float data of an input tensor this session holds exclusively.
fn input_slice(input: &mut Arc<Tensor>) -> Result<&mut [f32]> {
    let tensor =
        Arc::get_mut(input).ok_or_else(|| Error::new(ErrorKind::Inference, "input tensor is shared"))?;
    let view = tensor.to_plain_array_view_mut::<f32>().map_err(engine_error("input tensor"))?;
    view.into_slice().ok_or_else(|| Error::new(ErrorKind::Inference, "input tensor is not contiguous"))
}

fn output_slice(output: &TValue) -> Result<&[f32]> {
    let view = output.try_as_plain_ram().map_err(engine_error("logits"))?;
    view.as_slice::<f32>().map_err(engine_error("logits"))
}
