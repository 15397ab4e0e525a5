//! The Java wrapper (`ai.segface.SegFace`, android/) compiled with javac and run on the host JVM
//! against the Linux build of libsegface, parsing the reference input.
#![cfg(feature = "convert")]

use crate::common;

use std::process::Command;

use common::*;
use segface::{Face, Frame, Orientation, Outputs, Plane, YuvRange};

/// Compiles the wrapper's plain-Java classes (not the Android-only helpers) and the host test
/// programs into `dir/classes`.
fn compile_java(dir: &std::path::Path) -> std::path::PathBuf {
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let java_src = repo().join("android/segface/src/main/java/ai/segface");
    let sources = [
        "SegFace",
        "SegFaceException",
        "Yuv420Frame",
        "FaceRegion",
        "ParseOutputs",
        "DetectedFace",
        "Precision",
    ]
    .iter()
    .chain(&["FaceDetector", "SegFaceVideo"])
    .map(|name| java_src.join(format!("{name}.java")));
    let status = Command::new("javac")
        .args(["-Xlint:all", "-Werror", "-d"])
        .arg(&classes)
        .args(sources)
        .arg(repo().join("tests/java/SegFaceHostTest.java"))
        .arg(repo().join("tests/java/FacesHostTest.java"))
        .status()
        .expect("javac");
    assert!(status.success(), "javac failed");
    classes
}

#[test]
fn java_wrapper_parses_the_reference_input() {
    let dir = scratch("jni_host");
    let classes = compile_java(&dir);

    let model = onnx_256_file("jni_host");
    let golden = Golden::load();
    let (_, rgb) = golden.u8("input_rgb_u8");
    let (_, expected) = golden.u8("labels");
    let input = dir.join("input.rgb");
    std::fs::write(&input, &rgb).unwrap();
    let out = dir.join("java.labels");
    let output = Command::new("java")
        .arg(format!("-Djava.library.path={}", shared_library_dir().display()))
        .arg("-Xcheck:jni")
        .arg("-cp")
        .arg(&classes)
        .arg("SegFaceHostTest")
        .arg(&model)
        .arg(&input)
        .args(["256", "256"])
        .arg(&out)
        .output()
        .expect("java");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "java test failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let labels = std::fs::read(&out).unwrap();
    let agree = agreement(&labels, &expected);
    println!("Java API label agreement with the reference: {:.4} %", 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");
}

#[test]
fn java_wrapper_detects_parses_masks_and_follows_a_face() {
    let dir = scratch("jni_faces");
    let classes = compile_java(&dir);
    let model = onnx_256_file("jni_faces");
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let input = dir.join("input.rgb");
    std::fs::write(&input, img.as_raw()).unwrap();
    let out = dir.join("java.labels");
    let output = Command::new("java")
        .arg(format!("-Djava.library.path={}", shared_library_dir().display()))
        .arg("-Xcheck:jni")
        .arg("-cp")
        .arg(&classes)
        .arg("FacesHostTest")
        .arg(&model)
        .arg(repo().join("models/retinaface_mnet.onnx"))
        .arg(&input)
        .args([w.to_string(), h.to_string()])
        .arg(&out)
        .output()
        .expect("java");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "java test failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let maps = std::fs::read(&out).unwrap();
    let (landmarks_labels, video_labels) = maps.split_at(w * h);

    // The same YUV frame (built as the Java test builds it) through the Rust API.
    let rgb = img.as_raw();
    let luma: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).round() as u8)
        .collect();
    let mut vu = vec![0u8; w * h / 2];
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let (mut su, mut sv) = (0f64, 0f64);
            for k in 0..4 {
                let i = ((cy * 2 + k / 2) * w + cx * 2 + k % 2) * 3;
                let (r, g, b) = (rgb[i] as f64, rgb[i + 1] as f64, rgb[i + 2] as f64);
                su += -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0;
                sv += 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0;
            }
            vu[cy * w + cx * 2] = (sv / 4.0).round().min(255.0) as u8;
            vu[cy * w + cx * 2 + 1] = (su / 4.0).round().min(255.0) as u8;
        }
    }
    let plane = |data, row_stride, pixel_stride| Plane { data, row_stride, pixel_stride };
    let frame = Frame::yuv420(
        w as u32,
        h as u32,
        plane(&luma, w, 1),
        plane(&vu[1..], w, 2),
        plane(&vu, w, 2),
        YuvRange::Full,
    )
    .unwrap();
    let found = detector().detect(&frame, Orientation::default(), 0.7).unwrap();
    let mut session = model_256().session().unwrap();
    let mut expected = vec![0u8; w * h];
    let face = [Face::Landmarks(found[0].landmarks)];
    session
        .parse_frame(&frame, Orientation::default(), &face, &mut Outputs::label_map(&mut expected, w))
        .unwrap();
    let mut expected_video = vec![0u8; w * h];
    let crop = [Face::Box(found[0].segface_crop())];
    session
        .parse_frame(&frame, Orientation::default(), &crop, &mut Outputs::label_map(&mut expected_video, w))
        .unwrap();
    let (agree, video_agree) =
        (agreement(landmarks_labels, &expected), agreement(video_labels, &expected_video));
    println!(
        "Java faces: landmarks-placed labels {:.3} %, video labels {:.3} % equal to the Rust API",
        100.0 * agree,
        100.0 * video_agree
    );
    assert!(agree >= 0.999 && video_agree >= 0.999, "{agree} {video_agree}");
}
