//! Soft masks and class-set masks on a real photo: consistent with the label map, in the frame's
//! own orientation, background outside the face, several faces resolved by confidence, and bad
//! buffers refused.
#![cfg(feature = "convert")]

use crate::common;

use common::*;
use segface::{ClassSet, ClassSetMask, Outputs, PlaneMut, SoftMasks};
use segface::{ErrorKind, ImageView};
use segface::{Face, FaceBox, Frame, Orientation, Rotation};

/// Everything one parse can write for a frame of `w x h`.
struct Planes {
    labels: Vec<u8>,
    soft: Vec<u8>,
    hard_set: Vec<u8>,
}

const HAIR: usize = 14;

fn parse_all(frame: &Frame, orientation: Orientation, faces: &[Face], set: ClassSet) -> (Planes, Vec<u8>) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let classes = model_256().info().classes.len();
    let mut planes =
        Planes { labels: vec![7; w * h], soft: vec![7; w * h * classes], hard_set: vec![7; w * h] };
    let mut soft_set = vec![7u8; w * h];
    let mut session = model_256().session().unwrap();
    let all = ClassSet::of(0..classes).unwrap();
    let mut outputs = Outputs {
        labels: Some(PlaneMut { data: &mut planes.labels, stride: w }),
        soft_masks: Some(SoftMasks { classes: all, data: &mut planes.soft, stride: w, plane_stride: w * h }),
        class_set: Some(ClassSetMask { classes: set, soft: false, data: &mut planes.hard_set, stride: w }),
    };
    session.parse_frame(frame, orientation, faces, &mut outputs).unwrap();
    let mut outputs = Outputs {
        class_set: Some(ClassSetMask { classes: set, soft: true, data: &mut soft_set, stride: w }),
        ..Default::default()
    };
    session.parse_frame(frame, orientation, faces, &mut outputs).unwrap();
    (planes, soft_set)
}

#[test]
fn soft_masks_and_class_set_masks_agree_with_the_labels() {
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let frame = Frame::Packed(view);
    let classes = model_256().info().classes.len();
    let set = ClassSet::of([HAIR, 2]).unwrap(); // hair and skin
    let face = Face::Box(FaceBox { x: 40.0, y: 10.0, width: 400.0, height: 400.0 });
    let (planes, soft_set) = parse_all(&frame, Orientation::default(), &[face], set);

    // The labels are exactly the labels-only path's.
    let mut labels_only = vec![0u8; w * h];
    model_256()
        .session()
        .unwrap()
        .parse_frame(&frame, Orientation::default(), &[face], &mut Outputs::label_map(&mut labels_only, w))
        .unwrap();
    assert_eq!(planes.labels, labels_only);

    let (mut sum_off, mut argmax_off, mut soft_set_off) = (0usize, 0usize, 0usize);
    for (p, &soft_set_value) in soft_set.iter().enumerate() {
        let probs: Vec<u8> = (0..classes).map(|c| planes.soft[c * w * h + p]).collect();
        let label = planes.labels[p] as usize;
        // Rounding each of 19 probabilities moves the sum by at most 9.5.
        let sum: i32 = probs.iter().map(|&v| v as i32).sum();
        sum_off += usize::from((sum - 255).abs() > 10);
        // The label's probability is the largest (up to the rounding of a near tie).
        argmax_off += usize::from(probs.iter().any(|&v| v as i32 > probs[label] as i32 + 1));
        let expected_set = probs[HAIR] as i32 + probs[2] as i32;
        soft_set_off += usize::from((soft_set_value as i32 - expected_set.min(255)).abs() > 1);
        assert_eq!(planes.hard_set[p], if set.contains(label) { 255 } else { 0 }, "pixel {p}");
    }
    assert_eq!((sum_off, argmax_off, soft_set_off), (0, 0, 0));
    // Outside the box: certain background.
    let outside = (0..w * h).filter(|&p| p % w >= 440 || p / w >= 410);
    for p in outside {
        assert_eq!(planes.labels[p], 0);
        assert_eq!(planes.soft[p], 255);
        assert!((1..classes).all(|c| planes.soft[c * w * h + p] == 0));
        assert_eq!(soft_set[p], 0);
    }
    let hair = planes.hard_set.iter().filter(|&&v| v == 255).count();
    println!("hair+skin mask covers {:.1} % of the photo", 100.0 * hair as f64 / (w * h) as f64);
}

#[test]
fn masks_come_back_in_the_frames_orientation() {
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let set = ClassSet::of([HAIR]).unwrap();
    let (upright, _) = parse_all(&Frame::Packed(view), Orientation::default(), &[], set);
    // The photo as a sensor turned by 90 degrees delivers it (so rotating by 90 makes it upright).
    let o = Orientation { rotation: Rotation::R90, mirror: true };
    let (fw, fh) = o.upright_size(w, h);
    let mut sensor = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = o.to_frame(x, y, fw, fh);
            sensor[(fy * fw + fx) * 3..(fy * fw + fx) * 3 + 3]
                .copy_from_slice(&img.as_raw()[(y * w + x) * 3..(y * w + x) * 3 + 3]);
        }
    }
    let sensor_view = ImageView::rgb(&sensor, fw as u32, fh as u32).unwrap();
    let (turned, _) = parse_all(&Frame::Packed(sensor_view), o, &[], set);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = o.to_frame(x, y, fw, fh);
            assert_eq!(turned.hard_set[fy * fw + fx], upright.hard_set[y * w + x]);
            assert_eq!(turned.soft[fy * fw + fx], upright.soft[y * w + x]);
        }
    }
}

#[test]
fn overlapping_faces_take_the_more_confident_result() {
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let frame = Frame::Packed(view);
    let a = Face::Box(FaceBox { x: 40.0, y: 10.0, width: 400.0, height: 400.0 });
    let b = Face::Box(FaceBox { x: 140.0, y: 60.0, width: 300.0, height: 300.0 });
    let set = ClassSet::of([HAIR]).unwrap();
    let (both, _) = parse_all(&frame, Orientation::default(), &[a, b], set);
    let (only_a, _) = parse_all(&frame, Orientation::default(), &[a], set);
    let (only_b, _) = parse_all(&frame, Orientation::default(), &[b], set);
    let background = |planes: &Planes, p: usize| planes.soft[p];
    for p in 0..w * h {
        // Each pixel comes from the face less sure it is background (the first on a tie).
        let expected = if background(&only_b, p) < background(&only_a, p) { &only_b } else { &only_a };
        assert_eq!(both.labels[p], expected.labels[p], "pixel {p}");
        assert_eq!(both.hard_set[p], expected.hard_set[p], "pixel {p}");
    }
}

#[test]
fn bad_output_buffers_are_refused_untouched() {
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let frame = Frame::Packed(view);
    let mut session = model_256().session().unwrap();
    let mut small = vec![7u8; w * h - 1];
    let mut outputs = Outputs {
        soft_masks: Some(SoftMasks {
            classes: ClassSet::of([0]).unwrap(),
            data: &mut small,
            stride: w,
            plane_stride: w * h,
        }),
        ..Default::default()
    };
    let err = session.parse_frame(&frame, Orientation::default(), &[], &mut outputs).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall, "{err}");
    let mut plane = vec![7u8; w * h];
    for classes in [ClassSet(0), ClassSet(1 << 25)] {
        let mut outputs = Outputs {
            class_set: Some(ClassSetMask { classes, soft: false, data: &mut plane, stride: w }),
            ..Default::default()
        };
        let err = session.parse_frame(&frame, Orientation::default(), &[], &mut outputs).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    let err = session.parse_frame(&frame, Orientation::default(), &[], &mut Outputs::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(small.iter().chain(&plane).all(|&v| v == 7), "a refused call wrote output");
}
