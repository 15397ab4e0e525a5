//! Video sessions on real photos: without smoothing a video frame is parsed as a still; a steady
//! scene stays put under smoothing; a scene cut is carried over by smoothing until `reset`; the
//! detector runs on one frame in `detect_every`; faces are followed and their crops smoothed.
#![cfg(feature = "convert")]

use crate::common;

use common::*;
use segface::{ErrorKind, ImageView, VideoOptions, VideoSession};
use segface::{Face, FaceBox, Frame, Orientation};
use segface::{Outputs, PlaneMut};

fn labels_of(video: &mut VideoSession, img: &image::RgbImage, faces: Option<&[Face]>) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let mut labels = vec![0u8; w * h];
    let mut outputs =
        Outputs { labels: Some(PlaneMut { data: &mut labels, stride: w }), ..Default::default() };
    video.parse(&Frame::Packed(view), Orientation::default(), faces, &mut outputs).unwrap();
    labels
}

fn still_labels(img: &image::RgbImage, faces: &[Face]) -> Vec<u8> {
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let mut labels = vec![0u8; (img.width() * img.height()) as usize];
    model_256()
        .session()
        .unwrap()
        .parse_frame(
            &Frame::Packed(view),
            Orientation::default(),
            faces,
            &mut Outputs::label_map(&mut labels, img.width() as usize),
        )
        .unwrap();
    labels
}

/// The Grace Hopper photo at the astronaut's size (a different scene of the same size).
fn second_scene() -> image::RgbImage {
    let a = astronaut_rgb();
    image::imageops::resize(
        &photo("grace_hopper.jpg"),
        a.width(),
        a.height(),
        image::imageops::FilterType::Triangle,
    )
}

#[test]
fn without_smoothing_each_frame_is_parsed_as_a_still() {
    let options = VideoOptions { smoothing: 0.0, ..Default::default() };
    let mut video = VideoSession::new(model_256(), None, options).unwrap();
    let (a, b) = (astronaut_rgb(), second_scene());
    let face = [Face::Box(FaceBox { x: 40.0, y: 10.0, width: 400.0, height: 400.0 })];
    assert_eq!(labels_of(&mut video, &a, None), still_labels(&a, &[]));
    assert_eq!(labels_of(&mut video, &b, None), still_labels(&b, &[]));
    assert_eq!(labels_of(&mut video, &a, Some(&face)), still_labels(&a, &face));
}

#[test]
fn smoothing_holds_a_steady_scene_and_carries_a_cut_until_reset() {
    let options = VideoOptions { smoothing: 0.9, ..Default::default() };
    let mut video = VideoSession::new(model_256(), None, options).unwrap();
    let (a, b) = (astronaut_rgb(), second_scene());
    let (still_a, still_b) = (still_labels(&a, &[]), still_labels(&b, &[]));
    for _ in 0..5 {
        let steady = labels_of(&mut video, &a, None);
        assert!(agreement(&steady, &still_a) > 0.9999);
    }
    // The cut: most of the first frame after it still shows the old scene's labels.
    let after_cut = labels_of(&mut video, &b, None);
    let (with_a, with_b) = (agreement(&after_cut, &still_a), agreement(&after_cut, &still_b));
    println!(
        "first frame after a cut at smoothing 0.9: {:.1} % old scene, {:.1} % new",
        100.0 * with_a,
        100.0 * with_b
    );
    assert!(with_a > with_b, "{with_a} vs {with_b}");
    // Ten more frames of the new scene: the old one fades (weight 0.9^11 = 0.31).
    let mut last = after_cut;
    for _ in 0..10 {
        last = labels_of(&mut video, &b, None);
    }
    assert!(agreement(&last, &still_b) > with_b);
    // After reset the next frame stands alone.
    video.reset();
    assert_eq!(video.faces().count(), 0);
    assert_eq!(labels_of(&mut video, &b, None), still_b);
}

#[test]
fn the_detector_runs_on_one_frame_in_detect_every_and_faces_are_followed() {
    let options = VideoOptions { smoothing: 0.5, detect_every: 3, min_score: 0.7, ..Default::default() };
    let mut video = VideoSession::new(model_256(), Some(detector().clone()), options).unwrap();
    let a = astronaut_rgb();
    let view = ImageView::rgb(a.as_raw(), a.width(), a.height()).unwrap();
    let detected = detector().detect(&Frame::Packed(view), Orientation::default(), 0.7).unwrap();
    assert_eq!(detected.len(), 1);
    let mut located = Vec::new();
    for _ in 0..7 {
        labels_of(&mut video, &a, None);
        let faces: Vec<_> = video.faces().copied().collect();
        assert_eq!(faces.len(), 1);
        assert_eq!(faces[0].face, Face::Box(detected[0].segface_crop()));
        assert_eq!(faces[0].detection, Some(detected[0]));
        located.push(faces[0].located_this_frame);
    }
    assert_eq!(located, [true, false, false, true, false, false, true]);
    // The detected crop parses like a still with that box (smoothing a steady scene changes
    // nothing).
    let still = still_labels(&a, &[Face::Box(detected[0].segface_crop())]);
    assert!(agreement(&labels_of(&mut video, &a, None), &still) > 0.9999);

    // A caller's face that moved a little is followed: its crop moves half way (smoothing 0.5).
    let first = FaceBox { x: 40.0, y: 10.0, width: 400.0, height: 400.0 };
    let moved = FaceBox { x: 60.0, y: 30.0, width: 400.0, height: 400.0 };
    video.reset();
    labels_of(&mut video, &a, Some(&[Face::Box(first)]));
    labels_of(&mut video, &a, Some(&[Face::Box(moved)]));
    let followed = video.faces().next().unwrap().face;
    assert_eq!(followed, Face::Box(FaceBox { x: 50.0, y: 20.0, width: 400.0, height: 400.0 }));
    // One that jumped elsewhere starts afresh.
    let far = FaceBox { x: 300.0, y: 300.0, width: 200.0, height: 200.0 };
    labels_of(&mut video, &a, Some(&[Face::Box(far)]));
    assert_eq!(video.faces().next().unwrap().face, Face::Box(far));

    // A frame without faces: nothing found, all background, and the next frame looks again.
    let blank = image::RgbImage::from_pixel(a.width(), a.height(), image::Rgb([128, 128, 128]));
    video.reset();
    assert!(labels_of(&mut video, &blank, None).iter().all(|&l| l == 0));
    assert_eq!(video.faces().count(), 0);
    labels_of(&mut video, &a, None);
    assert!(video.faces().next().unwrap().located_this_frame);
}

#[test]
fn bad_options_are_refused() {
    for options in [
        VideoOptions { smoothing: 1.0, ..Default::default() },
        VideoOptions { smoothing: f32::NAN, ..Default::default() },
        VideoOptions { detect_every: 0, ..Default::default() },
        VideoOptions { min_score: 1.5, ..Default::default() },
        VideoOptions { max_faces: 0, ..Default::default() },
    ] {
        let err = VideoSession::new(model_256(), None, options).err().expect("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
}
