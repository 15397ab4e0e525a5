//! The training model (burn, CPU) is the reference model: published-format checkpoints load into
//! it under their own key names, its evaluation forward reproduces the reference's golden
//! intermediate tensors and logits, and its weights save back unchanged.
#![cfg(all(feature = "training", feature = "convert"))]

use crate::common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use segface::convert::arch;
use segface::convert::Weights;
use segface::training::{Cpu, SegFace};

fn checkpoint_weights() -> Weights {
    segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap()
}

fn loaded() -> SegFace<Cpu> {
    let device = Default::default();
    let mut model = SegFace::<Cpu>::mobilenet(19, &device);
    model.load_weights(&checkpoint_weights(), &device).unwrap();
    model
}

fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn golden_input() -> Tensor<Cpu, 4> {
    let (shape, input) = Golden::load().f32("input");
    Tensor::from_data(TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]), &Default::default())
}

#[test]
fn parameter_count_equals_the_reference() {
    let model = SegFace::<Cpu>::mobilenet(19, &Default::default());
    assert_eq!(model.num_trained_params(), 7_035_824);
    // Every key the reference stores, no other.
    let names: Vec<String> = model.weights().names().map(String::from).collect();
    let mut expected: Vec<String> = arch::mobilenet_keys(19).into_iter().map(|k| k.name).collect();
    expected.sort();
    assert_eq!(names, expected);
    // The LaPa and Helen head: 11 tokens (param_counts.json, lapa/mobilenet).
    assert_eq!(SegFace::<Cpu>::mobilenet(11, &Default::default()).num_trained_params(), 7_033_776);
}

#[test]
fn eval_forward_matches_the_reference_goldens() {
    let golden = Golden::load();
    let model = loaded();
    let taps = model.backbone.forward(golden_input());
    for (i, tap) in taps.iter().enumerate() {
        let (_, expected) = golden.f32(&format!("tap{i}"));
        let diff = max_abs_diff(&values(tap.clone()), &expected);
        println!("tap{i}: max abs diff {diff:e}");
        assert!(diff <= 1e-4, "tap{i} differs by {diff}");
    }
    let fused = model.head.fuse(taps);
    let (_, expected) = golden.f32("fused");
    let diff = max_abs_diff(&values(fused.clone()), &expected);
    println!("fused: max abs diff {diff:e}");
    assert!(diff <= 1e-4, "fused differs by {diff}");
    let (queries, keys) = model.head.transformer(fused);
    for (name, t) in [("tokens_out", queries.clone()), ("image_tokens_out", keys.clone())] {
        let (_, expected) = golden.f32(name);
        let diff = max_abs_diff(&values(t), &expected);
        println!("{name}: max abs diff {diff:e}");
        assert!(diff <= 1e-4, "{name} differs by {diff}");
    }
    let logits = values(model.head.predict(queries, keys, 64));
    let (_, expected) = golden.f32("logits");
    let diff = max_abs_diff(&logits, &expected);
    println!("logits: max abs diff {diff:e}");
    assert!(diff <= 1e-4, "logits differ by {diff}");
    // And the whole forward in one call gives the same.
    assert_eq!(values(model.forward(golden_input())), logits);
}

#[test]
fn weights_save_back_exactly_and_wrong_checkpoints_are_refused() {
    let weights = checkpoint_weights();
    let saved = loaded().weights();
    assert_eq!(saved.len(), weights.len());
    for name in weights.names() {
        assert_eq!(saved.get(name).unwrap(), weights.get(name).unwrap(), "{name}");
    }
    let device = Default::default();
    let mut model = SegFace::<Cpu>::mobilenet(19, &device);
    let mut wrong = weights.clone();
    let key = "face_decoder.transformer.layers.1.mlp.lin1.weight";
    let t = wrong.get(key).unwrap().clone();
    wrong.insert(key, segface::convert::WeightTensor::new(vec![t.shape[1], t.shape[0]], t.data).unwrap());
    let err = model.load_weights(&wrong, &device).unwrap_err();
    assert!(err.message().contains(key), "{err}");
}

#[test]
fn predict_labels_an_image_as_the_runtime_parses_it() {
    let img = astronaut_rgb();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let ours =
        segface::training::predict::predict_image(&loaded(), img.as_raw(), w, h, 256, &Default::default())
            .unwrap();
    let view = segface::ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let runtime = model_256().session().unwrap().parse(&view).unwrap();
    let agree = agreement(&ours, &runtime.labels);
    println!("training model vs runtime, astronaut at its own size: {:.4} % equal", 100.0 * agree);
    assert!(agree >= 0.9999, "agreement {agree}");
}
