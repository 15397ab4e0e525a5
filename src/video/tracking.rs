//! Parsing a video stream: faces found once and reused for a few frames, followed from frame to
//! frame, and their results smoothed over time so masks do not flicker.
//!
//! Smoothing: each face keeps an exponential moving average of its crop's logits,
//! `kept = s * kept + (1 - s) * new` with strength `s` in `0..1` (0: off, each frame stands
//! alone; 0.5: a frame's weight halves every frame; 0.9: about the last 10 frames count). Averaging
//! logits is averaging log-probabilities: the smoothed class probabilities are the normalised
//! weighted geometric mean of the frames' probabilities. The face's placement (box or landmarks)
//! is smoothed with the same strength, so the crop, and with it the logits' pixel grid, moves
//! steadily. A face whose new position overlaps its old one by less than half (intersection over
//! union) starts afresh, as does everything after [`VideoSession::reset`] (call it at scene cuts).

use crate::error::{Error, Result};
use crate::image::align::AlignedSquare;
use crate::image::face::{Face, FaceBox};
use crate::image::frame::{Frame, Orientation, OrientedFrame};
use crate::image::resize::RowSource;
use crate::output::outputs::Outputs;
use crate::runtime::model::Model;
use crate::session::{Placement, Session};
use crate::video::detector::{iou, DetectedFace, FaceDetector};

/// Faces overlapping their previous position less than this start a new track.
const SAME_FACE_IOU: f32 = 0.5;

/// How a [`VideoSession`] finds and smooths faces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoOptions {
    /// Temporal smoothing strength in `0..1` (0: off). See the module documentation.
    pub smoothing: f32,
    /// Run the detector on one frame in `detect_every` and reuse its faces in between (1: every
    /// frame). A frame with no known face always runs the detector.
    pub detect_every: u32,
    /// Detector score threshold, `0..=1`.
    pub min_score: f32,
    /// The most faces parsed per frame (the highest scoring).
    pub max_faces: usize,
    /// Place detected faces by their 5 landmarks (a crop turned upright like the training
    /// images) instead of the square box around the detection.
    pub align: bool,
    /// Threads for the parser's matrix products (see [`Session::set_threads`]).
    pub threads: usize,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions {
            smoothing: 0.5,
            detect_every: 5,
            min_score: 0.7,
            max_faces: 4,
            align: false,
            threads: 1,
        }
    }
}

impl VideoOptions {
    fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(Error::invalid_argument(format!("smoothing {} is not in 0..1", self.smoothing)));
        }
        if self.detect_every == 0 {
            return Err(Error::invalid_argument("detect_every must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(Error::invalid_argument(format!("minimum score {} is not in 0..=1", self.min_score)));
        }
        if self.max_faces == 0 {
            return Err(Error::invalid_argument("max_faces must be at least 1"));
        }
        Ok(())
    }
}

/// A face a video session parsed in the last frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackedFace {
    /// Where the model looked (after smoothing), in upright frame pixels.
    pub face: Face,
    /// The detection it came from, if the detector found it (the latest one).
    pub detection: Option<DetectedFace>,
    /// Whether this frame ran the detector (or the caller gave the faces) rather than reusing
    /// the previous frame's.
    pub located_this_frame: bool,
}

impl TrackedFace {
    /// The face as a detection reports it, and the crop the model saw: score 0 and the crop as
    /// the box for a caller's face; the smoothed landmarks or the detector's; for landmarks, the
    /// crop is the aligned square's upright bounding box.
    pub fn as_detection(&self) -> (DetectedFace, FaceBox) {
        let crop = bounds(&self.face);
        let landmarks = match (&self.face, &self.detection) {
            (Face::Landmarks(points), _) => *points,
            (_, Some(d)) => d.landmarks,
            _ => [[0.0; 2]; 5],
        };
        let (score, bbox) = self.detection.map_or((0.0, crop), |d| (d.score, d.bbox));
        (DetectedFace { score, bbox, landmarks }, crop)
    }
}

/// This frame's faces, each with the detection it came from (none for a caller's face).
type Located = Vec<(Face, Option<DetectedFace>)>;

struct Track {
    tracked: TrackedFace,
    /// The smoothed logits of the face's crop, (C, R, R); empty until first parsed.
    logits: Vec<f32>,
}

/// Per-stream state for video: a parsing session, an optional detector, the faces being
/// followed and their smoothed logits. One thread at a time (`&mut self`).
pub struct VideoSession {
    session: Session,
    detector: Option<FaceDetector>,
    options: VideoOptions,
    tracks: Vec<Track>,
    /// Frames to go before the detector runs again.
    frames_to_detection: u32,
    /// Scratch for overlapping faces.
    owner: Vec<u16>,
}

impl VideoSession {
    /// Without a detector, frames are parsed with the caller's faces or as whole-frame crops.
    pub fn new(model: &Model, detector: Option<FaceDetector>, options: VideoOptions) -> Result<Self> {
        options.check()?;
        let mut session = model.session()?;
        session.set_threads(options.threads)?;
        Ok(VideoSession {
            session,
            detector,
            options,
            tracks: Vec::new(),
            frames_to_detection: 0,
            owner: Vec::new(),
        })
    }

    pub fn options(&self) -> &VideoOptions {
        &self.options
    }

    /// Forgets every face and its history (a scene cut): the next frame stands alone.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.frames_to_detection = 0;
    }

    /// The faces of the last parsed frame.
    pub fn faces(&self) -> impl Iterator<Item = &TrackedFace> {
        self.tracks.iter().map(|t| &t.tracked)
    }

    /// Parses the next frame of the stream into `outputs` (as [`Session::parse_frame`]).
    /// `faces`: the caller's faces for this frame; `None`: the detector's (run or reused), or
    /// the whole upright frame without a detector.
    pub fn parse(
        &mut self,
        frame: &Frame,
        orientation: Orientation,
        faces: Option<&[Face]>,
        outputs: &mut Outputs,
    ) -> Result<()> {
        let source = OrientedFrame { frame: *frame, orientation };
        let classes = self.session.model().info().classes.len();
        outputs.check(frame.width() as usize, frame.height() as usize, classes)?;
        if let Some(located) = self.locate(&source, faces)? {
            self.follow(located);
        } else {
            self.tracks.iter_mut().for_each(|t| t.tracked.located_this_frame = false);
        }
        let placements: Vec<Placement> =
            self.tracks.iter().map(|t| Placement::of(&t.tracked.face, &source)).collect::<Result<_>>()?;
        let mut owner = std::mem::take(&mut self.owner);
        let result = (|| {
            let mut writer = self.session.writer(&source, outputs, placements.len(), &mut owner);
            for (track, placement) in self.tracks.iter_mut().zip(&placements) {
                let output = self.session.infer(&source, placement)?;
                blend(&mut track.logits, output.logits()?, self.options.smoothing);
                self.session.write(&track.logits, &source, placement, &mut writer);
            }
            Ok(())
        })();
        self.owner = owner;
        result
    }

    /// This frame's faces with their detections, or `None` to reuse the previous frame's.
    fn locate(&mut self, source: &OrientedFrame, faces: Option<&[Face]>) -> Result<Option<Located>> {
        if let Some(faces) = faces {
            return Ok(Some(faces.iter().map(|f| (*f, None)).collect()));
        }
        let Some(detector) = &self.detector else {
            let whole =
                FaceBox { x: 0.0, y: 0.0, width: source.width() as f32, height: source.height() as f32 };
            return Ok(Some(vec![(Face::Box(whole), None)]));
        };
        if !self.tracks.is_empty() && self.frames_to_detection > 0 {
            self.frames_to_detection -= 1;
            return Ok(None);
        }
        self.frames_to_detection = self.options.detect_every - 1;
        let found = detector.detect(&source.frame, source.orientation, self.options.min_score)?;
        let align = self.options.align;
        Ok(Some(
            found
                .into_iter()
                .take(self.options.max_faces)
                .map(|d| {
                    (if align { Face::Landmarks(d.landmarks) } else { Face::Box(d.segface_crop()) }, Some(d))
                })
                .collect(),
        ))
    }

    /// Matches this frame's faces to the tracks (by overlap), smoothing the matched placements
    /// and keeping their logits; unmatched tracks end, unmatched faces start new ones.
    fn follow(&mut self, located: Located) {
        let mut old: Vec<Option<Track>> = std::mem::take(&mut self.tracks).into_iter().map(Some).collect();
        let s = self.options.smoothing;
        for (face, detection) in located {
            let bounds = bounds(&face);
            let best = old
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.as_ref().map(|t| (i, iou(&bounds, &self::bounds(&t.tracked.face)))))
                .filter(|&(_, overlap)| overlap >= SAME_FACE_IOU)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let (face, logits) = match best.and_then(|(i, _)| old[i].take()) {
                Some(track) => (smooth(&track.tracked.face, &face, s), track.logits),
                None => (face, Vec::new()),
            };
            self.tracks
                .push(Track { tracked: TrackedFace { face, detection, located_this_frame: true }, logits });
        }
    }
}

/// `kept = s * kept + (1 - s) * fresh`; an empty `kept` takes `fresh`.
fn blend(kept: &mut Vec<f32>, fresh: &[f32], s: f32) {
    if kept.len() != fresh.len() || s == 0.0 {
        kept.clear();
        kept.extend_from_slice(fresh);
        return;
    }
    for (k, &f) in kept.iter_mut().zip(fresh) {
        *k = s * *k + (1.0 - s) * f;
    }
}

/// The new placement moved towards the old one by the smoothing strength (same kind only).
fn smooth(old: &Face, new: &Face, s: f32) -> Face {
    let mix = |a: f32, b: f32| s * a + (1.0 - s) * b;
    match (old, new) {
        (Face::Box(a), Face::Box(b)) => Face::Box(FaceBox {
            x: mix(a.x, b.x),
            y: mix(a.y, b.y),
            width: mix(a.width, b.width),
            height: mix(a.height, b.height),
        }),
        (Face::Landmarks(a), Face::Landmarks(b)) => {
            let mut out = *b;
            for (o, (p, q)) in out.iter_mut().zip(a.iter().zip(b)) {
                *o = [mix(p[0], q[0]), mix(p[1], q[1])];
            }
            Face::Landmarks(out)
        }
        _ => *new,
    }
}

/// The upright box a face's crop covers (landmarks: the turned square's bounding box).
fn bounds(face: &Face) -> FaceBox {
    match face {
        Face::Box(b) => *b,
        // Landmarks that place no square match nothing (placing them reports the error).
        Face::Landmarks(points) => AlignedSquare::from_landmarks(points)
            .map_or(FaceBox { x: 0.0, y: 0.0, width: 0.0, height: 0.0 }, |s| s.bounds()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blending_averages_and_restarts() {
        let mut kept = Vec::new();
        blend(&mut kept, &[2.0, 4.0], 0.5);
        assert_eq!(kept, vec![2.0, 4.0]);
        blend(&mut kept, &[4.0, 0.0], 0.5);
        assert_eq!(kept, vec![3.0, 2.0]);
        blend(&mut kept, &[1.0, 1.0], 0.0);
        assert_eq!(kept, vec![1.0, 1.0]);
    }

    #[test]
    fn placements_move_towards_the_old_one() {
        let a = Face::Box(FaceBox { x: 0.0, y: 0.0, width: 100.0, height: 100.0 });
        let b = Face::Box(FaceBox { x: 10.0, y: 20.0, width: 110.0, height: 100.0 });
        assert_eq!(smooth(&a, &b, 0.5), Face::Box(FaceBox { x: 5.0, y: 10.0, width: 105.0, height: 100.0 }));
        assert_eq!(smooth(&a, &b, 0.0), b);
    }
}
