//! The runtime graph's own operators (`segface::ops`: the fused decoder tail, the attention
//! cores and the depthwise convolutions) against the portable, standard-ONNX graph of the same
//! weights, and against the reference's goldens; hostile versions of those nodes are load errors.
#![cfg(feature = "convert")]

use crate::common;

use std::sync::OnceLock;

use common::*;
use prost::Message;
use segface::convert::Weights;
use segface::convert::{export_mobilenet, ExportOptions};
use segface::{ErrorKind, LoadOptions, Model};
use tract_onnx::pb::{attribute_proto::AttributeType, ModelProto};

fn weights() -> &'static Weights {
    static WEIGHTS: OnceLock<Weights> = OnceLock::new();
    WEIGHTS.get_or_init(|| segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap())
}

fn proto(portable: bool) -> ModelProto {
    let bytes = export_mobilenet(weights(), &ExportOptions { portable, ..ExportOptions::new(256) }).unwrap();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

fn golden_logits(model: &Model) -> Vec<f32> {
    let (_, input) = Golden::load().f32("input");
    model.session().unwrap().logits(&input).unwrap()
}

fn custom_nodes(p: &ModelProto) -> Vec<String> {
    let graph = p.graph.as_ref().unwrap();
    graph
        .node
        .iter()
        .filter(|n| !(n.domain.is_empty() || n.domain == "ai.onnx"))
        .map(|n| n.op_type.clone())
        .collect()
}

#[test]
fn the_portable_graph_is_standard_onnx_and_the_runtime_graph_uses_segface_operators() {
    let portable = proto(true);
    assert!(custom_nodes(&portable).is_empty());
    assert!(portable.opset_import.iter().all(|o| o.domain.is_empty()));
    let fused = proto(false);
    let mut custom = custom_nodes(&fused);
    custom.sort();
    // Block 1's self-attention core (block 0's self-attention is a constant), the three
    // token-to-image attentions (two blocks and the final one) and the two image-to-token ones
    // with their norms, the backbone's 15 depthwise convolutions, six norms of the class tokens
    // (block 0's first is part of that constant), the tail and the fusion's upsampled sum.
    let mut expected = vec!["Attention"];
    expected.extend(["DepthwiseConv"; 15]);
    expected.extend(["ImageToTokenAttention"; 2]);
    expected.extend(["LayerNorm"; 6]);
    expected.extend(["TokenToImageAttention"; 3]);
    expected.extend(["UpsampleSum", "UpscaleHead"]);
    assert_eq!(custom, expected);
    assert!(fused.opset_import.iter().any(|o| o.domain == segface::internals::DOMAIN && o.version == 1));
    // The fused tail replaces the ConvTranspose layers, their norm and GELUs.
    let ops =
        |p: &ModelProto, op: &str| p.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == op).count();
    let grouped = |p: &ModelProto| {
        let convs = p.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == "Conv");
        convs.filter(|n| n.attribute.iter().any(|a| a.name == "group" && a.i > 1)).count()
    };
    assert_eq!(grouped(&portable), 15);
    assert_eq!(grouped(&fused), 0);
    assert_eq!(ops(&portable, "ConvTranspose"), 2);
    assert_eq!(ops(&fused, "ConvTranspose"), 0);
    assert_eq!(ops(&fused, "Erf"), 0);
    assert_eq!(ops(&portable, "Softmax"), 6);
    assert_eq!(ops(&fused, "Softmax"), 0);
    assert_eq!(ops(&portable, "LayerNormalization"), 8);
    assert_eq!(ops(&fused, "LayerNormalization"), 0);
    // The positional encoding: a constant subgraph in the portable graph, computed where the
    // cross-attentions need it in the runtime graph (not stored).
    assert_eq!((ops(&portable, "Sin"), ops(&portable, "Cos")), (1, 1));
    assert_eq!((ops(&fused, "Sin"), ops(&fused, "Cos")), (0, 0));
    // The runtime graph keeps the image tokens channels last: no transposition after the fusion.
    let after_fusion = |p: &ModelProto| {
        let nodes = &p.graph.as_ref().unwrap().node;
        let start = nodes.iter().position(|n| n.op_type == "UpsampleSum").unwrap();
        nodes[start..].iter().filter(|n| n.op_type == "Transpose").count()
    };
    assert_eq!(after_fusion(&fused), 0);
    // ... which its metadata says, so that the load skips tract's axis-reordering pass.
    let layout_final = |p: &ModelProto| {
        p.metadata_props.iter().any(|e| e.key == "segface.layout_final" && e.value == "true")
    };
    assert!(layout_final(&fused));
    assert!(!layout_final(&portable));
    for op in ["UpsampleSum", "UpscaleHead"] {
        let flag = node(&mut fused.clone(), op).attribute.iter().find(|a| a.name == "channels_last").cloned();
        assert_eq!(flag.map(|a| a.i), Some(1), "{op}");
    }
}

#[test]
fn fused_and_portable_graphs_compute_the_same_logits() {
    let fused = Model::load_with(&proto(false).encode_to_vec(), &LoadOptions::default()).unwrap();
    let portable = Model::load_with(&proto(true).encode_to_vec(), &LoadOptions::default()).unwrap();
    let (a, b) = (golden_logits(&fused), golden_logits(&portable));
    let (_, golden) = Golden::load().f32("logits");
    let between = max_abs_diff(&a, &b);
    let (fused_vs_golden, portable_vs_golden) = (max_abs_diff(&a, &golden), max_abs_diff(&b, &golden));
    println!("fused vs portable {between:.2e}; vs golden: fused {fused_vs_golden:.2e}, portable {portable_vs_golden:.2e}");
    assert!(between <= 2e-5, "fused and portable logits differ by {between}");
    assert!(fused_vs_golden <= 1e-4 && portable_vs_golden <= 1e-4);
}

fn node<'a>(p: &'a mut ModelProto, op: &str) -> &'a mut tract_onnx::pb::NodeProto {
    p.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == op).unwrap()
}

fn tail_node(p: &mut ModelProto) -> &mut tract_onnx::pb::NodeProto {
    node(p, "UpscaleHead")
}

fn load_error(p: &ModelProto) -> segface::Error {
    match Model::load_with(&p.encode_to_vec(), &LoadOptions::default()) {
        Ok(_) => panic!("the hostile model must not load"),
        Err(e) => e,
    }
}

#[test]
fn hostile_fused_tails_are_load_errors() {
    // A non-positive epsilon.
    let mut p = proto(false);
    let eps = tail_node(&mut p).attribute.iter_mut().find(|a| a.name == "epsilon").unwrap();
    assert_eq!(eps.r#type, AttributeType::Float as i32);
    eps.f = -1.0;
    let e = load_error(&p);
    assert_eq!(e.kind(), ErrorKind::InvalidModel);
    assert!(e.report().contains("epsilon"), "{}", e.report());

    // Inputs wired to tensors of the wrong shapes: the class weights where the first kernel goes.
    let mut p = proto(false);
    let node = tail_node(&mut p);
    node.input[1] = node.input[7].clone();
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);

    // A first bias one channel short.
    let mut p = proto(false);
    let bias = tail_node(&mut p).input[2].clone();
    let init = p.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == bias).unwrap();
    init.dims = vec![63];
    init.raw_data.truncate(63 * 4);
    let e = load_error(&p);
    assert_eq!(e.kind(), ErrorKind::InvalidModel);

    // Too few inputs.
    let mut p = proto(false);
    tail_node(&mut p).input.truncate(7);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}

#[test]
fn hostile_attention_nodes_are_load_errors() {
    for heads in [0, 3, -8, 1 << 20] {
        let mut p = proto(false);
        node(&mut p, "Attention").attribute.iter_mut().find(|a| a.name == "heads").unwrap().i = heads;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "{heads} heads");
    }
    // K wired to a tensor of another width.
    let mut p = proto(false);
    let wide = node(&mut p, "UpscaleHead").input[1].clone();
    node(&mut p, "Attention").input[1] = wide;
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // A missing V.
    let mut p = proto(false);
    node(&mut p, "Attention").input.truncate(2);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}

#[test]
fn hostile_layer_norms_are_load_errors() {
    for epsilon in [0.0, -1e-5, f32::NAN] {
        let mut p = proto(false);
        node(&mut p, "LayerNorm").attribute.iter_mut().find(|a| a.name == "epsilon").unwrap().f = epsilon;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "epsilon {epsilon}");
        assert!(e.report().contains("epsilon"), "{}", e.report());
    }
    // A scale of the wrong length: the tail's first kernel, a matrix.
    let mut p = proto(false);
    let matrix = node(&mut p, "UpscaleHead").input[1].clone();
    node(&mut p, "LayerNorm").input[1] = matrix;
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // No bias.
    let mut p = proto(false);
    node(&mut p, "LayerNorm").input.truncate(2);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // The residual flag: not 0 or 1; or absent while a residual is given.
    let mut p = proto(false);
    node(&mut p, "LayerNorm").attribute.iter_mut().find(|a| a.name == "residual").unwrap().i = 2;
    let e = load_error(&p);
    assert_eq!(e.kind(), ErrorKind::InvalidModel);
    assert!(e.report().contains("residual"), "{}", e.report());
    let mut p = proto(false);
    node(&mut p, "LayerNorm").attribute.retain(|a| a.name != "residual");
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // A residual of another shape than X.
    let mut p = proto(false);
    let matrix = node(&mut p, "UpscaleHead").input[1].clone();
    node(&mut p, "LayerNorm").input[3] = matrix;
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}

/// The cross-attention operators, and where their Gaussian matrix G is (their last input).
const CROSS_ATTENTIONS: [(&str, usize); 2] = [("TokenToImageAttention", 6), ("ImageToTokenAttention", 9)];

#[test]
fn hostile_positional_encodings_are_load_errors() {
    for (op, g) in CROSS_ATTENTIONS {
        let attribute = |p: &mut ModelProto, name: &str| -> i64 {
            node(p, op).attribute.iter().find(|a| a.name == name).unwrap().i
        };
        // Grids that do not fit the tokens, or that no image has.
        for (name, value) in [("rows", 0), ("rows", -64), ("cols", 1 << 40), ("rows", 63), ("cols", 65)] {
            let mut p = proto(false);
            node(&mut p, op).attribute.iter_mut().find(|a| a.name == name).unwrap().i = value;
            let e = load_error(&p);
            assert_eq!(e.kind(), ErrorKind::InvalidModel, "{op}: {name} = {value}");
            assert!(e.report().contains(op), "{}", e.report());
        }
        let mut p = proto(false);
        assert_eq!((attribute(&mut p, "rows"), attribute(&mut p, "cols")), (64, 64));
        node(&mut p, op).attribute.retain(|a| a.name != "cols");
        assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
        // G not a constant: the image tokens themselves.
        let mut p = proto(false);
        let image = if op == "TokenToImageAttention" { 1 } else { 0 };
        let keys = node(&mut p, op).input[image].clone();
        node(&mut p, op).input[g] = keys;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel);
        assert!(e.report().contains("constant"), "{}", e.report());
        // G of another shape: a norm's scale (256) or the tail's first kernel (256 x 256).
        for (donor, input) in [("LayerNorm", 1), ("UpscaleHead", 1)] {
            let mut p = proto(false);
            let other = node(&mut p, donor).input[input].clone();
            node(&mut p, op).input[g] = other;
            assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel, "{op}: G from {donor}");
        }
        // G with a value that is not finite.
        let mut p = proto(false);
        let name = node(&mut p, op).input[g].clone();
        let init = p.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == name).unwrap();
        init.raw_data[..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
        assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
        // G with a million frequencies: tables of (64 + 64) x 2^20 entries, refused before they are
        // built.
        let mut p = proto(false);
        let name = node(&mut p, op).input[g].clone();
        let init = p.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == name).unwrap();
        init.dims = vec![2, 1 << 20];
        init.raw_data = vec![0; 8 << 20];
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel);
        assert!(e.report().contains("table entries"), "{}", e.report());
        // No G.
        let mut p = proto(false);
        node(&mut p, op).input.truncate(g);
        assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    }
}

#[test]
fn hostile_cross_attentions_are_load_errors() {
    for (op, _) in CROSS_ATTENTIONS {
        for heads in [0, 3, -8, 1 << 20] {
            let mut p = proto(false);
            node(&mut p, op).attribute.iter_mut().find(|a| a.name == "heads").unwrap().i = heads;
            assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel, "{op}: {heads} heads");
        }
        // A projection's weight (256 x 128) where its bias (128) goes, and the reverse.
        for (from, to) in [(2, 3), (3, 2)] {
            let (from, to) = if op == "TokenToImageAttention" { (from, to) } else { (from + 1, to + 1) };
            let mut p = proto(false);
            let other = node(&mut p, op).input[from].clone();
            node(&mut p, op).input[to] = other;
            let e = load_error(&p);
            assert_eq!(e.kind(), ErrorKind::InvalidModel, "{op}: input {from} as {to}");
            assert!(e.report().contains(op), "{}", e.report());
        }
        // More class tokens than the kernels take: the image tokens where the class tokens go.
        let mut p = proto(false);
        let (image, tokens) = if op == "TokenToImageAttention" { (1, 0) } else { (0, 1) };
        let image_tokens = node(&mut p, op).input[image].clone();
        node(&mut p, op).input[tokens] = image_tokens;
        assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel, "{op}: image tokens as class tokens");
    }
    // The norm's epsilon.
    for epsilon in [0.0, -1e-5, f32::NAN] {
        let mut p = proto(false);
        let attributes = &mut node(&mut p, "ImageToTokenAttention").attribute;
        attributes.iter_mut().find(|a| a.name == "epsilon").unwrap().f = epsilon;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "epsilon {epsilon}");
        assert!(e.report().contains("epsilon"), "{}", e.report());
    }
}

#[test]
fn layout_flags_other_than_0_and_1_are_load_errors() {
    for op in ["UpsampleSum", "UpscaleHead"] {
        let mut p = proto(false);
        node(&mut p, op).attribute.iter_mut().find(|a| a.name == "channels_last").unwrap().i = 2;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "{op}");
        assert!(e.report().contains("channels_last"), "{op}: {}", e.report());
    }
    // Channels first on channels-last maps: the sizes no longer fit.
    let mut p = proto(false);
    node(&mut p, "UpsampleSum").attribute.clear();
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}

#[test]
fn hostile_upsample_sums_are_load_errors() {
    // The smallest map first: the others do not fit in it.
    let mut p = proto(false);
    node(&mut p, "UpsampleSum").input.swap(0, 3);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // A map of another rank (the first kernel of the tail, a matrix).
    let mut p = proto(false);
    let matrix = node(&mut p, "UpscaleHead").input[1].clone();
    node(&mut p, "UpsampleSum").input[2] = matrix;
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // No maps at all.
    let mut p = proto(false);
    node(&mut p, "UpsampleSum").input.clear();
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}

#[test]
fn hostile_depthwise_convolutions_are_load_errors() {
    for stride in [0, 3, -1] {
        let mut p = proto(false);
        node(&mut p, "DepthwiseConv").attribute.iter_mut().find(|a| a.name == "stride").unwrap().i = stride;
        let e = load_error(&p);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "stride {stride}");
        assert!(e.report().contains("stride"), "{}", e.report());
    }
    // A kernel that does not fit the channels: the tail's first kernel, a matrix.
    let mut p = proto(false);
    let matrix = node(&mut p, "UpscaleHead").input[1].clone();
    node(&mut p, "DepthwiseConv").input[1] = matrix;
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // A bias one channel short.
    let mut p = proto(false);
    let bias = node(&mut p, "DepthwiseConv").input[2].clone();
    let init = p.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == bias).unwrap();
    let channels = init.dims[0] as usize;
    init.dims = vec![channels as i64 - 1];
    init.raw_data.truncate((channels - 1) * 4);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
    // No bias.
    let mut p = proto(false);
    node(&mut p, "DepthwiseConv").input.truncate(2);
    assert_eq!(load_error(&p).kind(), ErrorKind::InvalidModel);
}
