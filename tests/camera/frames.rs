//! Camera frames: YUV layouts, rotation and mirroring, face boxes inside larger frames and faces
//! placed by landmarks, each checked against the plain RGB path on the same real photo.
#![cfg(feature = "convert")]

use crate::common;

use common::*;
use segface::internals::AlignedSquare;
use segface::{ErrorKind, ImageView, PixelFormat};
use segface::{Face, FaceBox, Frame, Orientation, Outputs, Plane, Rotation, YuvRange};

const ORIENTATIONS: [Rotation; 4] = [Rotation::R0, Rotation::R90, Rotation::R180, Rotation::R270];

/// The frame a camera in orientation `o` would deliver for the upright RGB image: frame pixel
/// `o.to_frame(x, y)` shows upright pixel `(x, y)`.
fn as_sensor_frame(upright: &[u8], uw: usize, uh: usize, o: Orientation) -> (Vec<u8>, usize, usize) {
    let (fw, fh) = o.upright_size(uw, uh); // the swap is its own inverse
    let mut frame = vec![0u8; fw * fh * 3];
    for y in 0..uh {
        for x in 0..uw {
            let (fx, fy) = o.to_frame(x, y, fw, fh);
            frame[(fy * fw + fx) * 3..(fy * fw + fx) * 3 + 3]
                .copy_from_slice(&upright[(y * uw + x) * 3..(y * uw + x) * 3 + 3]);
        }
    }
    (frame, fw, fh)
}

/// Frame labels seen upright again.
fn upright_labels(frame_labels: &[u8], fw: usize, fh: usize, o: Orientation) -> Vec<u8> {
    let (uw, uh) = o.upright_size(fw, fh);
    let mut out = vec![0u8; uw * uh];
    for y in 0..uh {
        for x in 0..uw {
            let (fx, fy) = o.to_frame(x, y, fw, fh);
            out[y * uw + x] = frame_labels[fy * fw + fx];
        }
    }
    out
}

fn parse_frame(frame: &Frame, orientation: Orientation, face: Option<Face>) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut labels = vec![0xEEu8; w * h];
    let mut outputs = Outputs::label_map(&mut labels, w);
    model_256().session().unwrap().parse_frame(frame, orientation, face.as_slice(), &mut outputs).unwrap();
    labels
}

fn rgb_path_labels() -> (Vec<u8>, usize, usize) {
    let img = astronaut_rgb();
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let labels = model_256().session().unwrap().parse(&view).unwrap().labels;
    (labels, img.width() as usize, img.height() as usize)
}

#[test]
fn rotated_and_mirrored_frames_give_the_upright_labels_exactly() {
    let img = astronaut_rgb();
    let (uw, uh) = (img.width() as usize, img.height() as usize);
    let (expected, ..) = rgb_path_labels();
    for rotation in ORIENTATIONS {
        for mirror in [false, true] {
            let orientation = Orientation { rotation, mirror };
            let (pixels, fw, fh) = as_sensor_frame(img.as_raw(), uw, uh, orientation);
            let view = ImageView::new(&pixels, fw as u32, fh as u32, fw * 3, PixelFormat::Rgb8).unwrap();
            let labels = parse_frame(&Frame::Packed(view), orientation, None);
            let agree = agreement(&upright_labels(&labels, fw, fh, orientation), &expected);
            assert_eq!(agree, 1.0, "{orientation:?}: {agree}");
        }
    }
}

/// Full-range BT.601 YUV 4:2:0 of an RGB image (chroma averaged over each 2x2 block), as a
/// camera would deliver it: planes Y (w x h), U and V (w/2 x h/2).
fn to_yuv420(rgb: &[u8], w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let px = |x: usize, y: usize| {
        let p = &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
        (p[0] as f64, p[1] as f64, p[2] as f64)
    };
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    let y_plane = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| {
        let (r, g, b) = px(x, y);
        clamp(0.299 * r + 0.587 * g + 0.114 * b)
    });
    let (cw, ch) = (w / 2, h / 2);
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut su, mut sv) = (0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (r, g, b) = px(cx * 2 + dx, cy * 2 + dy);
                su += -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0;
                sv += 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0;
            }
            u[cy * cw + cx] = clamp(su / 4.0);
            v[cy * cw + cx] = clamp(sv / 4.0);
        }
    }
    (y_plane.collect(), u, v)
}

#[test]
fn nv21_nv12_i420_and_strided_planes_agree_with_the_rgb_path() {
    let img = astronaut_rgb();
    let (uw, uh) = (img.width() as usize, img.height() as usize);
    let (expected, ..) = rgb_path_labels();
    let mut worst: f64 = 1.0;
    for orientation in [Orientation::default(), Orientation { rotation: Rotation::R270, mirror: true }] {
        let (pixels, fw, fh) = as_sensor_frame(img.as_raw(), uw, uh, orientation);
        let (y, u, v) = to_yuv420(&pixels, fw, fh);
        let (cw, ch) = (fw / 2, fh / 2);
        let vu: Vec<u8> = (0..cw * ch).flat_map(|i| [v[i], u[i]]).collect();
        let uv: Vec<u8> = (0..cw * ch).flat_map(|i| [u[i], v[i]]).collect();
        // Android YUV_420_888 with padded rows: Y rows of fw + 64 bytes, chroma interleaved
        // (pixel stride 2) in rows of fw + 64 bytes.
        let pad = 64;
        let padded_y: Vec<u8> = y.chunks(fw).flat_map(|row| row.iter().copied().chain([0; 64])).collect();
        let padded_vu: Vec<u8> = vu.chunks(fw).flat_map(|row| row.iter().copied().chain([0; 64])).collect();
        let frames = [
            ("NV21", Frame::nv21(fw as u32, fh as u32, &y, fw, &vu, fw).unwrap()),
            ("NV12", Frame::nv12(fw as u32, fh as u32, &y, fw, &uv, fw, YuvRange::Full).unwrap()),
            (
                "I420",
                Frame::i420(fw as u32, fh as u32, (&y, fw), (&u, cw), (&v, cw), YuvRange::Full).unwrap(),
            ),
            (
                "YUV_420_888",
                Frame::yuv420(
                    fw as u32,
                    fh as u32,
                    Plane { data: &padded_y, row_stride: fw + pad, pixel_stride: 1 },
                    Plane { data: &padded_vu[1..], row_stride: fw + pad, pixel_stride: 2 },
                    Plane { data: &padded_vu, row_stride: fw + pad, pixel_stride: 2 },
                    YuvRange::Full,
                )
                .unwrap(),
            ),
        ];
        for (name, frame) in frames {
            let labels = parse_frame(&frame, orientation, None);
            let agree = agreement(&upright_labels(&labels, fw, fh, orientation), &expected);
            println!("{name} {orientation:?}: {:.3} % of labels equal to the RGB path", 100.0 * agree);
            worst = worst.min(agree);
        }
    }
    // YUV 4:2:0 keeps a quarter of the colour resolution and rounds twice: a few boundary
    // pixels change class, nothing else.
    assert!(worst >= 0.999, "{worst}");
}

#[test]
fn a_face_pasted_into_a_larger_frame_is_parsed_in_place() {
    let img = astronaut_rgb();
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let (expected, ..) = rgb_path_labels();
    let (fw, fh, ox, oy) = (1280usize, 720usize, 600usize, 100usize);
    let mut pixels = vec![90u8; fw * fh * 3];
    for y in 0..ih {
        let dst = ((oy + y) * fw + ox) * 3;
        pixels[dst..dst + iw * 3].copy_from_slice(&img.as_raw()[y * iw * 3..(y + 1) * iw * 3]);
    }
    let view = ImageView::new(&pixels, fw as u32, fh as u32, fw * 3, PixelFormat::Rgb8).unwrap();
    let face = FaceBox { x: ox as f32, y: oy as f32, width: iw as f32, height: ih as f32 };
    let labels = parse_frame(&Frame::Packed(view), Orientation::default(), Some(face.into()));
    let inside: Vec<u8> =
        (0..ih).flat_map(|y| labels[(oy + y) * fw + ox..(oy + y) * fw + ox + iw].to_vec()).collect();
    let agree = agreement(&inside, &expected);
    println!(
        "face box in a 1280x720 frame: {:.3} % of labels equal to the photo parsed alone",
        100.0 * agree
    );
    // Only the filter taps at the box edge see the frame around it.
    assert!(agree >= 0.999, "{agree}");
    let outside = (0..fh)
        .flat_map(|y| (0..fw).map(move |x| (x, y)))
        .filter(|&(x, y)| !(ox..ox + iw).contains(&x) || !(oy..oy + ih).contains(&y));
    assert!(outside.into_iter().all(|(x, y)| labels[y * fw + x] == 0), "labels outside the face box");
}

/// `img` turned by `angle` radians (clockwise on screen) about its origin, scaled by `scale` and
/// moved by `offset`, drawn bilinearly into a grey `fw x fh` frame; returns the frame and the
/// map from upright photo points to frame points.
fn turned_into_frame(
    img: &image::RgbImage,
    angle: f32,
    scale: f32,
    offset: [f32; 2],
    (fw, fh): (usize, usize),
) -> (Vec<u8>, impl Fn([f32; 2]) -> [f32; 2]) {
    let (c, s) = (angle.cos() * scale, angle.sin() * scale);
    let forward = move |[x, y]: [f32; 2]| [c * x - s * y + offset[0], s * x + c * y + offset[1]];
    let det = c * c + s * s;
    let inverse = move |[x, y]: [f32; 2]| {
        let (dx, dy) = (x - offset[0], y - offset[1]);
        [(c * dx + s * dy) / det, (-s * dx + c * dy) / det]
    };
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let mut frame = vec![90u8; fw * fh * 3];
    for y in 0..fh {
        for x in 0..fw {
            let [u, v] = inverse([x as f32 + 0.5, y as f32 + 0.5]);
            if !(0.0..iw).contains(&u) || !(0.0..ih).contains(&v) {
                continue;
            }
            let (su, sv) = ((u - 0.5).clamp(0.0, iw - 1.0), (v - 0.5).clamp(0.0, ih - 1.0));
            let (x0, y0) = (su as u32, sv as u32);
            let (x1, y1) = ((x0 + 1).min(img.width() - 1), (y0 + 1).min(img.height() - 1));
            let (fx, fy) = (su - x0 as f32, sv - y0 as f32);
            for ch in 0..3 {
                let p = |xx: u32, yy: u32| img.get_pixel(xx, yy)[ch] as f32;
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                frame[(y * fw + x) * 3 + ch] = (top * (1.0 - fy) + bottom * fy).round() as u8;
            }
        }
    }
    (frame, forward)
}

/// The photo on a grey `size x size` canvas at `(pad, pad)`.
fn on_canvas(photo: &image::RgbImage, size: u32, pad: i64) -> image::RgbImage {
    let mut canvas = image::RgbImage::from_pixel(size, size, image::Rgb([90, 90, 90]));
    image::imageops::replace(&mut canvas, photo, pad, pad);
    canvas
}

#[test]
fn faces_placed_by_landmarks_follow_the_face() {
    // The photo on grey canvases, so the aligned square (which reaches past the photo's top)
    // sees the same grey around the photo wherever it is.
    let photo = astronaut_rgb();
    let canvas = on_canvas(&photo, 1024, 256);
    let view = ImageView::rgb(canvas.as_raw(), canvas.width(), canvas.height()).unwrap();
    let found = detector().detect(&Frame::Packed(view), Orientation::default(), 0.7).unwrap();
    assert_eq!(found.len(), 1);
    let points = found[0].landmarks;
    let face = Face::Landmarks(points);
    let mut session = model_256().session().unwrap();
    let upright_input =
        session.model_input(&Frame::Packed(view), Orientation::default(), Some(&face)).unwrap();
    let upright = parse_frame(&Frame::Packed(view), Orientation::default(), Some(face));
    let square = AlignedSquare::from_landmarks(&points).unwrap();
    let inside = |sq: &AlignedSquare, x: usize, y: usize| {
        let (u, v) = sq.to_model([x as f32 + 0.5, y as f32 + 0.5], 1.0);
        (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v)
    };
    let n = canvas.width() as usize;
    let labelled_outside = (0..n * n).filter(|&i| !inside(&square, i % n, i / n) && upright[i] != 0).count();
    assert_eq!(labelled_outside, 0, "labels outside the aligned square");

    // Moved by whole pixels: the same crop, the same labels, moved.
    let (dx, dy) = (-137i64, 61i64);
    let shifted = {
        let mut c = image::RgbImage::from_pixel(1024, 1024, image::Rgb([90, 90, 90]));
        image::imageops::replace(&mut c, &photo, 256 + dx, 256 + dy);
        c
    };
    let shifted_view = ImageView::rgb(shifted.as_raw(), 1024, 1024).unwrap();
    let moved_points = points.map(|[x, y]| [x + dx as f32, y + dy as f32]);
    let moved = parse_frame(
        &Frame::Packed(shifted_view),
        Orientation::default(),
        Some(Face::Landmarks(moved_points)),
    );
    let (mut same, mut compared) = (0usize, 0usize);
    for y in 0..n {
        for x in 0..n {
            if inside(&square, x, y) {
                let (mx, my) = ((x as i64 + dx) as usize, (y as i64 + dy) as usize);
                compared += 1;
                same += usize::from(upright[y * n + x] == moved[my * n + mx]);
            }
        }
    }
    let agree = same as f64 / compared as f64;
    println!(
        "face moved by ({dx}, {dy}) px, placed by landmarks: {:.3} % of {compared} labels equal",
        100.0 * agree
    );
    assert!(agree >= 0.995, "{agree}");

    // Turned 25 degrees and shrunk to 80 %: the model sees the same face, upright.
    let (fw, fh) = (1000usize, 900usize);
    let (pixels, to_frame) = turned_into_frame(&canvas, 25f32.to_radians(), 0.8, [250.0, -150.0], (fw, fh));
    let turned_view = ImageView::new(&pixels, fw as u32, fh as u32, fw * 3, PixelFormat::Rgb8).unwrap();
    let turned_face = Face::Landmarks(points.map(&to_frame));
    let turned_input =
        session.model_input(&Frame::Packed(turned_view), Orientation::default(), Some(&turned_face)).unwrap();
    let mean_abs = upright_input.iter().zip(&turned_input).map(|(a, b)| a.abs_diff(*b) as f64).sum::<f64>()
        / upright_input.len() as f64;
    println!("face turned 25 degrees at 80 % scale: model input differs from the upright one's by {mean_abs:.2} levels on average");
    assert!(mean_abs < 4.0, "{mean_abs}");
    // Against a crop of the turned face without the turn (its box), the difference is large.
    let unturned = Face::Box(AlignedSquare::from_landmarks(&points.map(&to_frame)).unwrap().bounds());
    let box_input =
        session.model_input(&Frame::Packed(turned_view), Orientation::default(), Some(&unturned)).unwrap();
    let box_mean_abs = upright_input.iter().zip(&box_input).map(|(a, b)| a.abs_diff(*b) as f64).sum::<f64>()
        / upright_input.len() as f64;
    assert!(box_mean_abs > 4.0 * mean_abs, "{box_mean_abs} vs {mean_abs}");

    // Landmarks that place no square are refused.
    let mut labels = vec![0u8; n * n];
    for bad in [[[10.0f32, 10.0]; 5], [[f32::NAN, 0.0]; 5], points.map(|[x, y]| [x + 1e5, y])] {
        let mut outputs = Outputs::label_map(&mut labels, n);
        let err = session
            .parse_frame(&Frame::Packed(view), Orientation::default(), &[Face::Landmarks(bad)], &mut outputs)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
}

#[test]
fn bad_frames_and_boxes_are_refused() {
    let pixels = vec![0u8; 64 * 48 * 3];
    let view = ImageView::new(&pixels, 64, 48, 64 * 3, PixelFormat::Rgb8).unwrap();
    let mut session = model_256().session().unwrap();
    let mut labels = vec![0u8; 64 * 48];
    for face in [
        FaceBox { x: 100.0, y: 0.0, width: 10.0, height: 10.0 },
        FaceBox { x: 0.0, y: 0.0, width: f32::NAN, height: 10.0 },
        FaceBox { x: 0.0, y: 0.0, width: -5.0, height: 10.0 },
    ] {
        let mut outputs = Outputs::label_map(&mut labels, 64);
        let err = session
            .parse_frame(&Frame::Packed(view), Orientation::default(), &[face.into()], &mut outputs)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    let err = session
        .parse_frame(
            &Frame::Packed(view),
            Orientation::default(),
            &[],
            &mut Outputs::label_map(&mut labels[..100], 64),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall, "{err}");
    // A rotated frame's labels keep the frame's (sensor) size.
    let turned = Orientation { rotation: Rotation::R90, mirror: false };
    session.parse_frame(&Frame::Packed(view), turned, &[], &mut Outputs::label_map(&mut labels, 64)).unwrap();
}
