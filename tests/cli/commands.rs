//! The `segface` command end to end: convert, info, parse (labels PNG, overlay, JSON), bench,
//! and fetch against a local HTTP server.
#![cfg(feature = "cli")]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use segface::ImageView;

fn segface(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segface"))
        .args(args)
        .env("SEGFACE_HOME", scratch("segface_home"))
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "segface failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn convert_info_parse_round_trip() {
    let dir = scratch("cli_round_trip");
    let model = dir.join("model.onnx");
    ok(&segface(&["convert", s(&checkpoint_path()), "-o", s(&model), "--resolution", "256"]));
    // The converted file is byte-identical to the library's export of the same checkpoint, and
    // its hash travels with it.
    assert_eq!(std::fs::read(&model).unwrap(), onnx_256());
    let sidecar = std::fs::read_to_string(dir.join("model.onnx.sha256")).unwrap();
    assert_eq!(sidecar, format!("{}  model.onnx\n", segface::internals::sha256_hex(onnx_256())));

    let info = ok(&segface(&["info", s(&model)]));
    assert!(info.contains("resolution:   256x256"), "{info}");
    assert!(info.contains("segface-mobilenetv3-large"), "{info}");
    assert!(info.contains(" 14 hair"), "{info}");
    let source = segface::internals::sha256_hex(&std::fs::read(checkpoint_path()).unwrap());
    assert!(info.contains(&source), "{info}");

    let labels_png = dir.join("labels.png");
    let overlay_png = dir.join("overlay.png");
    let json = ok(&segface(&[
        "parse",
        s(&astronaut_path()),
        "-m",
        s(&model),
        "-o",
        s(&labels_png),
        "--overlay",
        s(&overlay_png),
        "--json",
    ]));
    let labels = image::open(&labels_png).unwrap();
    assert_eq!(labels.color(), image::ColorType::L8);
    let labels = labels.to_luma8();
    assert_eq!(labels.dimensions(), (512, 512));
    let img = astronaut_rgb();
    let expected =
        model_256().session().unwrap().parse(&ImageView::rgb(img.as_raw(), 512, 512).unwrap()).unwrap();
    assert_eq!(labels.as_raw(), &expected.labels);

    let overlay = image::open(&overlay_png).unwrap().to_rgb8();
    assert_eq!(overlay.dimensions(), (512, 512));
    // Background pixels are the photo's own; others are blended with the palette.
    for (i, (&label, (o, p))) in
        expected.labels.iter().zip(overlay.pixels().zip(img.pixels())).enumerate().step_by(97)
    {
        if label == 0 {
            assert_eq!(o, p, "pixel {i}");
        }
    }

    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    let classes = summary["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 19);
    let total: u64 = classes.iter().map(|c| c["pixels"].as_u64().unwrap()).sum();
    assert_eq!(total, 512 * 512);
    let counts = segface::class_counts(&expected.labels, 19);
    for (c, n) in classes.iter().zip(counts) {
        assert_eq!(c["pixels"].as_u64().unwrap(), n);
    }
}

#[test]
fn convert_with_int8_weights_writes_the_library_export_and_info_says_so() {
    let dir = scratch("cli_int8");
    let model = dir.join("model_int8.onnx");
    ok(&segface(&[
        "convert",
        s(&checkpoint_path()),
        "-o",
        s(&model),
        "--resolution",
        "256",
        "--weights",
        "int8",
    ]));
    let weights = segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap();
    let options = segface::convert::ExportOptions {
        source_sha256: Some(segface::internals::sha256_hex(&std::fs::read(checkpoint_path()).unwrap())),
        weights: segface::convert::WeightStorage::Int8,
        ..segface::convert::ExportOptions::new(256)
    };
    let expected = segface::convert::export_mobilenet(&weights, &options).unwrap();
    let written = std::fs::read(&model).unwrap();
    assert_eq!(written, expected);
    assert!(written.len() * 3 < onnx_256().len(), "{} vs {}", written.len(), onnx_256().len());
    let info = ok(&segface(&["info", s(&model)]));
    assert!(info.contains("stored as int8"), "{info}");
    let refused = segface(&["convert", s(&checkpoint_path()), "-o", s(&model), "--weights", "int4"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("use f32, f16 or int8"));
}

#[test]
fn parse_without_a_model_explains_how_to_get_one() {
    let out = segface(&["parse", s(&astronaut_path()), "-o", s(&scratch("cli_no_model").join("l.png"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("segface fetch mobilenet-celeba-512"), "{err}");
}

#[test]
fn bench_runs_the_main_job_with_built_in_weights() {
    let out = ok(&segface(&["bench", "--resolution", "64", "--iters", "2"]));
    for needle in [
        "load:",
        "latency median:",
        "latency p90:",
        "fps (median):",
        "allocated per parse:",
        "peak memory (RSS):",
    ] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }
}

#[test]
fn bench_json_is_one_object_for_scripts() {
    let out = ok(&segface(&[
        "bench",
        "--resolution",
        "64",
        "--iters",
        "3",
        "--threads",
        "2",
        "--profile",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(report["resolution"], 64);
    assert_eq!(report["threads"], 2);
    assert_eq!(report["precision"], "f32");
    assert_eq!(report["frame"], "640x480");
    let number = |key: &str| report[key].as_f64().unwrap_or_else(|| panic!("{key} in {report}"));
    let (load, first, median, p90) =
        (number("load_ms"), number("first_result_ms"), number("median_ms"), number("p90_ms"));
    assert!(load > 0.0 && first > load && median > 0.0 && p90 >= median, "{report}");
    assert!((number("fps") - 1000.0 / median).abs() < 1e-6 * number("fps"), "{report}");
    assert!(report["peak_rss_mb"].as_f64().is_some_and(|mb| mb > 1.0), "{report}");
    let classes = report["profile"].as_array().expect("a profile list");
    assert!(!classes.is_empty());
    let mut gmac = 0.0;
    for class in classes {
        assert!(class["class"].as_str().is_some_and(|c| !c.is_empty()), "{class}");
        assert!(class["nodes"].as_u64().is_some_and(|n| n >= 1), "{class}");
        assert!(class["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{class}");
        assert_eq!(class["arithmetic"], "f32", "a float32 model computes in f32: {class}");
        gmac += class["gmac"].as_f64().unwrap();
    }
    assert!(gmac > 0.0, "{report}");
    // --detect's frame-path figures are text only.
    assert!(!segface(&["bench", "--json", "--detect"]).status.success());
}

/// Serves `body` to `requests` connections on loopback and returns the base URL.
fn serve(body: Vec<u8>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn fetch_from(base: &str, sha256: &str, output: &Path) -> Output {
    let url = format!("{base}/model_299.pt");
    segface(&["fetch", "mobilenet-celeba-512", "--url", &url, "--sha256", sha256, "-o", s(output)])
}

#[test]
fn fetch_verifies_converts_and_installs() {
    let body = std::fs::read(checkpoint_path()).unwrap();
    let sha = segface::internals::sha256_hex(&body);
    let base = serve(body, 2);
    let dir = scratch("cli_fetch");
    let installed = dir.join("mobilenet-celeba-512.onnx");
    let _ = std::fs::remove_file(&installed);

    // A pinned hash that differs: refused, nothing installed.
    let wrong = "0".repeat(64);
    let out = fetch_from(&base, &wrong, &installed);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&sha) && err.contains("expected"), "{err}");
    assert!(!installed.exists());

    // The right hash: downloaded, converted at the manifest's resolution, installed.
    let out = fetch_from(&base, &sha, &installed);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("100 %"), "progress shown: {err}");
    let model = segface::Model::load(&installed).unwrap();
    assert_eq!(model.info().resolution, 512);
    assert_eq!(model.info().source_sha256.as_deref(), Some(sha.as_str()));
}

#[test]
fn fetch_offline_says_how_to_convert_instead() {
    // Nothing listens on port 9 of loopback (discard): the download fails at once.
    let out = segface(&[
        "fetch",
        "mobilenet-celeba-512",
        "--url",
        "http://127.0.0.1:9/model_299.pt",
        "-o",
        s(&scratch("cli_offline").join("m.onnx")),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("segface convert model_299.pt"), "{err}");
    let out = segface(&["fetch", "no-such-model"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("mobilenet-celeba-512"));
}

#[test]
fn parse_with_a_face_box_labels_the_box_inside_the_whole_photo() {
    use segface::{Face, FaceBox, Frame, Orientation, Outputs};
    let dir = scratch("cli_box");
    let model = onnx_256_file("cli_box");
    let face = astronaut_rgb();
    let mut photo = image::RgbImage::from_pixel(800, 700, image::Rgb([70, 80, 90]));
    image::imageops::replace(&mut photo, &face, 200, 100);
    let photo_path = dir.join("group.png");
    photo.save(&photo_path).unwrap();
    let labels_png = dir.join("labels.png");
    ok(&segface(&[
        "parse",
        s(&photo_path),
        "-m",
        s(&model),
        "-o",
        s(&labels_png),
        "--box",
        "200,100,512,512",
    ]));
    let labels = image::open(&labels_png).unwrap().to_luma8();
    assert_eq!(labels.dimensions(), (800, 700));

    let view = ImageView::rgb(photo.as_raw(), 800, 700).unwrap();
    let face = Face::Box(FaceBox { x: 200.0, y: 100.0, width: 512.0, height: 512.0 });
    let mut expected = vec![0u8; 800 * 700];
    model_256()
        .session()
        .unwrap()
        .parse_frame(
            &Frame::Packed(view),
            Orientation::default(),
            &[face],
            &mut Outputs::label_map(&mut expected, 800),
        )
        .unwrap();
    assert_eq!(labels.as_raw(), &expected);
    let classes_in_box = segface::class_counts(&expected, 19).iter().filter(|&&n| n > 0).count();
    assert!(classes_in_box > 3, "the box is labelled ({classes_in_box} classes)");
    assert_eq!(labels.get_pixel(50, 50).0[0], 0);

    let bad = segface(&["parse", s(&photo_path), "-m", s(&model), "-o", s(&labels_png), "--box", "1,2,3"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("x,y,width,height"));
}

#[test]
fn parse_detect_finds_both_faces_of_a_photo_and_labels_each() {
    let dir = scratch("cli_detect");
    let model = onnx_256_file("cli_detect");
    let grace = image::open(fixtures().join("images/grace_hopper.jpg")).unwrap().to_rgb8();
    let mut photo = image::RgbImage::from_pixel(1100, 640, image::Rgb([40, 40, 40]));
    image::imageops::replace(&mut photo, &astronaut_rgb(), 20, 60);
    image::imageops::replace(&mut photo, &grace, 560, 20);
    let photo_path = dir.join("two.png");
    photo.save(&photo_path).unwrap();
    let labels_png = dir.join("labels.png");
    let json =
        ok(&segface(&["parse", s(&photo_path), "-m", s(&model), "-o", s(&labels_png), "--detect", "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    let faces = summary["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 2, "{json}");
    let labels = image::open(&labels_png).unwrap().to_luma8();
    assert_eq!(labels.dimensions(), (1100, 640));
    // Labels only inside the crops around the two faces; the gap between the photos' faces
    // (x 420..520 is outside both crops) stays background.
    let labelled_columns: Vec<u32> =
        (0..1100).filter(|&x| (0..640).any(|y| labels.get_pixel(x, y).0[0] != 0)).collect();
    assert!(!labelled_columns.is_empty());
    assert!(labelled_columns.iter().all(|&x| !(420..520).contains(&x)), "{:?}", &labelled_columns);
    for face in faces {
        let b: Vec<f64> = face["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (cx, cy) = ((b[0] + b[2] / 2.0) as u32, (b[1] + b[3] / 2.0) as u32);
        let around = (cx - 5..cx + 5).flat_map(|x| (cy - 5..cy + 5).map(move |y| (x, y)));
        assert!(
            around.into_iter().any(|(x, y)| labels.get_pixel(x, y).0[0] != 0),
            "face at {cx},{cy} unlabelled"
        );
    }
    let both = segface(&[
        "parse",
        s(&photo_path),
        "-m",
        s(&model),
        "-o",
        s(&labels_png),
        "--detect",
        "--box",
        "1,2,3,4",
    ]);
    assert!(!both.status.success(), "--box and --detect together");
}

#[test]
fn parse_with_landmarks_writes_labels_hair_mask_and_probabilities() {
    use segface::{Face, Frame, Orientation, Outputs};
    let dir = scratch("cli_landmarks");
    let model = onnx_256_file("cli_landmarks");
    let photo = astronaut_rgb();
    let photo_path = astronaut_path();
    let view = ImageView::rgb(photo.as_raw(), photo.width(), photo.height()).unwrap();
    let points = detector().detect(&Frame::Packed(view), Default::default(), 0.7).unwrap()[0].landmarks;
    let text: Vec<String> = points.iter().flatten().map(|v| format!("{v}")).collect();
    let (labels_png, mask_png, probs) = (dir.join("labels.png"), dir.join("hair.png"), dir.join("probs"));
    ok(&segface(&[
        "parse",
        s(&photo_path),
        "-m",
        s(&model),
        "-o",
        s(&labels_png),
        "--landmarks",
        &text.join(","),
        "--mask",
        s(&mask_png),
        "--mask-classes",
        "hair,14",
        "--probabilities",
        s(&probs),
    ]));
    let labels = image::open(&labels_png).unwrap().to_luma8();
    let face = Face::Landmarks(points);
    let mut expected = vec![0u8; 512 * 512];
    model_256()
        .session()
        .unwrap()
        .parse_frame(
            &Frame::Packed(view),
            Orientation::default(),
            &[face],
            &mut Outputs::label_map(&mut expected, 512),
        )
        .unwrap();
    assert_eq!(labels.as_raw(), &expected);
    let mask = image::open(&mask_png).unwrap().to_luma8();
    assert!(mask.as_raw().iter().zip(&expected).all(|(&m, &l)| m == if l == 14 { 255 } else { 0 }));
    let hair = image::open(probs.join("14_hair.png")).unwrap().to_luma8();
    let background = image::open(probs.join("00_background.png")).unwrap().to_luma8();
    assert_eq!(std::fs::read_dir(&probs).unwrap().count(), 19);
    // Where the label is hair, hair is the most probable of the two.
    for ((&l, &h), &b) in expected.iter().zip(hair.as_raw()).zip(background.as_raw()) {
        if l == 14 {
            assert!(h + 1 >= b);
        }
    }
    let bad =
        segface(&["parse", s(&photo_path), "-m", s(&model), "-o", s(&labels_png), "--landmarks", "1,2,3"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected 10 numbers"));
    let bad = segface(&[
        "parse",
        s(&photo_path),
        "-m",
        s(&model),
        "-o",
        s(&labels_png),
        "--mask",
        s(&mask_png),
        "--mask-classes",
        "fur",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`fur` is not a class"));
}
