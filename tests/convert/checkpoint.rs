//! Reading the reference's checkpoint format, and the model description against the reference's
//! key list and parameter count.

use crate::common;

use common::*;
use segface::convert::arch;

/// (name, shape) of every float tensor in the reference key list.
fn reference_float_keys() -> Vec<(String, Vec<usize>)> {
    let text = std::fs::read_to_string(fixtures().join("keys_celeb_mobilenet.txt")).unwrap();
    text.lines()
        .filter(|l| l.ends_with("torch.float32"))
        .map(|l| {
            let mut parts = l.split('\t');
            let name = parts.next().unwrap().to_string();
            let shape = parts.next().unwrap().trim_matches(|c| c == '(' || c == ')');
            let shape = shape
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().unwrap())
                .collect();
            (name, shape)
        })
        .collect()
}

#[test]
fn model_description_equals_the_reference_state_dict() {
    let ours: Vec<(String, Vec<usize>)> =
        arch::mobilenet_keys(19).into_iter().map(|k| (k.name, k.shape)).collect();
    let reference = reference_float_keys();
    assert_eq!(ours.len(), reference.len());
    assert_eq!(ours, reference, "key order and shapes follow the reference");
    // Parameters = everything but the BatchNorm statistics and the PE buffer.
    let params: usize = ours
        .iter()
        .filter(|(n, _)| {
            !n.ends_with("running_mean") && !n.ends_with("running_var") && !n.starts_with("pe_layer")
        })
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(params, 7_035_824);
}

#[cfg(feature = "convert")]
#[test]
fn published_checkpoint_format_is_read_without_python() {
    let weights = segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap();
    // 431 entries in the state dict, 52 of them int64 BatchNorm counters.
    assert_eq!(weights.len(), reference_float_keys().len());
    weights.check_against(&arch::mobilenet_keys(19)).unwrap();
    let golden_pe = weights.get("pe_layer.positional_encoding_gaussian_matrix").unwrap();
    assert_eq!(golden_pe.shape, vec![2, 128]);
    assert!(golden_pe.data.iter().any(|v| *v != 0.0));
}

#[cfg(feature = "convert")]
#[test]
fn broken_checkpoints_are_clear_errors() {
    let dir = scratch("broken_checkpoints");
    let bytes = std::fs::read(checkpoint_path()).unwrap();
    let truncated = dir.join("truncated.pt");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = segface::convert::read_torch_checkpoint(&truncated).unwrap_err();
    assert_eq!(err.kind(), segface::ErrorKind::InvalidModel, "{err}");

    let garbage = dir.join("garbage.pt");
    std::fs::write(&garbage, b"this is not a checkpoint").unwrap();
    let err = segface::convert::read_torch_checkpoint(&garbage).unwrap_err();
    assert_eq!(err.kind(), segface::ErrorKind::InvalidModel, "{err}");

    let err = segface::convert::read_torch_checkpoint(&dir.join("missing.pt")).unwrap_err();
    assert_eq!(err.kind(), segface::ErrorKind::Io, "{err}");
}

#[cfg(feature = "convert")]
#[test]
fn missing_unknown_and_misshapen_weights_are_named() {
    use segface::convert::{export_mobilenet, ExportOptions};
    use segface::convert::{WeightTensor, Weights};
    let keys = arch::mobilenet_keys(19);
    let options = ExportOptions::new(256);

    let full = Weights::seeded(&keys, 3);
    let mut missing = Weights::default();
    for name in full.names().filter(|n| *n != "linear_fuse.weight") {
        missing.insert(name, full.get(name).unwrap().clone());
    }
    let err = export_mobilenet(&missing, &options).unwrap_err();
    assert!(err.message().contains("linear_fuse.weight"), "{err}");

    let mut unknown = full.clone();
    unknown.insert("decoder.extra.weight", WeightTensor::new(vec![1], vec![0.0]).unwrap());
    let err = export_mobilenet(&unknown, &options).unwrap_err();
    assert!(err.message().contains("decoder.extra.weight"), "{err}");

    let mut misshapen = full.clone();
    misshapen.insert("backbone.0.0.weight", WeightTensor::new(vec![16, 3, 1, 9], vec![0.0; 432]).unwrap());
    let err = export_mobilenet(&misshapen, &options).unwrap_err();
    assert!(
        err.message().contains("backbone.0.0.weight") && err.message().contains("[16, 3, 3, 3]"),
        "{err}"
    );

    for bad in [0, 100, 250, 4096] {
        let err = export_mobilenet(&full, &ExportOptions::new(bad)).unwrap_err();
        assert_eq!(err.kind(), segface::ErrorKind::InvalidArgument);
    }
}
