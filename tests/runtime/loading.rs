//! The runtime on exported models: metadata, resolutions, pixel formats, strides, bad input.
#![cfg(feature = "convert")]

use crate::common;

use common::*;
use segface::{ErrorKind, ImageView, LoadOptions, Model, PixelFormat};

#[test]
fn exported_model_describes_itself() {
    let info = model_256().info();
    assert_eq!(info.resolution, 256);
    assert_eq!(info.classes.len(), 19);
    assert_eq!(info.classes[0], "background");
    assert_eq!(info.classes[14], "hair");
    assert_eq!(info.classes[18], "neck_l");
    assert_eq!(info.variant, "segface-mobilenetv3-large");
    assert_eq!(info.mean, [0.485, 0.456, 0.406]);
    assert_eq!(info.std, [0.229, 0.224, 0.225]);
    let source = segface::internals::sha256_hex(&std::fs::read(checkpoint_path()).unwrap());
    assert_eq!(info.source_sha256.as_deref(), Some(source.as_str()));
    assert_eq!(info.model_sha256, segface::internals::sha256_hex(onnx_256()));
}

#[test]
fn rgba_bgra_and_padded_strides_give_the_rgb_labels() {
    let img = image::open(fixtures().join("images").join("grace_hopper.jpg")).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let mut session = model_256().session().unwrap();
    let reference = session.parse(&ImageView::rgb(img.as_raw(), w, h).unwrap()).unwrap();
    assert_eq!((reference.width, reference.height), (w, h));
    // The portrait has a face: skin, hair and background are all present.
    let counts = segface::class_counts(&reference.labels, 19);
    assert!(counts.iter().filter(|&&c| c > 0).count() >= 3, "{counts:?}");

    let stride = w as usize * 4 + 12;
    let mut rgba = vec![0u8; stride * h as usize];
    let mut bgra = rgba.clone();
    for (i, px) in img.pixels().enumerate() {
        let (x, y) = (i % w as usize, i / w as usize);
        let o = y * stride + x * 4;
        rgba[o..o + 4].copy_from_slice(&[px[0], px[1], px[2], 255]);
        bgra[o..o + 4].copy_from_slice(&[px[2], px[1], px[0], 255]);
    }
    for (data, format) in [(&rgba, PixelFormat::Rgba8), (&bgra, PixelFormat::Bgra8)] {
        let view = ImageView::new(data, w, h, stride, format).unwrap();
        // Labels into a strided buffer whose padding must survive.
        let label_stride = w as usize + 5;
        let mut labels = vec![0xAAu8; label_stride * h as usize];
        session.parse_into(&view, &mut labels, label_stride).unwrap();
        for y in 0..h as usize {
            let row = &labels[y * label_stride..y * label_stride + w as usize];
            assert_eq!(row, &reference.labels[y * w as usize..(y + 1) * w as usize], "{format:?} row {y}");
            assert!(labels[y * label_stride + w as usize..(y + 1) * label_stride].iter().all(|&b| b == 0xAA));
        }
    }
}

#[test]
fn too_small_label_buffers_are_rejected_untouched() {
    let img = astronaut_rgb();
    let view = ImageView::rgb(img.as_raw(), 512, 512).unwrap();
    let mut session = model_256().session().unwrap();
    let mut labels = vec![7u8; 512 * 512 - 1];
    let err = session.parse_into(&view, &mut labels, 512).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
    assert!(labels.iter().all(|&b| b == 7));
    let err = session.parse_into(&view, &mut labels, 100).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn truncated_and_corrupt_models_are_errors() {
    let bytes = onnx_256();
    for cut in [0, 10, 1000, bytes.len() / 2, bytes.len() - 1] {
        let err = Model::load_with(&bytes[..cut], &LoadOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModel, "cut at {cut}: {err}");
    }
    let err = Model::load_with(b"\x08\x01garbage that is not protobuf \xff\xff", &LoadOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    let err = Model::load(scratch("models").join("does_not_exist.onnx")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}

#[test]
fn resolution_512_exports_and_runs() {
    use segface::convert::{export_mobilenet, ExportOptions};
    let weights = segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap();
    let onnx = export_mobilenet(&weights, &ExportOptions::new(512)).unwrap();
    let model = Model::load_with(&onnx, &LoadOptions::default()).unwrap();
    assert_eq!(model.info().resolution, 512);
    let img = astronaut_rgb();
    let mut session = model.session().unwrap();
    let labels = session.parse(&ImageView::rgb(img.as_raw(), 512, 512).unwrap()).unwrap();
    assert_eq!((labels.width, labels.height), (512, 512));
    assert!(labels.labels.iter().all(|&l| l < 19));
    let logits = session.logits(&vec![0.0; 3 * 512 * 512]).unwrap();
    assert_eq!(logits.len(), 19 * 512 * 512);
    assert!(logits.iter().all(|v| v.is_finite()));
}

/// Our export without its metadata, as a stand-in for a foreign (PyTorch) export.
fn without_metadata() -> Vec<u8> {
    use prost::Message;
    let mut proto = tract_onnx::pb::ModelProto::decode(onnx_256()).unwrap();
    proto.metadata_props.clear();
    proto.encode_to_vec()
}

#[test]
fn models_without_metadata_use_the_sidecar_or_the_default_classes() {
    let bare = without_metadata();
    let model = Model::load_with(&bare, &LoadOptions::default()).unwrap();
    assert_eq!(model.info().resolution, 256, "taken from the declared input shape");
    assert_eq!(model.info().variant, "unknown");
    assert_eq!(model.info().classes, segface::CELEBA_CLASSES.map(String::from).to_vec());
    assert_eq!(model.info().source_sha256, None);

    let dir = scratch("sidecar");
    let path = dir.join("foreign.onnx");
    std::fs::write(&path, &bare).unwrap();
    let names: Vec<String> = (0..19).map(|i| format!("part{i}")).collect();
    std::fs::write(dir.join("foreign.onnx.classes.txt"), names.join("\n") + "\n").unwrap();
    assert_eq!(Model::load(&path).unwrap().info().classes, names);

    std::fs::write(dir.join("foreign.onnx.classes.txt"), "a\nb\n").unwrap();
    let err = Model::load(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    assert!(err.message().contains("2 class names"), "{err}");
}
