//! The dataset readers on tiny datasets built in the real on-disk layouts (CelebAMask-HQ part
//! masks, LaPa, Helen), checked pixel by pixel, and `segface eval` end to end.
#![cfg(feature = "cli")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use segface::eval::ConfusionMatrix;
use segface::eval::{helen_crop_box, lapa_five_points, Dataset, DatasetKind, Split, CELEBA_PART_SUFFIXES};
use segface::{ErrorKind, ImageView};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A deterministic photo-like RGB image saved as JPEG.
fn write_jpeg(path: &Path, width: u32, height: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
    })
    .save(path)
    .unwrap();
}

fn write_grey(path: &Path, width: u32, height: u32, value: impl Fn(u32, u32) -> u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(width, height, |x, y| image::Luma([value(x, y)])).save(path).unwrap();
}

/// A part mask: an axis-aligned rectangle [x0, x1) x [y0, y1) on the 512 canvas.
type Rect = [u32; 4];

fn inside(r: &Rect, x: u32, y: u32) -> bool {
    x >= r[0] && x < r[2] && y >= r[1] && y < r[3]
}

/// Overlapping parts of one face; precedence decides every overlap.
fn face_parts(seed: u32) -> Vec<(&'static str, Rect)> {
    vec![
        ("neck", [180, 380, 330, 512]),
        ("skin", [120 + seed, 100, 400, 420]),
        ("cloth", [0, 450, 512, 512]),
        ("l_eye", [180, 200, 230, 230]),
        ("eye_g", [160, 190, 350, 240]),
        ("hair", [100, 40, 420, 160]),
        ("hat", [140, 0, 380, 90]),
        ("neck_l", [200, 440, 310, 470]),
        ("ear_r", [100, 250, 130, 280]),
        ("u_lip", [220, 330, 300, 345]),
        ("l_lip", [220, 345, 300, 365]),
        ("mouth", [230, 338, 290, 352]),
    ]
}

/// The label a pixel should get: the covering part highest in the reference's precedence
/// (necklace > earring > hat > eyeglasses > hair > upper lip > lower lip > mouth > nose > eyes >
/// brows > ears > cloth > skin > neck), else background.
fn expected_label(parts: &[(&str, Rect)], x: u32, y: u32) -> u8 {
    let precedence = [
        "neck_l", "ear_r", "hat", "eye_g", "hair", "u_lip", "l_lip", "mouth", "nose", "r_eye", "l_eye",
        "r_brow", "l_brow", "r_ear", "l_ear", "cloth", "skin", "neck",
    ];
    for name in precedence {
        if parts.iter().any(|(n, r)| *n == name && inside(r, x, y)) {
            return CELEBA_PART_SUFFIXES.iter().position(|s| *s == name).unwrap() as u8 + 1;
        }
    }
    0
}

/// CelebAMask-HQ with HQ images 0, 1 and 2001 (folder 1 of the annotations); the test split
/// lists them, through the mapping, in the partition file's order: 1, 2001, 0.
fn celeba(name: &str) -> PathBuf {
    let root = scratch(name);
    write(
        &root.join("CelebA-HQ-to-CelebA-mapping.txt"),
        "idx         orig_idx  orig_file\n0  119613  119614.jpg\n1  1  000002.jpg\n2001  9  000010.jpg\n5  5  000006.jpg\n",
    );
    write(
        &root.join("list_eval_partition.txt"),
        "000001.jpg 0\n000002.jpg 2\n000006.jpg 0\n000010.jpg 2\n000011.jpg 2\n119614.jpg 2\n",
    );
    for (id, seed) in [(0usize, 0u32), (1, 20), (2001, 40), (5, 60)] {
        write_jpeg(&root.join(format!("CelebA-HQ-img/{id}.jpg")), 96, 96);
        for (part, rect) in face_parts(seed) {
            let path = root.join(format!("CelebAMask-HQ-mask-anno/{}/{id:05}_{part}.png", id / 2000));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // The real masks are RGB white-on-black; one part is grey to cover both forms.
            if part == "hair" {
                write_grey(&path, 512, 512, |x, y| if inside(&rect, x, y) { 255 } else { 0 });
            } else {
                image::RgbImage::from_fn(512, 512, |x, y| {
                    image::Rgb([if inside(&rect, x, y) { 255 } else { 0 }; 3])
                })
                .save(&path)
                .unwrap();
            }
        }
    }
    root
}

#[test]
fn celebamask_hq_merges_part_masks_in_precedence_order_and_splits_by_partition() {
    let root = celeba("celeba_layout");
    let test = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Test).unwrap();
    let ids: Vec<&str> = test.samples().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["1", "2001", "0"]);
    let train = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Train).unwrap();
    assert_eq!(train.samples().iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["5"]);
    assert!(Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Val).unwrap().samples().is_empty());

    for (sample, seed) in test.samples().iter().zip([20u32, 40, 0]) {
        let parts = face_parts(seed);
        let labels = test.labels(sample).unwrap();
        assert_eq!((labels.width, labels.height), (512, 512));
        let mut seen = std::collections::BTreeSet::new();
        for y in 0..512u32 {
            for x in 0..512u32 {
                let got = labels.labels[(y * 512 + x) as usize];
                assert_eq!(got, expected_label(&parts, x, y), "sample {} pixel ({x}, {y})", sample.id);
                seen.insert(got);
            }
        }
        // The eyeglasses hide the whole eye and the lips the whole mouth; every other part shows.
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 12, 13, 14, 15, 16, 17, 18]);

        // At R = 256 the image is resized and the labels sampled at pixel centres.
        let prepared = test.prepare(sample, 256).unwrap();
        assert_eq!((prepared.rgb.len(), prepared.labels.len()), (256 * 256 * 3, 256 * 256));
        for (i, &label) in prepared.labels.iter().enumerate() {
            let (x, y) = (i % 256, i / 256);
            assert_eq!(label, labels.labels[(2 * y + 1) * 512 + 2 * x + 1]);
        }
    }
}

#[test]
fn celebamask_hq_files_that_are_missing_or_malformed_are_named() {
    let root = celeba("celeba_broken");
    // A mask at the wrong size.
    let bad_mask = root.join("CelebAMask-HQ-mask-anno/0/00001_nose.png");
    write_grey(&bad_mask, 256, 256, |_, _| 255);
    let test = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Test).unwrap();
    let err = test.labels(&test.samples()[0]).unwrap_err();
    assert!(err.message().contains("00001_nose.png") && err.message().contains("256 x 256"), "{err}");
    // A missing image.
    std::fs::remove_file(root.join("CelebA-HQ-img/2001.jpg")).unwrap();
    let err = test.prepare(&test.samples()[1], 256).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("2001.jpg"), "{err}");
    // A malformed mapping line and partition value.
    write(&root.join("CelebA-HQ-to-CelebA-mapping.txt"), "idx orig_idx orig_file\n0 1\n");
    let err = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Test).map(|_| ()).unwrap_err();
    assert!(err.message().contains("CelebA-HQ-to-CelebA-mapping.txt: line 2"), "{err}");
    write(&root.join("CelebA-HQ-to-CelebA-mapping.txt"), "idx orig_idx orig_file\n0 1 000001.jpg\n");
    write(&root.join("list_eval_partition.txt"), "000001.jpg 7\n");
    let err = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Test).map(|_| ()).unwrap_err();
    assert!(err.message().contains("list_eval_partition.txt: line 1"), "{err}");
    // No dataset at all.
    let err = Dataset::open(DatasetKind::CelebAMaskHq, &scratch("celeba_empty"), Split::Test)
        .map(|_| ())
        .unwrap_err();
    assert!(err.message().contains("CelebA-HQ-to-CelebA-mapping.txt"), "{err}");
}

fn lapa_points(shift: f32) -> Vec<[f32; 2]> {
    (0..106).map(|i| [10.0 + i as f32 * 0.5 + shift, 20.0 + (i % 13) as f32]).collect()
}

fn write_lapa_sample(
    root: &Path,
    split: &str,
    name: &str,
    labels: impl Fn(u32, u32) -> u8,
    points: &[[f32; 2]],
) {
    let dir = root.join(split);
    write_jpeg(&dir.join(format!("images/{name}.jpg")), 80, 60);
    write_grey(&dir.join(format!("labels/{name}.png")), 80, 60, labels);
    let mut text = String::from("106\n");
    for p in points {
        text.push_str(&format!("{} {}\n", p[0], p[1]));
    }
    write(&dir.join(format!("landmarks/{name}.txt")), &text);
}

#[test]
fn lapa_reads_labels_as_they_are_and_106_landmarks() {
    let root = scratch("lapa_layout");
    let stripes = |x: u32, y: u32| ((x / 8 + y / 6) % 11) as u8;
    write_lapa_sample(&root, "test", "b_face", stripes, &lapa_points(1.0));
    write_lapa_sample(&root, "test", "a_face", stripes, &lapa_points(0.0));
    write_lapa_sample(&root, "val", "c_face", stripes, &lapa_points(2.0));
    let test = Dataset::open(DatasetKind::LaPa, &root, Split::Test).unwrap();
    assert_eq!(test.samples().iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a_face", "b_face"]);
    let sample = &test.samples()[0];
    let labels = test.labels(sample).unwrap();
    assert_eq!((labels.width, labels.height), (80, 60));
    for (i, &v) in labels.labels.iter().enumerate() {
        assert_eq!(v, stripes((i % 80) as u32, (i / 80) as u32));
    }
    let points = sample.landmarks.as_ref().unwrap();
    assert_eq!(points, &lapa_points(0.0));
    let five = lapa_five_points(points).unwrap();
    let mean =
        |a: usize, b: usize| [(points[a][0] + points[b][0]) / 2.0, (points[a][1] + points[b][1]) / 2.0];
    assert_eq!(five, [mean(74, 104), mean(83, 105), points[54], points[84], points[90]]);
    // Nearest sampling at pixel centres: output x of 64 reads input floor((x + 0.5) * 80 / 64).
    let prepared = test.prepare(sample, 64).unwrap();
    // The alignment points follow the image to 64 x 64.
    let scale = [64.0 / 80.0, 64.0 / 60.0];
    assert_eq!(prepared.face_points, Some(five.map(|[x, y]| [x * scale[0], y * scale[1]])));
    for (i, &v) in prepared.labels.iter().enumerate() {
        let (x, y) = ((i % 64) as f64, (i / 64) as f64);
        let (sx, sy) = (((x + 0.5) * 80.0 / 64.0) as u32, ((y + 0.5) * 60.0 / 64.0) as u32);
        assert_eq!(v, stripes(sx, sy));
    }
}

#[test]
fn lapa_problems_are_named() {
    let root = scratch("lapa_broken");
    write_lapa_sample(&root, "test", "face", |_, _| 11, &lapa_points(0.0));
    let test = Dataset::open(DatasetKind::LaPa, &root, Split::Test).unwrap();
    let err = test.labels(&test.samples()[0]).unwrap_err();
    assert!(err.message().contains("face.png") && err.message().contains("label value 11"), "{err}");
    write(&root.join("test/landmarks/face.txt"), "98\n1 2\n");
    let err = Dataset::open(DatasetKind::LaPa, &root, Split::Test).map(|_| ()).unwrap_err();
    assert!(err.message().contains("face.txt") && err.message().contains("starts with 98"), "{err}");
    std::fs::remove_file(root.join("test/labels/face.png")).unwrap();
    let err = Dataset::open(DatasetKind::LaPa, &root, Split::Test).map(|_| ()).unwrap_err();
    assert!(err.message().contains("labels/face.png") && err.message().contains("missing"), "{err}");
}

#[test]
fn helen_crops_around_the_landmarks_and_val_is_test() {
    // Landmarks in the file are at twice the image scale: x 80..160 -> 40..80, y 100..140 -> 50..70.
    let points: Vec<[f32; 2]> =
        (0..68).map(|i| [80.0 + (i % 9) as f32 * 10.0, 100.0 + (i % 5) as f32 * 10.0]).collect();
    let scaled: Vec<[f32; 2]> = points.iter().map(|p| [p[0] / 2.0, p[1] / 2.0]).collect();
    // Box 40 x 20 around (60, 60): side 1.2 x 40 = 48 -> [36, 36, 84, 84]; clipped by a small image.
    assert_eq!(helen_crop_box(&scaled, 100, 90), Some([36, 36, 84, 84]));
    assert_eq!(helen_crop_box(&scaled, 70, 50), Some([36, 36, 70, 50]));
    assert_eq!(helen_crop_box(&[[500.0, 500.0], [510.0, 510.0]], 100, 90), None);

    let root = scratch("helen_layout");
    let dir = root.join("test");
    let stripes = |x: u32, y: u32| ((x / 5 + y / 7) % 11) as u8;
    write_jpeg(&dir.join("face1_image.jpg"), 100, 90);
    write_grey(&dir.join("face1_label.png"), 100, 90, stripes);
    let numbers: Vec<String> = points.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]).collect();
    write(&dir.join("landmarks.txt"), &format!("{} face1_image.jpg\n", numbers.join(" ")));
    let val = Dataset::open(DatasetKind::Helen, &root, Split::Val).unwrap();
    let sample = &val.samples()[0];
    assert_eq!(sample.id, "face1");
    assert_eq!(sample.landmarks.as_ref().unwrap(), &scaled);
    // The crop [36, 84) x [36, 84) sampled to 32 x 32: input 36 + floor((x + 0.5) * 48 / 32).
    let prepared = val.prepare(sample, 32).unwrap();
    for (i, &v) in prepared.labels.iter().enumerate() {
        let (x, y) = ((i % 32) as f64, (i / 32) as f64);
        let (sx, sy) = (36 + ((x + 0.5) * 1.5) as u32, 36 + ((y + 0.5) * 1.5) as u32);
        assert_eq!(v, stripes(sx, sy));
    }
    write(&dir.join("landmarks.txt"), "1 2 3 face1\n");
    let err = Dataset::open(DatasetKind::Helen, &root, Split::Test).map(|_| ()).unwrap_err();
    assert!(err.message().contains("landmarks.txt: line 1 has 4 fields"), "{err}");
}

fn segface(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segface")).args(args).output().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "segface failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn confusion_of(report: &serde_json::Value) -> Vec<Vec<u64>> {
    serde_json::from_value(report["confusion"].clone()).unwrap()
}

#[test]
fn eval_runs_a_model_and_rescoring_its_saved_predictions_gives_the_same_counts() {
    let root = celeba("celeba_eval");
    let out = scratch("celeba_eval_out");
    let model = onnx_256_file("celeba_eval_model");
    let json = out.join("model.json");
    let predictions = out.join("predictions");
    let table = ok(&segface(&[
        "eval",
        "--dataset",
        "celebamask-hq",
        "--root",
        s(&root),
        "--model",
        s(&model),
        "--json",
        s(&json),
        "--save-predictions",
        s(&predictions),
    ]));
    assert!(table.contains("mean F1 (without background)"), "{table}");

    // The same counts computed here, through the library, from the prepared images.
    let dataset = Dataset::open(DatasetKind::CelebAMaskHq, &root, Split::Test).unwrap();
    let mut session = model_256().session().unwrap();
    let mut expected = ConfusionMatrix::new(19);
    for sample in dataset.samples() {
        let prepared = dataset.prepare(sample, 256).unwrap();
        let labels = session.parse(&ImageView::rgb(&prepared.rgb, 256, 256).unwrap()).unwrap();
        expected.add(&prepared.labels, &labels.labels).unwrap();
    }
    let from_model = report(&json);
    let counts = confusion_of(&from_model);
    for (t, row) in counts.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            assert_eq!(n, expected.count(t, p), "confusion ({t}, {p})");
        }
    }
    assert_eq!(from_model["samples"], 3);
    let mean_f1 = from_model["mean_f1"].as_f64().unwrap();
    assert!((mean_f1 - expected.scores().mean_f1).abs() < 1e-12);

    let rescored = out.join("rescored.json");
    ok(&segface(&[
        "eval",
        "--dataset",
        "celebamask-hq",
        "--root",
        s(&root),
        "--predictions",
        s(&predictions),
        "--resolution",
        "256",
        "--json",
        s(&rescored),
    ]));
    assert_eq!(confusion_of(&report(&rescored)), counts);
}

#[test]
fn eval_of_the_ground_truth_itself_scores_one_and_helen_reports_its_groups() {
    let root = scratch("helen_eval");
    let dir = root.join("test");
    let stripes = |x: u32, y: u32| ((x / 5 + y / 7) % 11) as u8;
    let points: Vec<String> =
        (0..68).flat_map(|i| [(40 + i).to_string(), (50 + i % 20).to_string()]).collect();
    let mut landmarks = String::new();
    for name in ["p", "q"] {
        write_jpeg(&dir.join(format!("{name}_image.jpg")), 100, 90);
        write_grey(&dir.join(format!("{name}_label.png")), 100, 90, stripes);
        landmarks.push_str(&format!("{} {name}\n", points.join(" ")));
    }
    write(&dir.join("landmarks.txt"), &landmarks);
    let dataset = Dataset::open(DatasetKind::Helen, &root, Split::Test).unwrap();
    let predictions = scratch("helen_eval_truth");
    for sample in dataset.samples() {
        let prepared = dataset.prepare(sample, 64).unwrap();
        image::GrayImage::from_raw(64, 64, prepared.labels)
            .unwrap()
            .save(predictions.join(format!("{}.png", sample.id)))
            .unwrap();
    }
    let json = predictions.join("report.json");
    ok(&segface(&[
        "eval",
        "--dataset",
        "helen",
        "--root",
        s(&root),
        "--predictions",
        s(&predictions),
        "--resolution",
        "64",
        "--json",
        s(&json),
    ]));
    let r = report(&json);
    assert_eq!(r["mean_f1"].as_f64(), Some(1.0));
    assert_eq!(r["mean_iou"].as_f64(), Some(1.0));
    let groups: Vec<&str> =
        r["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(groups, ["eyes", "brows", "mouth", "overall"]);
    assert!(r["groups"].as_array().unwrap().iter().all(|g| g["f1"].as_f64() == Some(1.0)));

    // LaPa needs the in-network warp: a model is refused with the reason; so is a foreign label.
    let refused = segface(&["eval", "--dataset", "lapa", "--root", s(&root), "--model", "m.onnx"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("warp"));
    image::GrayImage::from_pixel(64, 64, image::Luma([12])).save(predictions.join("p.png")).unwrap();
    let refused = segface(&[
        "eval",
        "--dataset",
        "helen",
        "--root",
        s(&root),
        "--predictions",
        s(&predictions),
        "--resolution",
        "64",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("p.png: label value 12"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// A Helen folder (`train` and `test`) of `count` striped faces per split.
#[cfg(feature = "training")]
fn helen(name: &str, count: usize) -> PathBuf {
    let root = scratch(name);
    let points: Vec<[f32; 2]> =
        (0..68).map(|i| [60.0 + (i % 9) as f32 * 10.0, 50.0 + (i % 5) as f32 * 20.0]).collect();
    let numbers: Vec<String> = points.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]).collect();
    for split in ["train", "test"] {
        let dir = root.join(split);
        let mut lines = String::new();
        for i in 0..count {
            write_jpeg(&dir.join(format!("f{i}_image.jpg")), 100, 90);
            write_grey(&dir.join(format!("f{i}_label.png")), 100, 90, |x, y| {
                ((x / 9 + y / 8 + i as u32) % 11) as u8
            });
            lines += &format!("{} f{i}_image.jpg\n", numbers.join(" "));
        }
        write(&dir.join("landmarks.txt"), &lines);
    }
    root
}

#[test]
#[cfg(feature = "training")]
fn helen_trains_an_eleven_class_head_under_the_reference_token_names() {
    let root = helen("helen_train", 2);
    let out = scratch("helen_train_out");
    ok(&segface(&[
        "train",
        "--dataset",
        "helen",
        "--root",
        s(&root),
        "--resolution",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--output",
        s(&out),
    ]));
    let weights = segface::convert::Weights::from_safetensors_file(&out.join("weights.safetensors")).unwrap();
    let tokens: Vec<&str> = weights.names().filter(|n| n.ends_with("_token.weight")).collect();
    let mut expected: Vec<String> = segface::convert::arch::FACE_PARTS_TOKEN_NAMES
        .iter()
        .map(|n| segface::convert::arch::token_key(n))
        .collect();
    expected.sort();
    assert_eq!(tokens, expected);

    let labels = out.join("labels.png");
    let image = root.join("test").join("f0_image.jpg");
    ok(&segface(&[
        "predict",
        s(&image),
        "--weights",
        s(&out.join("weights.safetensors")),
        "--resolution",
        "64",
        "-o",
        s(&labels),
    ]));
    let predicted = image::open(&labels).unwrap().to_luma8();
    assert_eq!(predicted.dimensions(), (100, 90));
    assert!(predicted.pixels().all(|p| p.0[0] < 11), "labels beyond the 11 classes");

    // The runtime's converter takes 19-class models only, and says so.
    let refused = segface(&["convert", s(&out.join("weights.safetensors")), "-o", s(&out.join("m.onnx"))]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("11 class tokens"));
}

#[test]
#[cfg(feature = "training")]
fn lapa_trains_through_its_face_warp() {
    let root = scratch("lapa_train");
    std::fs::remove_dir_all(&root).unwrap(); // a broken sample from an earlier run must not stay
    for (split, shift) in [("train", 0.0), ("train", 3.0), ("val", 1.0)] {
        let name = format!("face{shift}");
        write_lapa_sample(&root, split, &name, |x, y| ((x / 8 + y / 6) % 11) as u8, &lapa_points(shift));
    }
    let out = scratch("lapa_train_out");
    let train = |epochs: &str| {
        let args =
            ["train", "--dataset", "lapa", "--root", s(&root), "--resolution", "64", "--epochs", epochs];
        segface(&[&args[..], &["--batch-size", "2", "--output", s(&out)]].concat())
    };
    ok(&train("2"));
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let last: Vec<f64> = history.lines().last().unwrap().split(',').filter_map(|v| v.parse().ok()).collect();
    assert!(last.iter().all(|v| v.is_finite()), "{history}");

    // predict --lapa-align: the built-in detector's landmarks, or the same given by hand, give
    // what the library predicts through the warp; without the warp the labels differ.
    let weights = out.join("weights.safetensors");
    let photo = astronaut_rgb();
    let view = ImageView::rgb(photo.as_raw(), photo.width(), photo.height()).unwrap();
    let faces = detector().detect(&segface::Frame::Packed(view), Default::default(), 0.5).unwrap();
    let points = faces[0].landmarks;
    let model = segface::training::predict::model_from_weights::<segface::training::Cpu>(
        &segface::convert::Weights::from_safetensors_file(&weights).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let aligned = segface::training::predict::predict_image_aligned(
        &model,
        photo.as_raw(),
        w,
        h,
        64,
        Some(points),
        &Default::default(),
    )
    .unwrap();
    let unaligned =
        segface::training::predict::predict_image(&model, photo.as_raw(), w, h, 64, &Default::default())
            .unwrap();
    assert_ne!(aligned, unaligned, "the warp changes what the model sees");
    let labels = out.join("aligned.png");
    let astronaut = astronaut_path();
    let given: Vec<String> = points.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]).collect();
    for extra in [vec!["--lapa-align"], vec!["--lapa-align", "--face-points", &given.join(",")]] {
        let mut args =
            vec!["predict", s(&astronaut), "--weights", s(&weights), "--resolution", "64", "-o", s(&labels)];
        args.extend(extra);
        ok(&segface(&args));
        assert_eq!(image::open(&labels).unwrap().to_luma8().into_raw(), aligned);
    }

    // Coincident landmarks have no alignment: the error names the problem.
    write_lapa_sample(&root, "train", "face9", |_, _| 0, &vec![[5.0, 5.0]; 106]);
    let broken = train("1");
    assert!(!broken.status.success());
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("coincident"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
}
