//! Smaller model files: the fixture checkpoint exported with f16 and int8 weights loads, runs at
//! float32, and agrees with the float32 model; hostile versions of the compact forms are errors.
#![cfg(feature = "convert")]

use crate::common;

use std::sync::OnceLock;

use common::*;
use prost::Message;
use segface::convert::Weights;
use segface::convert::{export_mobilenet, ExportOptions, WeightStorage};
use segface::{ErrorKind, LoadOptions, Model};
use tract_onnx::pb::ModelProto;

fn weights() -> &'static Weights {
    static WEIGHTS: OnceLock<Weights> = OnceLock::new();
    WEIGHTS.get_or_init(|| segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap())
}

fn export(resolution: usize, storage: WeightStorage) -> Vec<u8> {
    export_mobilenet(weights(), &ExportOptions { weights: storage, ..ExportOptions::new(resolution) })
        .unwrap()
}

/// Logits and labels for the golden input.
fn run(model: &Model) -> (Vec<f32>, Vec<u8>) {
    let (_, input) = Golden::load().f32("input");
    let logits = model.session().unwrap().logits(&input).unwrap();
    let pixels = 256 * 256;
    let labels = (0..pixels)
        .map(|p| {
            (0..19).max_by(|&a, &b| logits[a * pixels + p].total_cmp(&logits[b * pixels + p])).unwrap() as u8
        })
        .collect();
    (logits, labels)
}

#[test]
fn compact_weights_agree_with_float32_on_the_golden_input() {
    let (f32_logits, f32_labels) = run(model_256());
    let (_, golden_labels) = Golden::load().u8("labels");
    assert!(agreement(&f32_labels, &golden_labels) >= 0.9999);
    for (storage, min_agreement) in [(WeightStorage::F16, 0.999), (WeightStorage::Int8, 0.99)] {
        let model = Model::load_with(&export(256, storage), &LoadOptions::default()).unwrap();
        assert_eq!(model.info().weight_storage, storage.name());
        let (logits, labels) = run(&model);
        let agree = agreement(&labels, &f32_labels);
        println!(
            "{}: labels agree with float32 on {:.3} % of pixels, logits max abs diff {:.4}",
            storage.name(),
            100.0 * agree,
            max_abs_diff(&logits, &f32_logits)
        );
        assert!(agree >= min_agreement, "{}: agreement {agree}", storage.name());
    }
    assert_eq!(model_256().info().weight_storage, "f32");
}

#[test]
fn int8_model_at_512_is_under_8_mb_and_a_quarter_of_float32() {
    let sizes: Vec<(WeightStorage, usize)> = [WeightStorage::F32, WeightStorage::F16, WeightStorage::Int8]
        .into_iter()
        .map(|s| (s, export(512, s).len()))
        .collect();
    for (storage, size) in &sizes {
        println!("R 512, {} weights: {:.2} MB", storage.name(), *size as f64 / 1e6);
    }
    let (f32_size, f16_size, int8_size) = (sizes[0].1, sizes[1].1, sizes[2].1);
    assert!(int8_size <= 8_000_000, "int8 model is {int8_size} bytes");
    assert!(int8_size * 10 <= f32_size * 3, "int8 {int8_size} vs f32 {f32_size}");
    assert!(f16_size * 10 <= f32_size * 6, "f16 {f16_size} vs f32 {f32_size}");
}

fn edited(storage: WeightStorage, edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let mut proto = ModelProto::decode(export(256, storage).as_slice()).unwrap();
    edit(&mut proto);
    proto.encode_to_vec()
}

/// The portable graph, edited: it holds the positional encoding's recipe (the runtime graph
/// computes the encoding in `AddPositionalEncoding`; files converted before that hold the recipe
/// too, so the load still evaluates it).
fn edited_portable(edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let options = ExportOptions { portable: true, ..ExportOptions::new(256) };
    let mut proto = ModelProto::decode(export_mobilenet(weights(), &options).unwrap().as_slice()).unwrap();
    edit(&mut proto);
    proto.encode_to_vec()
}

fn first_node<'a>(proto: &'a mut ModelProto, op: &str) -> &'a mut tract_onnx::pb::NodeProto {
    proto.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == op).unwrap()
}

fn refused(bytes: &[u8], needle: &str) {
    let err = Model::load_with(bytes, &LoadOptions::default()).expect_err("must not load");
    assert_eq!(err.kind(), ErrorKind::InvalidModel, "{err}");
    // The context says what failed; its causes (tract's own words) say where.
    assert!(err.report().contains(needle), "`{}` does not mention `{needle}`", err.report());
}

#[test]
fn tampered_compact_weights_are_clear_errors() {
    // A per-channel axis that does not match the scale's length.
    refused(
        &edited(WeightStorage::Int8, |p| {
            let node = first_node(p, "DequantizeLinear");
            node.attribute.iter_mut().find(|a| a.name == "axis").unwrap().i = 3;
        }),
        "per-axis scale",
    );
    // A zero point of another type than the tensor.
    refused(
        &edited(WeightStorage::Int8, |p| {
            let zero = first_node(p, "DequantizeLinear").input[2].clone();
            let graph = p.graph.as_mut().unwrap();
            let t = graph.initializer.iter_mut().find(|t| t.name == zero).unwrap();
            t.data_type = tract_onnx::pb::tensor_proto::DataType::Uint8 as i32;
        }),
        "zero point",
    );
    // The positional encoding's product with mismatched operands.
    refused(
        &edited_portable(|p| {
            let phases = first_node(p, "Sin").input[0].clone();
            let graph = p.graph.as_mut().unwrap();
            let product = graph.node.iter().find(|n| n.output[0] == phases).unwrap().clone();
            let grid = graph.initializer.iter_mut().find(|t| t.name == product.input[0]).unwrap();
            grid.dims = vec![grid.dims[0] / 4, 8];
            let gaussian = graph.initializer.iter_mut().find(|t| t.name == product.input[1]).unwrap();
            gaussian.dims = vec![4, 64];
        }),
        "cannot multiply",
    );
    // Concatenated halves of different widths.
    refused(
        &edited_portable(|p| {
            let node = first_node(p, "Concat");
            node.attribute[0].i = 0;
            let sin = node.input[0].clone();
            node.input = vec![sin.clone(), sin, "image".into()];
        }),
        "Concat",
    );
}
