//! Per-stream parsing: image -> preprocess -> engine -> postprocess -> labels. A session owns
//! the engine (tract's state) and the scratch buffers of both ends, so parsing frames of a
//! steady size allocates none of its buffers after the first call. Not shareable between
//! threads at once (`&mut self`).

mod placement;

use crate::error::Result;
use crate::image::face::Face;
use crate::image::frame::{Frame, Orientation, OrientedFrame};
use crate::image::preprocess::{normalize_into, Preprocessor};
use crate::image::resize::RowSource;
use crate::image::view::ImageView;
use crate::output::outputs::{check_plane, OutputWriter, Outputs};
use crate::output::resample::{LabelsMut, Logits, Postprocessor};
use crate::runtime::engine::{Engine, RunOutput};
use crate::runtime::model::Model;
use crate::runtime::profile::{self, Profile};

pub(crate) use placement::Placement;

/// A label map owned by Rust (the convenience form of `Session::parse_into`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMap {
    pub width: u32,
    pub height: u32,
    /// `width * height` class indices, row-major.
    pub labels: Vec<u8>,
}

pub struct Session {
    engine: Engine,
    preprocessor: Preprocessor,
    postprocessor: Postprocessor,
    /// Scratch for overlapping faces (see [`OutputWriter`]).
    owner: Vec<u16>,
}

impl Model {
    /// A new inference session (per-thread / per-stream state and scratch buffers).
    pub fn session(&self) -> Result<Session> {
        Ok(Session {
            engine: Engine::new(self.clone())?,
            preprocessor: Preprocessor::default(),
            postprocessor: Postprocessor::default(),
            owner: Vec::new(),
        })
    }
}

impl Session {
    pub fn model(&self) -> &Model {
        self.engine.model()
    }

    /// Runs this session's operators on `threads` threads: 1 (the default) is the calling thread
    /// alone; more starts a pool of `threads` worker threads owned by this session, which the
    /// calling thread waits on.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        self.engine.set_threads(threads)
    }

    /// The thread count set by [`Session::set_threads`].
    pub fn threads(&self) -> usize {
        self.engine.threads()
    }

    /// Parses `image` and writes one class index per pixel into `labels`: `image.height()` rows
    /// of `image.width()` bytes, `labels_stride` bytes apart. Bytes between rows are untouched.
    pub fn parse_into(&mut self, image: &ImageView, labels: &mut [u8], labels_stride: usize) -> Result<()> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        check_plane("labels", labels.len(), labels_stride, w, h)?;
        let info = self.engine.model().info();
        let (r, mean, std, classes) = (info.resolution, info.mean, info.std, info.classes.len());
        let preprocessor = &mut self.preprocessor;
        let output = self.engine.run(|input| {
            normalize_into(preprocessor.resize_rgb(image, r)?, &mean, &std, input);
            Ok(())
        })?;
        self.postprocessor.labels_from_logits(
            Logits { data: output.logits()?, classes, size: r },
            LabelsMut { data: labels, width: w, height: h, stride: labels_stride },
        );
        Ok(())
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
        outputs.check(frame.width() as usize, frame.height() as usize, self.model().info().classes.len())?;
        let placements = Placement::of_faces(faces, &source)?;
        let mut owner = std::mem::take(&mut self.owner);
        let result = (|| {
            let mut writer = self.writer(&source, outputs, placements.len(), &mut owner);
            for placement in &placements {
                let output = self.infer(&source, placement)?;
                self.write(output.logits()?, &source, placement, &mut writer);
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
    pub(crate) fn infer(&mut self, source: &OrientedFrame, placement: &Placement) -> Result<RunOutput> {
        let info = self.engine.model().info();
        let (r, mean, std) = (info.resolution, info.mean, info.std);
        let preprocessor = &mut self.preprocessor;
        self.engine.run(|input| {
            normalize_into(crop(preprocessor, source, placement, r)?, &mean, &std, input);
            Ok(())
        })
    }

    /// Maps a crop's `logits` back into the frame pixels the placement covers.
    pub(crate) fn write(
        &mut self,
        logits: &[f32],
        source: &OrientedFrame,
        placement: &Placement,
        writer: &mut OutputWriter,
    ) {
        let info = self.engine.model().info();
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
        let r = self.model().info().resolution;
        if normalized.len() != 3 * r * r {
            return Err(crate::error::Error::invalid_argument(format!(
                "input has {} values, the model takes 3 x {r} x {r}",
                normalized.len()
            )));
        }
        let output = self.engine.run(|input| {
            input.copy_from_slice(normalized);
            Ok(())
        })?;
        Ok(output.logits()?.to_vec())
    }

    /// The R x R RGB8 image the network sees for `face` of a frame (none: the whole upright
    /// frame, which for an upright still image is the reference's resize of it): to check where
    /// a box or landmarks put the crop.
    pub fn model_input(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        face: Option<&Face>,
    ) -> Result<Vec<u8>> {
        let source = OrientedFrame { frame: *frame, orientation };
        let placement = Placement::of_faces(face.copied().as_slice(), &source)?.remove(0);
        let r = self.model().info().resolution;
        Ok(crop(&mut self.preprocessor, &source, &placement, r)?.to_vec())
    }

    /// Runs the model `runs` times on `image` (after one warm-up run) timing every node, on the
    /// session's threads (`segface bench --profile`).
    #[doc(hidden)]
    pub fn profile(&mut self, image: &ImageView, runs: usize) -> Result<Profile> {
        let info = self.engine.model().info();
        let (r, mean, std) = (info.resolution, info.mean, info.std);
        let preprocessor = &mut self.preprocessor;
        let fill = |input: &mut [f32]| {
            normalize_into(preprocessor.resize_rgb(image, r)?, &mean, &std, input);
            Ok(())
        };
        profile::profile(&mut self.engine, fill, runs)
    }
}

/// The placed crop of the upright source at the model's resolution, RGB8.
fn crop<'p>(
    preprocessor: &'p mut Preprocessor,
    source: &OrientedFrame,
    placement: &Placement,
    r: usize,
) -> Result<&'p [u8]> {
    match placement {
        Placement::Area(area) => Ok(preprocessor.resize_area(source, *area, r)),
        Placement::Square { square, .. } => preprocessor.warp(source, square, r),
    }
}
