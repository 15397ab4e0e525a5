//! Real C and C++ programs compiled against `include/segface.h` and linked with the shared
//! library that this `cargo test` built. Their labels must equal the Rust API's.
#![cfg(feature = "convert")]

use crate::common;

use std::path::Path;
use std::process::Command;

use common::programs::*;
use common::*;
use segface::ImageView;

fn compile(compiler: &str, flags: &[&str], source: &Path, output: &Path) {
    let lib = shared_library_dir();
    let status = Command::new(compiler)
        .args(flags)
        .args(["-Wall", "-Wextra", "-pedantic", "-Werror", "-I"])
        .arg(repo().join("include"))
        .arg(source)
        .arg("-o")
        .arg(output)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lsegface")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(status.success(), "{compiler} failed on {}", source.display());
}

/// The shared library may pick other (equally valid) tract kernels than the test binary, whose
/// different summation order flips near-tie labels, so the C results are judged like any
/// implementation: against the reference goldens, and against the Rust API with a tolerance.
#[test]
fn c_program_matches_the_reference_labels() {
    let dir = scratch("c_api");
    let model = onnx_256_file("c_api");
    let program = dir.join("parse_image_c");
    compile(&compiler(false), &["-std=c99"], &repo().join("tests/c/parse_image.c"), &program);
    let golden = Golden::load();
    let (_, rgb) = golden.u8("input_rgb_u8");
    let (_, expected) = golden.u8("labels");
    let labels = run_program(&program, &model, &rgb, (256, 256), &dir);
    let agree = agreement(&labels, &expected);
    println!("C API label agreement with the reference: {:.4} %", 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");
}

#[test]
fn c_program_parses_nv21_i420_rotated_and_boxed_frames() {
    let dir = scratch("c_frames");
    let model = onnx_256_file("c_frames");
    let program = dir.join("parse_frame_c");
    compile(&compiler(false), &["-std=c99"], &repo().join("tests/c/parse_frame.c"), &program);
    let golden = Golden::load();
    let (_, rgb) = golden.u8("input_rgb_u8");
    let (_, expected) = golden.u8("labels");
    let maps = run_program(&program, &model, &rgb, (256, 256), &dir);
    let (rgb_path, yuv) = maps.split_at(256 * 256);
    let (nv21, i420) = yuv.split_at(256 * 256);
    let agree = agreement(rgb_path, &expected);
    println!("C frames: RGB path {:.4} % equal to the reference", 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");
    for (name, labels) in [("NV21", nv21), ("I420", i420)] {
        let agree = agreement(labels, rgb_path);
        println!("C frames: {name} {:.3} % equal to the RGB path", 100.0 * agree);
        // 4:2:0 chroma at the model resolution itself (no downscale to average it out).
        assert!(agree >= 0.998, "{name}: {agree}");
    }
}

#[test]
fn c_program_detects_parses_masks_and_follows_a_face() {
    use segface::{ClassSet, Outputs, PlaneMut, SoftMasks};
    use segface::{Face, Frame, Orientation};
    let dir = scratch("c_faces");
    let model = onnx_256_file("c_faces");
    let program = dir.join("parse_faces_c");
    compile(&compiler(false), &["-std=c99"], &repo().join("tests/c/parse_faces.c"), &program);
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let detector_path = repo().join("models/retinaface_mnet.onnx");
    let maps = run_program_with(&program, &model, img.as_raw(), img.dimensions(), &dir, &[&detector_path]);
    let plane = w * h;
    assert_eq!(maps.len(), 5 * plane);
    let (labels, rest) = maps.split_at(plane);
    let (soft, rest) = rest.split_at(2 * plane);
    let (_hair, video_labels) = rest.split_at(plane);

    // The same through the Rust API.
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let frame = Frame::Packed(view);
    let found = detector().detect(&frame, Orientation::default(), 0.7).unwrap();
    let mut session = model_256().session().unwrap();
    let (mut expected, mut expected_soft) = (vec![0u8; plane], vec![0u8; 2 * plane]);
    let mut outputs = Outputs {
        labels: Some(PlaneMut { data: &mut expected, stride: w }),
        soft_masks: Some(SoftMasks {
            classes: ClassSet::of([0, 14]).unwrap(),
            data: &mut expected_soft,
            stride: w,
            plane_stride: plane,
        }),
        ..Default::default()
    };
    session
        .parse_frame(&frame, Orientation::default(), &[Face::Landmarks(found[0].landmarks)], &mut outputs)
        .unwrap();
    let agree = agreement(labels, &expected);
    let soft_close = soft.iter().zip(&expected_soft).filter(|(a, b)| a.abs_diff(**b) <= 1).count() as f64
        / soft.len() as f64;
    let mut still = vec![0u8; plane];
    session
        .parse_frame(
            &frame,
            Orientation::default(),
            &[Face::Box(found[0].segface_crop())],
            &mut Outputs::label_map(&mut still, w),
        )
        .unwrap();
    let video_agree = agreement(video_labels, &still);
    println!(
        "C faces: landmarks-placed labels {:.3} %, soft masks within 1/255 {:.3} %, video frame {:.3} % equal to the Rust API",
        100.0 * agree,
        100.0 * soft_close,
        100.0 * video_agree
    );
    assert!(agree >= 0.999 && soft_close >= 0.999 && video_agree >= 0.999);
}

#[test]
fn cpp_wrapper_parses_a_real_image_like_the_rust_api() {
    let dir = scratch("cpp_api");
    let model = onnx_256_file("cpp_api");
    let program = dir.join("parse_image_cpp");
    compile(&compiler(true), &["-std=c++17"], &repo().join("tests/c/parse_image.cpp"), &program);
    let img = astronaut_rgb();
    let labels = run_program(&program, &model, img.as_raw(), img.dimensions(), &dir);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let expected = model_256().session().unwrap().parse(&view).unwrap().labels;
    let agree = agreement(&labels, &expected);
    println!(
        "C++ API (512x512 photo, resized inside) label agreement with the Rust API: {:.4} %",
        100.0 * agree
    );
    assert!(agree >= 0.999, "{agree}");
}

#[test]
fn cpp_wrapper_detects_parses_and_follows_a_face() {
    use segface::{Face, Frame, Orientation, Outputs};
    let dir = scratch("cpp_faces");
    let model = onnx_256_file("cpp_faces");
    let program = dir.join("faces_cpp");
    compile(&compiler(true), &["-std=c++17"], &repo().join("tests/c/faces.cpp"), &program);
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let detector_path = repo().join("models/retinaface_mnet.onnx");
    let maps = run_program_with(&program, &model, img.as_raw(), img.dimensions(), &dir, &[&detector_path]);
    let (labels, video_labels) = maps.split_at(w * h);
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let frame = Frame::Packed(view);
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
    let (agree, video_agree) = (agreement(labels, &expected), agreement(video_labels, &expected_video));
    println!("C++ faces: {:.3} % / video {:.3} % equal to the Rust API", 100.0 * agree, 100.0 * video_agree);
    assert!(agree >= 0.999 && video_agree >= 0.999, "{agree} {video_agree}");
}

#[test]
fn headers_compile_as_strict_c99_cpp11_and_cpp17() {
    let dir = scratch("header");
    let c_source = dir.join("only_header.c");
    std::fs::write(
        &c_source,
        "#include \"segface.h\"\n#include \"segface.h\"\nint main(void) { return SEGFACE_STATUS_OK; }\n",
    )
    .unwrap();
    let hpp_source = dir.join("only_hpp.cpp");
    std::fs::write(
        &hpp_source,
        "#include \"segface.hpp\"\n#include \"segface.hpp\"\nint main() { return 0; }\n",
    )
    .unwrap();
    for (compiler, std_flag, lang, source) in [
        ("cc", "-std=c99", "c", &c_source),
        ("c++", "-std=c++11", "c++", &c_source),
        ("c++", "-std=c++17", "c++", &hpp_source),
    ] {
        let status = Command::new(compiler)
            .args([std_flag, "-Wall", "-Wextra", "-pedantic", "-Werror", "-x", lang, "-fsyntax-only", "-I"])
            .arg(repo().join("include"))
            .arg(source)
            .status()
            .unwrap();
        assert!(status.success(), "{} does not compile with {compiler} {std_flag}", source.display());
    }
}
