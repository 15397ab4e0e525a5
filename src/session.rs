//! Per-stream inference: image -> preprocess -> engine -> postprocess -> labels. A session owns
//! tract's state and our scratch buffers, so parsing frames of a steady size allocates none of
//! our buffers after the first call. Not shareable between threads at once (`&mut self`).

use std::ops::Range;
use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

use crate::align::AlignedSquare;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{Face, Frame, FrameOptions, Orientation, OrientedFrame};
use crate::image_view::ImageView;
use crate::model::Model;
use crate::outputs::{check_plane, OutputWriter, Outputs, PlaneMut};
use crate::postprocess::{LabelsMut, Logits, Postprocessor};
use crate::precision::engine_input;
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
    /// Scratch for overlapping faces (see [`OutputWriter`]).
    owner: Vec<u16>,
    /// Where tract's matrix products run: this thread, or a pool of this session's own.
    executor: Executor,
    threads: usize,
}

/// The most threads a session may use.
pub const MAX_THREADS: usize = 64;

/// Where the model's input comes from in the upright frame.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Placement {
    /// A box, stretched to the model's square input (PIL-exact bicubic resize).
    Area(SourceBox),
    /// A turned square, and the upright pixels it touches.
    Square { square: AlignedSquare, xs: Range<usize>, ys: Range<usize> },
}

impl Placement {
    pub(crate) fn of(face: &Face, source: &OrientedFrame) -> Result<Self> {
        let (w, h) = (source.width(), source.height());
        match face {
            Face::Box(b) => Ok(Placement::Area(b.clip(w, h)?)),
            Face::Landmarks(points) => {
                let square = AlignedSquare::from_landmarks(points)?;
                let (xs, ys) = square.pixel_bounds(w, h)?;
                Ok(Placement::Square { square, xs, ys })
            }
        }
    }

    /// The placements of `faces`; no faces: the whole upright frame.
    pub(crate) fn of_faces(faces: &[Face], source: &OrientedFrame) -> Result<Vec<Self>> {
        if faces.is_empty() {
            return Ok(vec![Placement::Area(SourceBox::whole(source.width(), source.height()))]);
        }
        faces.iter().map(|f| Placement::of(f, source)).collect()
    }
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
            owner: Vec::new(),
            executor: Executor::SingleThread,
            threads: 1,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs this session's matrix products (most of the time) on `threads` threads: 1 (the
    /// default) is the calling thread alone; more starts a pool of `threads` worker threads
    /// owned by this session, which the calling thread waits on. Other operators stay on the
    /// calling thread.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::invalid_argument(format!(
                "{threads} threads; 1 to {MAX_THREADS} are allowed"
            )));
        }
        self.executor = if threads == 1 {
            Executor::SingleThread
        } else {
            // Building a pool panics when the system refuses threads.
            std::panic::catch_unwind(|| Executor::multithread_with_name(threads, "segface"))
                .map_err(|_| Error::new(ErrorKind::Inference, format!("cannot start {threads} threads")))?
        };
        self.threads = threads;
        Ok(())
    }

    /// The thread count set by [`Session::set_threads`].
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Parses `image` and writes one class index per pixel into `labels`: `image.height()` rows
    /// of `image.width()` bytes, `labels_stride` bytes apart. Bytes between rows are untouched.
    pub fn parse_into(&mut self, image: &ImageView, labels: &mut [u8], labels_stride: usize) -> Result<()> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        check_plane("labels", labels.len(), labels_stride, w, h)?;
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
    /// `frame.width()` bytes, `labels_stride` apart). With a face (box or landmarks), the model
    /// sees that part of the upright frame and its labels are mapped back into it; other pixels
    /// are background (0). Without one, the whole upright frame is the face crop.
    pub fn parse_frame_into(
        &mut self,
        frame: &Frame,
        options: &FrameOptions,
        labels: &mut [u8],
        labels_stride: usize,
    ) -> Result<()> {
        let mut outputs =
            Outputs { labels: Some(PlaneMut { data: labels, stride: labels_stride }), ..Default::default() };
        self.parse_frame(frame, options.orientation, options.face.as_slice(), &mut outputs)
    }

    /// Parses several faces of one frame (e.g. from [`crate::detect::FaceDetector`]) into one
    /// frame-sized label map, as [`Session::parse_frame`] does.
    pub fn parse_faces_into(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        faces: &[Face],
        labels: &mut [u8],
        labels_stride: usize,
    ) -> Result<()> {
        let mut outputs =
            Outputs { labels: Some(PlaneMut { data: labels, stride: labels_stride }), ..Default::default() };
        self.parse_frame(frame, orientation, faces, &mut outputs)
    }

    /// Parses the `faces` of a frame (none: the whole upright frame is one face crop) and writes
    /// the requested `outputs` (labels, soft masks, a class-set mask) at the frame's own size and
    /// orientation. Each face is run through the model once; where crops overlap, a pixel takes
    /// the face most confident it is not background; pixels outside every face are background.
    pub fn parse_frame(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        faces: &[Face],
        outputs: &mut Outputs,
    ) -> Result<()> {
        let source = OrientedFrame { frame: *frame, orientation };
        outputs.check(frame.width() as usize, frame.height() as usize, self.model.info().classes.len())?;
        let placements = Placement::of_faces(faces, &source)?;
        let mut owner = std::mem::take(&mut self.owner);
        let result = (|| {
            let mut writer = self.writer(&source, outputs, placements.len(), &mut owner);
            for placement in &placements {
                let output = self.infer(&source, placement)?;
                self.write(output_slice(&output)?, &source, placement, &mut writer);
            }
            Ok(())
        })();
        self.owner = owner;
        result
    }

    /// A writer for the frame's outputs (cleared); `owner` is scratch for overlapping faces.
    pub(crate) fn writer<'o, 'a>(
        &self,
        source: &OrientedFrame,
        outputs: &'o mut Outputs<'a>,
        faces: usize,
        owner: &'o mut Vec<u16>,
    ) -> OutputWriter<'o, 'a> {
        let (w, h) = (source.frame.width() as usize, source.frame.height() as usize);
        OutputWriter::new(outputs, w, h, (faces > 1).then_some(owner))
    }

    /// Runs the model on the placed crop of the upright source; returns the (1, C, R, R) logits.
    pub(crate) fn infer(&mut self, source: &OrientedFrame, placement: &Placement) -> Result<TValue> {
        let info = self.model.info();
        let (r, mean, std) = (info.resolution, info.mean, info.std);
        let mut input = self.take_input(r);
        let rgb = self.crop(source, placement)?;
        normalize_into(rgb, &mean, &std, input_slice(&mut input)?);
        self.run(input)
    }

    /// Maps a crop's `logits` back into the frame pixels the placement covers.
    pub(crate) fn write(
        &mut self,
        logits: &[f32],
        source: &OrientedFrame,
        placement: &Placement,
        writer: &mut OutputWriter,
    ) {
        let info = self.model.info();
        let logits = Logits { data: logits, classes: info.classes.len(), size: info.resolution };
        let (w, h) = (source.frame.width() as usize, source.frame.height() as usize);
        let orientation = source.orientation;
        let mut put = |x, y, scores: &[f32]| {
            let (fx, fy) = orientation.to_frame(x, y, w, h);
            writer.put(fx, fy, scores);
        };
        match placement {
            Placement::Area(area) => {
                let (uw, uh) = (source.width(), source.height());
                // The upright pixels whose centres the box covers.
                let xs = (area.x0.round() as usize)..(area.x1.round() as usize).min(uw);
                let ys = (area.y0.round() as usize)..(area.y1.round() as usize).min(uh);
                self.postprocessor.scores_in_box(logits, *area, xs, ys, &mut put);
            }
            Placement::Square { square, xs, ys } => {
                self.postprocessor.scores_in_square(logits, square, xs.clone(), ys.clone(), &mut put)
            }
        }
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

    /// The R x R RGB8 image the network sees for `face` of a frame (none: the whole upright
    /// frame): to check where a box or landmarks put the crop.
    pub fn face_input_rgb(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        face: Option<&Face>,
    ) -> Result<Vec<u8>> {
        let source = OrientedFrame { frame: *frame, orientation };
        let placement = Placement::of_faces(face.copied().as_slice(), &source)?.remove(0);
        Ok(self.crop(&source, &placement)?.to_vec())
    }

    /// The placed crop of the upright source at the model's resolution, RGB8.
    fn crop(&mut self, source: &OrientedFrame, placement: &Placement) -> Result<&[u8]> {
        let r = self.model.info().resolution;
        match placement {
            Placement::Area(area) => Ok(self.preprocessor.resize_area(source, *area, r)),
            Placement::Square { square, .. } => self.preprocessor.warp(source, square, r),
        }
    }

    /// The reusable input tensor: kept when tract has released it after the previous run.
    fn take_input(&mut self, r: usize) -> Arc<Tensor> {
        match self.input.take() {
            Some(t) if Arc::strong_count(&t) == 1 => t,
            _ => Arc::new(Tensor::zero::<f32>(&[1, 3, r, r]).expect("input tensor")),
        }
    }

    /// The executor of this session's thread count (`set_threads`).
    pub(crate) fn executor(&self) -> Executor {
        self.executor.clone()
    }

    /// tract's state, for profiling.
    pub(crate) fn state_mut(&mut self) -> &mut TypedSimpleState {
        &mut self.state
    }

    fn run(&mut self, input: Arc<Tensor>) -> Result<TValue> {
        self.input = Some(input.clone());
        let input = engine_input(input, self.model.info().precision).map_err(engine_error("input tensor"))?;
        let state = &mut self.state;
        let mut outputs = multithread_tract_scope(self.executor.clone(), || {
            state.run_plan_with_eval(tvec![input], crate::vector_state::eval_then_clear)
        })
        .map_err(|e| Error::engine(ErrorKind::Inference, "inference failed", e))?;
        Ok(outputs.remove(0))
    }
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
