//! The face detector (RetinaFace, trained weights in models/) on the public-domain portraits:
//! it finds each face where the reference decoding (ONNX Runtime + the same priors) puts it, in
//! any frame orientation, and several faces in one frame.

use crate::common;

use common::*;
use segface::{DetectedFace, FaceDetector};
use segface::{ErrorKind, ImageView, PixelFormat};
use segface::{FaceBox, Frame, Orientation, Rotation};

fn detect(img: &image::RgbImage, orientation: Orientation) -> Vec<DetectedFace> {
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    detector().detect(&Frame::Packed(view), orientation, 0.6).unwrap()
}

fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let ix = (a.x + a.width).min(b.x + b.width) - a.x.max(b.x);
    let iy = (a.y + a.height).min(b.y + b.height) - a.y.max(b.y);
    let inter = ix.max(0.0) * iy.max(0.0);
    inter / (a.width * a.height + b.width * b.height - inter)
}

/// Boxes from ONNX Runtime with PIL's bilinear letterbox and RetinaFace's decoding.
fn reference_box(name: &str) -> FaceBox {
    let (x0, y0, x1, y1) = match name {
        "astronaut.png" => (177.8, 58.6, 272.6, 178.4),
        _ => (176.7, 114.1, 350.9, 333.5),
    };
    FaceBox { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
}

#[test]
fn each_portrait_has_one_face_where_the_reference_finds_it() {
    for name in ["astronaut.png", "grace_hopper.jpg"] {
        let faces = detect(&photo(name), Orientation::default());
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let face = faces[0];
        let overlap = iou(&face.bbox, &reference_box(name));
        println!("{name}: score {:.3}, box {:?}, IoU with the reference {overlap:.3}", face.score, face.bbox);
        assert!(face.score > 0.95 && overlap > 0.95, "{name}: {face:?}");
        // Eyes above the nose, the nose above the mouth corners, all inside the box.
        let [le, re, nose, lm, rm] = face.landmarks;
        assert!(le[1] < nose[1] && re[1] < nose[1] && nose[1] < lm[1] && nose[1] < rm[1], "{face:?}");
        assert!(le[0] < re[0] && lm[0] < rm[0], "{face:?}");
        for [x, y] in face.landmarks {
            let b = face.bbox;
            assert!(x > b.x && x < b.x + b.width && y > b.y && y < b.y + b.height, "{face:?}");
        }
    }
}

#[test]
fn both_faces_are_found_in_one_frame_in_any_orientation() {
    let (a, g) = (photo("astronaut.png"), photo("grace_hopper.jpg"));
    let mut frame = image::RgbImage::from_pixel(1100, 640, image::Rgb([40, 40, 40]));
    image::imageops::replace(&mut frame, &a, 20, 60);
    image::imageops::replace(&mut frame, &g, 560, 20);
    let upright = detect(&frame, Orientation::default());
    assert_eq!(upright.len(), 2, "{upright:?}");
    let mut xs: Vec<f32> = upright.iter().map(|f| f.bbox.x).collect();
    xs.sort_by(f32::total_cmp);
    assert!((xs[0] - (20.0 + 177.8)).abs() < 12.0 && (xs[1] - (560.0 + 176.7)).abs() < 12.0, "{upright:?}");

    // The same frame as a sensor rotated by 90 degrees delivers it: same upright boxes.
    let orientation = Orientation { rotation: Rotation::R90, mirror: false };
    let (fw, fh) = (frame.height(), frame.width());
    let mut sensor = image::RgbImage::new(fw, fh);
    for (x, y, p) in frame.enumerate_pixels() {
        let (sx, sy) = orientation.to_frame(x as usize, y as usize, fw as usize, fh as usize);
        sensor.put_pixel(sx as u32, sy as u32, *p);
    }
    let view = ImageView::new(sensor.as_raw(), fw, fh, fw as usize * 3, PixelFormat::Rgb8).unwrap();
    let rotated = detector().detect(&Frame::Packed(view), orientation, 0.6).unwrap();
    assert_eq!(rotated.len(), 2);
    for face in &rotated {
        let best = upright.iter().map(|u| iou(&u.bbox, &face.bbox)).fold(0.0, f32::max);
        assert!(best > 0.9, "{face:?} vs {upright:?}");
    }
}

#[test]
fn a_blank_frame_has_no_face_and_bad_detectors_are_refused() {
    let blank = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    assert!(detect(&blank, Orientation::default()).is_empty());
    let view = ImageView::rgb(blank.as_raw(), 320, 240).unwrap();
    let err = detector().detect(&Frame::Packed(view), Orientation::default(), f32::NAN).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let bytes = std::fs::read(repo().join("models/retinaface_mnet.onnx")).unwrap();
    assert_eq!(FaceDetector::load(&bytes, 100).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(FaceDetector::load(&bytes[..1000], 320).unwrap_err().kind(), ErrorKind::InvalidModel);
    // A SegFace model is not a detector.
    #[cfg(feature = "convert")]
    assert_eq!(FaceDetector::load(onnx_256(), 256).unwrap_err().kind(), ErrorKind::InvalidModel);
}
