//! Writes the seed corpora: `make_seeds <corpus dir> <fixture checkpoint>`. Every seed is a real
//! input that loads (checked here), so fuzzing starts deep inside the formats.

use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [corpus, fixture] = args.as_slice() else {
        eprintln!("usage: make_seeds CORPUS_DIR FIXTURE_CHECKPOINT");
        std::process::exit(2);
    };

    let model = segface_fuzz::tiny_model();
    segface::Model::load_with(&model, &segface::LoadOptions::default()).expect("the tiny model loads");
    write(&corpus.join("model_bytes"), "tiny_conv.onnx", &model);

    let checkpoint = segface_fuzz::torch_files::tiny_checkpoint();
    let tmp = corpus.join("tiny.pt");
    std::fs::write(&tmp, &checkpoint).unwrap();
    let weights = segface::convert::read_torch_checkpoint(&tmp).expect("the tiny checkpoint reads");
    assert_eq!(weights.len(), 1);
    std::fs::remove_file(&tmp).unwrap();
    write(&corpus.join("checkpoint_bytes"), "tiny.pt", &checkpoint);
    // The published layout's full pickle (431 tensors, optimizer and scheduler state) with its
    // storages left empty: the screen walks all of it before refusing the short storages.
    let file = std::fs::File::open(fixture).expect("fixture checkpoint");
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut pickle = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        if entry.name().unwrap().ends_with("data.pkl") {
            std::io::copy(&mut entry, &mut pickle).unwrap();
        }
    }
    write(
        &corpus.join("checkpoint_bytes"),
        "published_pickle.pt",
        &segface_fuzz::torch_files::torch_zip(&pickle, &[]),
    );

    // Image descriptors: RGB8 64x48 packed, RGBA8 with padding, an oversized one.
    let descriptor = |format: u32, w: u32, h: u32, stride: u32, data_len: u32, labels_stride: u32| {
        let labels_len = labels_stride * h;
        [format + 1, w, h, stride, data_len, labels_len, labels_stride]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain([0u8])
            .chain((0..64).map(|i| (i * 5) as u8))
            .collect::<Vec<u8>>()
    };
    let dir = corpus.join("image_descriptor");
    write(&dir, "rgb_packed", &descriptor(0, 64, 48, 192, 192 * 48, 64));
    write(&dir, "rgba_padded", &descriptor(1, 40, 30, 176, 176 * 30, 48));
    write(&dir, "too_large", &descriptor(2, 20000, 2, 80000, 160000, 20000));

    // Frame descriptors: NV21 64x48 (planes sized and strided right), BGRA rotated 90 with a box.
    let words = |values: &[u32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let dir = corpus.join("frame_descriptor");
    write(
        &dir,
        "nv21",
        &words(&[4, 64, 48, 0, 0, 64 * 48, 64 * 24, 0, 64, 1, 64, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    write(
        &dir,
        "bgra_rotated_box",
        &words(&[3, 40, 30, 1, 6, 40 * 30 * 4, 0, 0, 160, 0, 0, 0, 0, 0, 0, 10, 20, 20, 0x3f80_0000, 0, 0]),
    );

    // Parse outputs: a 32x24 frame, one landmarks face, labels + soft masks + a class set,
    // disjoint; and the same with a box face from a 0.1-sized struct.
    let dir = corpus.join("frame_outputs");
    let landmarks =
        [10u32 << 1, 8 << 1, 20 << 1, 8 << 1, 15 << 1, 13 << 1, 11 << 1, 18 << 1, 19 << 1, 18 << 1];
    let mut face = vec![0u32, 0, 0, 0, 1];
    face.extend(landmarks);
    let outputs = [0x0040_4003, 32 * 24, 32 * 24 * 2, 32 * 24, 0, 0];
    let seed = |flags: u32, face: &[u32]| {
        let mut v = vec![31, 23, flags, 1];
        v.extend(face);
        v.extend(outputs);
        words(&v)
    };
    write(&dir, "landmarks_all_outputs", &seed(0xe0, &face));
    write(
        &dir,
        "old_box_labels",
        &seed(0x28, &[4 << 1, 2 << 1, 24 << 1, 20 << 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );

    let dir = corpus.join("c_abi_sequence");
    write(&dir, "load_create_parse_free", &[0, 0, 3, 0, 5, 0, 6, 14, 2, 0, 5, 0, 4, 0]);
    write(&dir, "misuse", &[3, 1, 5, 1, 2, 2, 4, 2, 1, 9, 7, 3, 9, 0]);
    println!("seeds written to {}", corpus.display());
}
