//! What a frame parse writes: any of a label map, per-class soft masks (8-bit probabilities, for
//! blending) and one mask for a set of classes (e.g. hair only), all of the frame's own size and
//! orientation, in buffers the caller owns.
//!
//! Probabilities are the softmax over classes of the logits resampled to each frame pixel, so a
//! soft mask and the label map agree: a pixel's label is the class of its largest probability.
//! Where face crops overlap, a pixel takes every output from the face most confident that it is
//! not background. Outside every face a pixel is background: label 0, background probability 255.

use crate::error::{Error, ErrorKind, Result};

/// A set of classes, one bit per class index (bit 0: background). Up to 32 classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(pub u32);

impl ClassSet {
    pub fn of(classes: impl IntoIterator<Item = usize>) -> Result<Self> {
        let mut bits = 0u32;
        for c in classes {
            if c >= 32 {
                return Err(Error::invalid_argument(format!("class index {c} is not below 32")));
            }
            bits |= 1 << c;
        }
        Ok(ClassSet(bits))
    }

    pub fn contains(self, class: usize) -> bool {
        class < 32 && self.0 & (1 << class) != 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes, in increasing index order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..32).filter(move |&c| self.contains(c))
    }
}

/// A frame-sized plane of bytes: `height` rows of `width`, `stride` bytes apart.
pub struct PlaneMut<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
}

/// One plane per class of `classes` (in increasing class order), `plane_stride` bytes apart;
/// each holds the class probability x 255, rounded.
pub struct SoftMasks<'a> {
    pub classes: ClassSet,
    pub data: &'a mut [u8],
    pub stride: usize,
    pub plane_stride: usize,
}

/// One plane for the set `classes`: the summed probability of its classes x 255 (`soft`), or
/// 255 where the pixel's label is in the set and 0 elsewhere.
pub struct ClassSetMask<'a> {
    pub classes: ClassSet,
    pub soft: bool,
    pub data: &'a mut [u8],
    pub stride: usize,
}

/// The outputs a parse should write; at least one must be requested.
#[derive(Default)]
pub struct Outputs<'a> {
    pub labels: Option<PlaneMut<'a>>,
    pub soft_masks: Option<SoftMasks<'a>>,
    pub class_set: Option<ClassSetMask<'a>>,
}

/// A `width x height` plane must fit in `len` bytes with rows `stride` apart; returns the bytes
/// it spans.
pub(crate) fn check_plane(
    name: &str,
    len: usize,
    stride: usize,
    width: usize,
    height: usize,
) -> Result<usize> {
    if stride < width {
        return Err(Error::invalid_argument(format!(
            "{name} row stride {stride} is smaller than the width {width}"
        )));
    }
    let needed = stride
        .checked_mul(height - 1)
        .and_then(|v| v.checked_add(width))
        .ok_or_else(|| Error::invalid_argument(format!("{name} row stride {stride} overflows")))?;
    if len < needed {
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!("{name} buffer has {len} bytes, {width}x{height} needs {needed}"),
        ));
    }
    Ok(needed)
}

fn check_classes(name: &str, set: ClassSet, classes: usize) -> Result<()> {
    if set.is_empty() {
        return Err(Error::invalid_argument(format!("{name}: the class set is empty")));
    }
    if let Some(c) = set.iter().find(|&c| c >= classes) {
        return Err(Error::invalid_argument(format!(
            "{name}: class {c} is not one of the model's {classes}"
        )));
    }
    Ok(())
}

impl<'a> Outputs<'a> {
    /// Only a label map: one class index per pixel into `labels`, rows `stride` bytes apart.
    pub fn label_map(labels: &'a mut [u8], stride: usize) -> Self {
        Outputs { labels: Some(PlaneMut { data: labels, stride }), ..Default::default() }
    }

    /// Checks every requested buffer holds a `width x height` frame and names known classes.
    pub(crate) fn check(&self, width: usize, height: usize, classes: usize) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::invalid_argument("the frame is empty"));
        }
        if self.labels.is_none() && self.soft_masks.is_none() && self.class_set.is_none() {
            return Err(Error::invalid_argument("no output requested"));
        }
        if let Some(p) = &self.labels {
            check_plane("labels", p.data.len(), p.stride, width, height)?;
        }
        if let Some(s) = &self.soft_masks {
            check_classes("soft masks", s.classes, classes)?;
            let plane = check_plane("soft mask", s.plane_stride, s.stride, width, height)?;
            let needed = s
                .plane_stride
                .checked_mul(s.classes.len() - 1)
                .and_then(|v| v.checked_add(plane))
                .ok_or_else(|| Error::invalid_argument("soft mask plane stride overflows"))?;
            if s.data.len() < needed {
                return Err(Error::new(
                    ErrorKind::BufferTooSmall,
                    format!(
                        "soft mask buffer has {} bytes, {} planes need {needed}",
                        s.data.len(),
                        s.classes.len()
                    ),
                ));
            }
        }
        if let Some(m) = &self.class_set {
            check_classes("class-set mask", m.classes, classes)?;
            check_plane("class-set mask", m.data.len(), m.stride, width, height)?;
        }
        Ok(())
    }

    /// Sets every requested pixel to "background, certainly".
    pub(crate) fn clear(&mut self, width: usize, height: usize) {
        let rows = |data: &mut [u8], stride: usize, value: u8| {
            for y in 0..height {
                data[y * stride..y * stride + width].fill(value);
            }
        };
        if let Some(p) = &mut self.labels {
            rows(p.data, p.stride, 0);
        }
        if let Some(s) = &mut self.soft_masks {
            for (i, class) in s.classes.iter().enumerate() {
                let value = if class == 0 { 255 } else { 0 };
                rows(&mut s.data[i * s.plane_stride..], s.stride, value);
            }
        }
        if let Some(m) = &mut self.class_set {
            rows(m.data, m.stride, if m.classes.contains(0) { 255 } else { 0 });
        }
    }

    /// Whether the outputs need class probabilities (not only the argmax).
    fn needs_probabilities(&self) -> bool {
        self.soft_masks.is_some() || self.class_set.as_ref().is_some_and(|m| m.soft)
    }
}

/// Writes per-pixel results into [`Outputs`], resolving overlapping faces.
pub(crate) struct OutputWriter<'o, 'a> {
    outputs: &'o mut Outputs<'a>,
    width: usize,
    probabilities: Vec<f32>,
    /// Per frame pixel, 1 + the not-background confidence (0..=255) of the face that wrote it,
    /// 0 where none has; only kept when several faces share the frame.
    owner: Option<&'o mut Vec<u16>>,
    /// Whether `put` needs the softmax, not only the argmax (fixed for the writer's life).
    need_probabilities: bool,
}

impl<'o, 'a> OutputWriter<'o, 'a> {
    /// A writer for a `width x height` frame whose outputs were checked; clears them.
    /// `owner` (scratch reused between calls) is needed when more than one face is written.
    pub fn new(
        outputs: &'o mut Outputs<'a>,
        width: usize,
        height: usize,
        owner: Option<&'o mut Vec<u16>>,
    ) -> Self {
        outputs.clear(width, height);
        let mut owner = owner;
        if let Some(o) = owner.as_deref_mut() {
            o.clear();
            o.resize(width * height, 0);
        }
        let need_probabilities = outputs.needs_probabilities() || owner.is_some();
        OutputWriter { outputs, width, probabilities: Vec::new(), owner, need_probabilities }
    }

    /// Writes frame pixel (x, y) from its resampled class `scores` (logits).
    pub fn put(&mut self, x: usize, y: usize, scores: &[f32]) {
        let label = argmax(scores);
        if self.need_probabilities {
            softmax(scores, &mut self.probabilities);
        }
        if let Some(owner) = &mut self.owner {
            let confidence = 1 + to_byte(1.0 - self.probabilities[0]) as u16;
            let slot = &mut owner[y * self.width + x];
            if confidence <= *slot {
                return;
            }
            *slot = confidence;
        }
        if let Some(p) = &mut self.outputs.labels {
            p.data[y * p.stride + x] = label;
        }
        if let Some(s) = &mut self.outputs.soft_masks {
            for (i, class) in s.classes.iter().enumerate() {
                s.data[i * s.plane_stride + y * s.stride + x] = to_byte(self.probabilities[class]);
            }
        }
        if let Some(m) = &mut self.outputs.class_set {
            m.data[y * m.stride + x] = if m.soft {
                to_byte(m.classes.iter().map(|c| self.probabilities[c]).sum())
            } else if m.classes.contains(label as usize) {
                255
            } else {
                0
            };
        }
    }
}

/// A probability as a byte: x 255, rounded, clamped.
fn to_byte(p: f32) -> u8 {
    (p * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Index of the largest value; the first one wins ties (as torch's argmax); NaN never wins.
pub(crate) fn argmax(values: &[f32]) -> u8 {
    let mut best = (0u8, f32::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best.1 {
            best = (i as u8, v);
        }
    }
    best.0
}

/// Softmax of `scores` into `out`, shifted by the maximum so no exponent overflows.
fn softmax(scores: &[f32], out: &mut Vec<f32>) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    out.clear();
    out.extend(scores.iter().map(|&s| (s - max).exp()));
    let sum: f32 = out.iter().sum();
    out.iter_mut().for_each(|p| *p /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_sets_hold_their_classes_in_order() {
        let set = ClassSet::of([13, 2, 0]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 2, 13]);
        assert_eq!(set.len(), 3);
        assert!(ClassSet::of([32]).is_err());
    }

    #[test]
    fn one_pixel_gets_consistent_labels_and_probabilities() {
        let (mut labels, mut soft, mut set) = (vec![9u8; 2], vec![9u8; 4], vec![9u8; 2]);
        let mut outputs = Outputs {
            labels: Some(PlaneMut { data: &mut labels, stride: 2 }),
            soft_masks: Some(SoftMasks {
                classes: ClassSet::of([0, 2]).unwrap(),
                data: &mut soft,
                stride: 2,
                plane_stride: 2,
            }),
            class_set: Some(ClassSetMask {
                classes: ClassSet::of([1, 2]).unwrap(),
                soft: true,
                data: &mut set,
                stride: 2,
            }),
        };
        outputs.check(2, 1, 3).unwrap();
        let mut writer = OutputWriter::new(&mut outputs, 2, 1, None);
        // Probabilities 0.2, 0.2, 0.6.
        let l = 0.2f32.ln();
        writer.put(1, 0, &[l, l, 0.6f32.ln()]);
        drop(writer);
        assert_eq!(labels, vec![0, 2]);
        // Pixel 0 stays certain background.
        assert_eq!(soft, vec![255, 51, 0, 153]);
        assert_eq!(set, vec![0, 204]);
    }

    #[test]
    fn overlapping_faces_keep_the_more_confident_one() {
        let mut labels = vec![0u8; 1];
        let mut outputs =
            Outputs { labels: Some(PlaneMut { data: &mut labels, stride: 1 }), ..Default::default() };
        let mut owner = Vec::new();
        let mut writer = OutputWriter::new(&mut outputs, 1, 1, Some(&mut owner));
        writer.put(0, 0, &[0.0, 3.0]); // hair, confident
        writer.put(0, 0, &[1.0, 0.5]); // background from a second face
        drop(writer);
        assert_eq!(labels, vec![1]);
    }

    #[test]
    fn short_buffers_and_unknown_classes_are_refused() {
        let mut small = vec![0u8; 5];
        let outputs =
            Outputs { labels: Some(PlaneMut { data: &mut small, stride: 3 }), ..Default::default() };
        assert_eq!(outputs.check(3, 2, 19).unwrap_err().kind(), ErrorKind::BufferTooSmall);
        let mut buf = vec![0u8; 6];
        let outputs = Outputs {
            class_set: Some(ClassSetMask {
                classes: ClassSet(1 << 19),
                soft: false,
                data: &mut buf,
                stride: 3,
            }),
            ..Default::default()
        };
        assert!(outputs.check(3, 2, 19).is_err());
        assert!(Outputs::default().check(3, 2, 19).is_err());
    }
}
