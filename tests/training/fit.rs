//! The training loop learns (it overfits drawn faces to a high IoU on the CPU), writes a
//! checkpoint the converter and the runtime accept, and resumes exactly where it stopped.
#![cfg(all(feature = "training", feature = "convert"))]

use crate::common;

use common::*;
use segface::convert::Weights;
use segface::training::synthetic::SyntheticFaces;
use segface::training::train::{train, TrainOptions};
use segface::training::{CpuTrain, SegFace};

const R: usize = 64;

fn options(dir: &str, epochs: usize) -> TrainOptions {
    TrainOptions {
        batch_size: 2,
        epochs,
        // Ten times the reference's rate, divided by ten after 40 epochs: a hundred steps must
        // do what 300 epochs of a real dataset do.
        learning_rate: 1e-3,
        milestones: vec![40],
        validate_every: 10,
        progress: false,
        ..TrainOptions::reference(R, scratch(dir))
    }
}

/// The same starting weights for every run: burn's initialisation under a fixed seed (burn's
/// generator is global, so tests running at once take turns).
fn start() -> SegFace<CpuTrain> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap();
    let device = Default::default();
    <CpuTrain as burn::tensor::backend::Backend>::seed(&device, 7);
    let model = SegFace::<CpuTrain>::mobilenet(19, &device);
    // PyTorch's default BatchNorm momentum instead of MobileNetV3's 0.01, for the same reason.
    model.with_batch_norm_momentum(0.1)
}

#[test]
fn overfits_drawn_faces() {
    let data = SyntheticFaces { count: 4, seed: 1 };
    let started = std::time::Instant::now();
    let (model, history) =
        train(start(), &data, Some(&data), &options("overfit", 50), &Default::default()).unwrap();
    let scores = segface::training::train::evaluate(
        &burn::module::AutodiffModule::valid(&model),
        &data,
        R,
        4,
        &Default::default(),
    )
    .unwrap()
    .scores();
    let per_class: Vec<String> = scores
        .per_class
        .iter()
        .enumerate()
        .filter_map(|(c, s)| s.iou.map(|v| format!("{}: {:.3}", segface::CELEBA_CLASSES[c], v)))
        .collect();
    println!("per-class IoU after training: {}", per_class.join(", "));
    for r in history.iter().filter(|r| r.val_mean_iou.is_some()) {
        println!("epoch {:>2}: loss {:.4}, mean IoU {:.4}", r.epoch, r.train_loss, r.val_mean_iou.unwrap());
    }
    println!("{:.1} s", started.elapsed().as_secs_f64());
    let first = history.first().unwrap();
    let last = history.last().unwrap();
    assert!(last.train_loss < 0.3 * first.train_loss, "loss {} -> {}", first.train_loss, last.train_loss);
    assert!(last.val_mean_iou.unwrap() > 0.9, "mean IoU {:?}", last.val_mean_iou);
}

/// Weights of a model as plain numbers, to compare runs.
fn flat(model: &SegFace<CpuTrain>) -> Vec<(String, Vec<f32>)> {
    let w = model.weights();
    w.names().map(|n| (n.to_string(), w.get(n).unwrap().data.clone())).collect()
}

#[test]
fn a_resumed_run_ends_exactly_where_an_uninterrupted_one_does_and_exports() {
    let data = SyntheticFaces { count: 4, seed: 3 };
    let device = Default::default();
    let quick = |dir: &str, epochs: usize, resume: bool| TrainOptions {
        resume,
        validate_every: 1,
        ..options(dir, epochs)
    };
    let (straight, history) =
        train(start(), &data, Some(&data), &quick("straight", 3, false), &device).unwrap();
    train(start(), &data, Some(&data), &quick("resumed", 2, false), &device).unwrap();
    // A fresh process would build a fresh model: the checkpoint must carry everything.
    let (resumed, resumed_history) =
        train(start(), &data, Some(&data), &quick("resumed", 3, true), &device).unwrap();
    assert_eq!(resumed_history.len(), 3);
    for (a, b) in history.iter().zip(&resumed_history) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
        assert_eq!(a.val_mean_iou, b.val_mean_iou, "epoch {}", a.epoch);
    }
    let (a, b) = (flat(&straight), flat(&resumed));
    let differing: Vec<&str> = a.iter().zip(&b).filter(|(x, y)| x != y).map(|(x, _)| x.0.as_str()).collect();
    assert!(
        differing.is_empty(),
        "{} weights differ after resuming, e.g. {:?}",
        differing.len(),
        &differing[..differing.len().min(5)]
    );

    // The checkpoint's weights go through the converter to the runtime unchanged.
    let dir = scratch("resumed");
    let weights = Weights::from_safetensors_file(&dir.join("weights.safetensors")).unwrap();
    let onnx =
        segface::convert::export_mobilenet(&weights, &segface::convert::ExportOptions::new(R)).unwrap();
    let runtime = segface::Model::load_with(&onnx, &segface::LoadOptions::default()).unwrap();
    let sample = segface::training::data::Samples::get(&data, 0, R).unwrap();
    let view = segface::ImageView::rgb(&sample.rgb, R as u32, R as u32).unwrap();
    let runtime_labels = runtime.session().unwrap().parse(&view).unwrap().labels;
    let trained = burn::module::AutodiffModule::valid(&resumed);
    let ours = segface::training::predict::predict_image(&trained, &sample.rgb, R, R, R, &device).unwrap();
    let agree = agreement(&ours, &runtime_labels);
    println!("trained checkpoint: runtime vs training model labels {:.4} % equal", 100.0 * agree);
    assert!(agree >= 0.9999, "agreement {agree}");
    for file in ["history.csv", "history.png", "model.mpk", "optimizer.mpk", "state.json"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let plot = image::open(dir.join("history.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (640, 360));
}

#[cfg(feature = "cli")]
#[test]
fn cli_trains_predicts_and_the_runtime_agrees() {
    use std::process::Command;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_segface")).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = scratch("cli_train");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let out = dir.join("run");
    let (ok, stdout, stderr) = run(&[
        "train",
        "--dataset",
        "synthetic",
        "--samples",
        "4",
        "--resolution",
        "64",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--output",
        &s(&out),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 epochs; last: loss"), "{stdout}");
    let weights = s(&out.join("weights.safetensors"));
    let photo = s(&astronaut_path());
    let predicted = dir.join("predicted.png");
    let (ok, _, stderr) =
        run(&["predict", "--weights", &weights, "--resolution", "64", &photo, "-o", &s(&predicted)]);
    assert!(ok, "{stderr}");
    let model = dir.join("trained.onnx");
    assert!(run(&["convert", &weights, "-o", &s(&model), "--resolution", "64"]).0);
    let parsed = dir.join("parsed.png");
    let (ok, _, stderr) = run(&["parse", &photo, "-m", &s(&model), "-o", &s(&parsed)]);
    assert!(ok, "{stderr}");
    let (a, b) = (image::open(&predicted).unwrap().to_luma8(), image::open(&parsed).unwrap().to_luma8());
    assert_eq!(a.dimensions(), (512, 512));
    let agree = agreement(a.as_raw(), b.as_raw());
    println!("segface predict vs segface parse of the converted checkpoint: {:.4} % equal", 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");

    // A dataset folder without the dataset's layout is named.
    let (ok, _, stderr) = run(&["train", "--dataset", "lapa", "--root", ".", "--output", &s(&dir.join("x"))]);
    assert!(!ok && stderr.contains("train/images"), "{stderr}");
    #[cfg(not(feature = "cuda"))]
    {
        let (ok, _, stderr) =
            run(&["predict", "--weights", &weights, &photo, "-o", "x.png", "--device", "cuda"]);
        assert!(!ok && stderr.contains("`cuda` feature"), "{stderr}");
    }
}
