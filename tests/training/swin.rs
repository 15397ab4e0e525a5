//! The Swin v1 backbone of the training model is torchvision's: Swin-B has the reference's keys,
//! shapes and parameter count; the reduced Swin fixture (padding, shifted windows and their
//! cancellation, the -100 mask, relative-position bias, patch merging) reproduces the reference's
//! taps, fused map, tokens and logits at R = 224 (no padding, stage 4 unshifted) and R = 256
//! (every stage padded); its weights save back unchanged; and it trains.
#![cfg(all(feature = "training", feature = "convert"))]

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use burn::tensor::{Tensor, TensorData};
use common::*;
use segface::convert::arch::swin::{swin_keys, SwinConfig};
use segface::convert::Weights;
use segface::training::model::Architecture;
use segface::training::synthetic::SyntheticFaces;
use segface::training::train::{train, TrainOptions};
use segface::training::{Cpu, CpuTrain, SegFace};

fn fixture(name: &str) -> PathBuf {
    fixtures().join("swin_reduced_seed2").join(name)
}

fn reduced_config() -> SwinConfig {
    SwinConfig::from_json(&std::fs::read_to_string(fixture("swin_config.json")).unwrap()).unwrap()
}

fn reduced_weights() -> Weights {
    Weights::from_safetensors_file(&fixture("weights.safetensors")).unwrap()
}

fn loaded() -> SegFace<Cpu> {
    let device = Default::default();
    let mut model = SegFace::<Cpu>::swin(&reduced_config(), 19, &device);
    model.load_weights(&reduced_weights(), &device).unwrap();
    model
}

fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// The float keys and shapes of a reference key listing (`name<TAB>(shape)<TAB>dtype`).
fn reference_keys(file: &str) -> Vec<(String, Vec<usize>)> {
    std::fs::read_to_string(fixtures().join(file))
        .unwrap()
        .lines()
        .filter(|line| line.ends_with("torch.float32"))
        .map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap().to_string();
            let shape = fields.next().unwrap().trim_matches(|c| c == '(' || c == ')');
            (name, shape.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        })
        .collect()
}

#[test]
fn swin_b_has_the_reference_keys_shapes_and_parameter_count() {
    let expected = reference_keys("keys_celeb_swin_base.txt");
    assert_eq!(expected.len(), 474 - 24, "474 keys less the 24 int64 position indices");
    let described: Vec<_> =
        swin_keys(&SwinConfig::swin_b(), 19).into_iter().map(|k| (k.name, k.shape)).collect();
    assert_eq!(described, expected, "arch::swin describes the state dict in the reference's order");

    let model = SegFace::<Cpu>::swin(&SwinConfig::swin_b(), 19, &Default::default());
    assert_eq!(model.num_trained_params(), 91_007_800);
    let weights = model.weights();
    let mut sorted = expected.clone();
    sorted.sort();
    let saved: Vec<_> =
        weights.names().map(|n| (n.to_string(), weights.get(n).unwrap().shape.clone())).collect();
    assert_eq!(saved, sorted, "the model's own walk names every weight as the reference does");
    // The LaPa and Helen head: 11 tokens (param_counts.json, lapa/swin_base).
    drop((model, weights));
    assert_eq!(
        SegFace::<Cpu>::swin(&SwinConfig::swin_b(), 11, &Default::default()).num_trained_params(),
        91_005_752
    );
}

#[test]
fn the_configuration_is_read_off_the_weights() {
    assert_eq!(Architecture::of_weights(&reduced_weights()).unwrap(), Architecture::Swin(reduced_config()));
    let mobilenet = segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap();
    assert_eq!(Architecture::of_weights(&mobilenet).unwrap(), Architecture::MobileNetV3);
}

fn check_against_golden(resolution: usize) {
    let golden = Golden::open(&fixture(&format!("golden_r{resolution}.safetensors")));
    let model = loaded();
    let (shape, input) = golden.f32("input");
    let input = Tensor::<Cpu, 4>::from_data(
        TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]),
        &Default::default(),
    );
    let mut worst = Vec::new();
    let mut compare = |name: &str, ours: Vec<f32>| {
        let (_, expected) = golden.f32(name);
        let diff = max_abs_diff(&ours, &expected);
        println!("R {resolution} {name}: max abs diff {diff:e}");
        worst.push((name.to_string(), diff));
    };
    let taps = model.backbone.forward(input.clone());
    for (i, tap) in taps.iter().enumerate() {
        compare(&format!("tap{i}"), values(tap.clone()));
    }
    let fused = model.head.fuse(taps);
    let side = fused.dims()[2];
    compare("fused", values(fused.clone()));
    let (queries, keys) = model.head.transformer(fused);
    compare("tokens_out", values(queries.clone()));
    let logits = values(model.head.predict(queries, keys, side));
    compare("logits", logits.clone());
    for (name, diff) in &worst {
        assert!(*diff <= 1e-4, "R {resolution}: {name} differs by {diff}");
    }
    assert_eq!(values(model.forward(input)), logits, "forward is the same computation");

    let (_, labels) = golden.u8("labels");
    let plane = resolution * resolution;
    let argmax: Vec<u8> = (0..plane)
        .map(|p| {
            let mut best = 0;
            for c in 1..19 {
                if logits[c * plane + p] > logits[best * plane + p] {
                    best = c;
                }
            }
            best as u8
        })
        .collect();
    let agree = agreement(&argmax, &labels);
    println!("R {resolution} labels: {:.4} % equal", 100.0 * agree);
    assert!(agree >= 0.9999, "R {resolution}: label agreement {agree}");
}

#[test]
fn reduced_swin_matches_the_reference_at_224_unpadded() {
    check_against_golden(224);
}

#[test]
fn reduced_swin_matches_the_reference_at_256_padded() {
    check_against_golden(256);
}

#[test]
fn weights_save_back_exactly() {
    let weights = reduced_weights();
    let saved = loaded().weights();
    // The fixture holds torchvision's int64 position indices too; those are recomputed, not
    // weights.
    assert_eq!(saved.len(), weights.len());
    for name in weights.names() {
        assert_eq!(saved.get(name).unwrap(), weights.get(name).unwrap(), "{name}");
    }
    // A MobileNet model refuses Swin weights, naming a key.
    let device = Default::default();
    let err = SegFace::<Cpu>::mobilenet(19, &device).load_weights(&weights, &device).unwrap_err();
    assert!(err.message().contains("backbone."), "{err}");
}

#[test]
fn a_small_swin_learns_with_stochastic_depth() {
    // Windows of 4 on a 16 x 16 stride-4 grid: shifted and unshifted blocks, padding at stage 3
    // (4 -> 4) and stage 4 (2 -> 4, shift cancelled), and drop paths while training.
    let config = SwinConfig {
        patch: 4,
        embed_dim: 16,
        depths: [2, 2, 2, 2],
        heads: [1, 2, 2, 4],
        window: 4,
        stochastic_depth_prob: 0.2,
    };
    let device = Default::default();
    let model = SegFace::<CpuTrain>::swin(&config, 19, &device);
    let data = SyntheticFaces { count: 2, seed: 3 };
    let options = TrainOptions {
        batch_size: 2,
        epochs: 12,
        learning_rate: 1e-3,
        milestones: vec![100],
        validate_every: 100,
        progress: false,
        ..TrainOptions::reference(64, scratch("swin_learns"))
    };
    let (_, history) = train(model, &data, None, &options, &device).unwrap();
    let losses: Vec<f64> = history.iter().map(|e| e.train_loss).collect();
    println!("losses: {losses:.3?}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses[losses.len() - 1] < 0.7 * losses[0], "loss did not fall: {losses:?}");
}

#[test]
fn predict_reads_the_backbone_off_the_weights_and_checks_what_it_is_told() {
    let dir = scratch("swin_predict");
    let out = dir.join("labels.png");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_segface"))
            .arg("predict")
            .arg(astronaut_path())
            .arg("--weights")
            .arg(fixture("weights.safetensors"))
            .args(["--resolution", "224", "-o"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&["--backbone", "swin", "--swin-config", fixture("swin_config.json").to_str().unwrap()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let labels = image::open(&out).unwrap().to_luma8();
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let library =
        segface::training::predict::predict_image(&loaded(), img.as_raw(), w, h, 224, &Default::default())
            .unwrap();
    assert_eq!(labels.as_raw(), &library, "the CLI writes what the library predicts");

    let wrong = run(&["--backbone", "mobilenetv3"]);
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("MobileNetV3"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let swin_b = run(&["--backbone", "swin-b"]);
    assert!(!swin_b.status.success(), "reduced weights are not Swin-B");
}
