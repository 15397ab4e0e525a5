//! Model and checkpoint files that are truncated, bit-flipped, oversized, tampered with or
//! malicious: each is a clear error (or, for a flip that only changes a weight, a model), never a
//! panic, an abort or a huge allocation.
#![cfg(feature = "convert")]

use crate::common;

use std::io::{Read, Write};

use common::*;
use prost::Message;
use segface::{ErrorKind, LoadOptions, Model};
use tract_onnx::pb::ModelProto;

/// A small deterministic generator (xorshift) for reproducible corruption.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn truncated_and_bit_flipped_models_never_panic() {
    let bytes = onnx_256();
    let mut rng = Rng(0x5eed);
    let mut errors = 0;
    for i in 0..24 {
        let cut = rng.below(bytes.len());
        let err = Model::load_with(&bytes[..cut], &LoadOptions::default())
            .expect_err("a truncated model must not load");
        assert_eq!(err.kind(), ErrorKind::InvalidModel, "cut {i} at {cut}: {err}");
    }
    for _ in 0..24 {
        let mut flipped = bytes.to_vec();
        let at = rng.below(flipped.len());
        flipped[at] ^= 1 << rng.below(8);
        // A flip inside a weight's bytes still makes a model; anything else must be an error.
        if let Err(e) = Model::load_with(&flipped, &LoadOptions::default()) {
            assert!(matches!(e.kind(), ErrorKind::InvalidModel), "{e}");
            errors += 1;
        }
    }
    println!("24 truncations refused; {errors} of 24 bit flips refused, the rest changed only weights");
}

fn edited(edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let mut proto = ModelProto::decode(onnx_256()).unwrap();
    edit(&mut proto);
    proto.encode_to_vec()
}

#[test]
fn tensors_that_lie_about_their_size_are_refused_before_allocation() {
    let huge = edited(|p| p.graph.as_mut().unwrap().initializer[0].dims = vec![1 << 40, 1 << 20]);
    let err = Model::load_with(&huge, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains("absurd shape"), "{err}");

    let negative = edited(|p| p.graph.as_mut().unwrap().initializer[0].dims = vec![-4, 8]);
    let err = Model::load_with(&negative, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains("absurd shape"), "{err}");

    let mut name = String::new();
    let doubled = edited(|p| {
        let t = &mut p.graph.as_mut().unwrap().initializer[0];
        name = t.name.clone();
        t.dims.insert(0, 2);
    });
    let err = Model::load_with(&doubled, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains(&name) && err.message().contains("but holds"), "{err}");
}

#[test]
fn absurd_input_resolutions_are_refused() {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let big = edited(|p| {
        let input = &mut p.graph.as_mut().unwrap().input[0];
        let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().unwrap().value.as_mut()
        else {
            panic!("tensor input")
        };
        for d in &mut t.shape.as_mut().unwrap().dim[2..] {
            d.value = Some(Value::DimValue(1 << 20));
        }
    });
    let err = Model::load_with(&big, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains("outside 1..=2048"), "{err}");
}

#[test]
fn model_files_are_verified_against_their_sha256() {
    let dir = scratch("integrity");
    let path = onnx_256_file("integrity");
    let digest = segface::internals::sha256_hex(onnx_256());
    let sidecar = dir.join("segface_r256.onnx.sha256");
    let _ = std::fs::remove_file(&sidecar);

    assert_eq!(
        Model::load_with(&path, &verified(&digest.to_uppercase())).unwrap().info().model_sha256,
        digest
    );
    let wrong = "ab".repeat(32);
    let err = Model::load_with(&path, &verified(&wrong)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HashMismatch, "{err}");
    assert!(err.message().contains(&digest) && err.message().contains(&wrong), "{err}");
    assert_eq!(Model::load_with(&path, &verified("123")).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(Model::load_with(onnx_256(), &verified(&digest)).is_ok());
    assert_eq!(Model::load_with(onnx_256(), &verified(&wrong)).unwrap_err().kind(), ErrorKind::HashMismatch);

    // The `.sha256` file that `segface convert` writes is checked by every load.
    std::fs::write(&sidecar, format!("{digest}  segface_r256.onnx\n")).unwrap();
    assert!(Model::load(&path).is_ok());
    std::fs::write(&sidecar, format!("{wrong}  segface_r256.onnx\n")).unwrap();
    assert_eq!(Model::load(&path).unwrap_err().kind(), ErrorKind::HashMismatch);
    std::fs::write(&sidecar, "garbage\n").unwrap();
    assert_eq!(Model::load(&path).unwrap_err().kind(), ErrorKind::InvalidModel);
    std::fs::remove_file(&sidecar).unwrap();
}

/// The fixture checkpoint's zip entries, in order.
fn checkpoint_entries() -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(checkpoint_path()).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

/// Writes a checkpoint made of `entries` (stored, like torch.save) and reads it.
fn read_rewritten(name: &str, entries: &[(String, Vec<u8>)]) -> segface::Result<segface::convert::Weights> {
    let path = scratch("hostile_checkpoints").join(name);
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (entry, data) in entries {
        writer.start_file(entry.as_str(), options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap();
    segface::convert::read_torch_checkpoint(&path)
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack.windows(from.len()).position(|w| w == from).expect("pattern in the pickle");
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

#[test]
fn the_published_format_needs_only_allowed_globals() {
    let file = std::fs::File::open(checkpoint_path()).unwrap();
    let len = file.metadata().unwrap().len();
    let screened = segface::convert::screen_checkpoint(file, len).unwrap();
    println!("globals in the fixture checkpoint: {:?}", screened.globals);
    assert!(screened.globals.iter().any(|g| g == "torch._utils._rebuild_tensor_v2"));
    // Rewriting it entry by entry (our test harness) keeps it readable.
    assert!(read_rewritten("rewritten.pt", &checkpoint_entries()).is_ok());
}

#[test]
fn pickles_asking_for_code_are_refused() {
    let mut entries = checkpoint_entries();
    let pickle = entries.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap();
    pickle.1 = replace(&pickle.1, b"ccollections\nOrderedDict\n", b"cposix\nsystem\n");
    let err = read_rewritten("posix_system.pt", &entries).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    assert!(err.message().contains("`posix.system`"), "{err}");
}

#[test]
fn storages_smaller_than_their_tensors_are_refused() {
    let mut entries = checkpoint_entries();
    let storage = entries.iter_mut().find(|(n, d)| n.contains("/data/") && d.len() > 64).unwrap();
    let storage_name = storage.0.clone();
    storage.1.truncate(8);
    let err = read_rewritten("short_storage.pt", &entries).unwrap_err();
    assert!(err.message().contains("needs") && err.message().contains(&storage_name), "{err}");
}

#[test]
fn compressed_and_truncated_archives_are_refused() {
    let entries = checkpoint_entries();
    read_rewritten("stored.pt", &entries).unwrap();
    // Mark every entry as deflated in the central directory (signature PK\x01\x02, method at 10).
    let path = scratch("hostile_checkpoints").join("stored.pt");
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 0;
    while let Some(p) = bytes[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        let header = at + p;
        bytes[header + 10] = 8;
        at = header + 4;
    }
    let deflated = path.with_file_name("deflated.pt");
    std::fs::write(&deflated, &bytes).unwrap();
    let err = segface::convert::read_torch_checkpoint(&deflated).unwrap_err();
    assert!(err.message().contains("compressed"), "{err}");

    let original = std::fs::read(checkpoint_path()).unwrap();
    let mut rng = Rng(42);
    for _ in 0..12 {
        let cut = rng.below(original.len());
        let truncated = path.with_file_name("truncated.pt");
        std::fs::write(&truncated, &original[..cut]).unwrap();
        let err = segface::convert::read_torch_checkpoint(&truncated).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModel, "cut at {cut}: {err}");
    }
}

#[test]
fn bit_flips_in_the_pickle_never_panic() {
    let entries = checkpoint_entries();
    let index = entries.iter().position(|(n, _)| n.ends_with("data.pkl")).unwrap();
    let mut rng = Rng(7);
    let mut refused = 0;
    for i in 0..64 {
        let mut flipped = entries.clone();
        let pickle = &mut flipped[index].1;
        let at = rng.below(pickle.len());
        pickle[at] ^= 1 << rng.below(8);
        if read_rewritten(&format!("flip{i}.pt"), &flipped).is_err() {
            refused += 1;
        }
        let _ = std::fs::remove_file(scratch("hostile_checkpoints").join(format!("flip{i}.pt")));
    }
    println!("{refused} of 64 single-bit flips in data.pkl refused, none panicked");
}

/// Regression (found while writing the fuzz seeds): a bare state dict, as
/// `torch.save(model.state_dict())` writes it, was refused because the reader errored on the
/// missing `state_dict_backbone` key instead of returning nothing.
#[test]
fn a_bare_state_dict_is_read() {
    let path = scratch("hostile_checkpoints").join("bare_state_dict.pt");
    std::fs::write(&path, common::torch_files::tiny_checkpoint()).unwrap();
    let weights = segface::convert::read_torch_checkpoint(&path).unwrap();
    let w = weights.get("w").unwrap();
    assert_eq!((w.shape.as_slice(), w.data.as_slice()), (&[2usize][..], &[0.5f32, -1.0][..]));
}

/// Regression (found by the `model_bytes` fuzz target): a graph output that no node produces made
/// tract panic while reading the graph (caught, but a panic=abort build would have crashed).
#[test]
fn graph_values_that_nothing_produces_are_refused() {
    let dangling_output = edited(|p| p.graph.as_mut().unwrap().output[0].name = "nowhere".into());
    let err = Model::load_with(&dangling_output, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains("`nowhere` is produced by no node"), "{err}");
    let dangling_input = edited(|p| p.graph.as_mut().unwrap().node[3].input[0] = "ghost".into());
    let err = Model::load_with(&dangling_input, &LoadOptions::default()).unwrap_err();
    assert!(err.message().contains("reads `ghost`"), "{err}");
}

/// Load options that expect the model's SHA-256 to be `sha256`.
fn verified(sha256: &str) -> LoadOptions {
    LoadOptions { expected_sha256: Some(sha256.into()), ..LoadOptions::default() }
}
