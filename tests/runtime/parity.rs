//! The proof that this is SegFace: from the reference checkpoint through our converter and our
//! runtime, the reference's golden outputs are matched.
#![cfg(feature = "convert")]

use crate::common;

use common::*;
use segface::internals::{normalize_into, IMAGENET_MEAN, IMAGENET_STD};
use segface::{Frame, ImageView, Orientation};

#[test]
fn logits_match_golden_from_the_normalised_input() {
    let golden = Golden::load();
    let (_, input) = golden.f32("input");
    let (shape, expected) = golden.f32("logits");
    assert_eq!(shape, vec![1, 19, 256, 256]);
    let logits = model_256().session().unwrap().logits(&input).unwrap();
    let diff = max_abs_diff(&logits, &expected);
    println!("logits max abs difference from the golden input: {diff:e}");
    assert!(diff <= 1e-4, "logits differ by {diff}");
}

#[test]
fn labels_match_golden_from_the_resized_rgb() {
    let golden = Golden::load();
    let (shape, rgb) = golden.u8("input_rgb_u8");
    assert_eq!(shape, vec![256, 256, 3]);
    let (_, expected_labels) = golden.u8("labels");
    let (_, expected_logits) = golden.f32("logits");

    // Our normalisation of the golden RGB reproduces the golden network input.
    let mut normalized = vec![0f32; 3 * 256 * 256];
    normalize_into(&rgb, &IMAGENET_MEAN, &IMAGENET_STD, &mut normalized);
    let (_, golden_input) = golden.f32("input");
    assert!(max_abs_diff(&normalized, &golden_input) <= 1e-6);

    let mut session = model_256().session().unwrap();
    let logits = session.logits(&normalized).unwrap();
    let diff = max_abs_diff(&logits, &expected_logits);
    assert!(diff <= 1e-4, "logits differ by {diff}");

    // The full path: image view -> labels (image already R x R, so no resize).
    let view = ImageView::rgb(&rgb, 256, 256).unwrap();
    let labels = session.parse(&view).unwrap();
    let agree = agreement(&labels.labels, &expected_labels);
    println!("label agreement from input_rgb_u8: {:.5} %", 100.0 * agree);
    assert!(agree >= 0.9999, "label agreement {agree}");
}

#[test]
fn astronaut_through_our_resize_agrees_with_golden() {
    let golden = Golden::load();
    let (_, golden_rgb) = golden.u8("input_rgb_u8");
    let (_, golden_labels) = golden.u8("labels");
    let img = astronaut_rgb();
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    let mut session = model_256().session().unwrap();

    let ours = session.model_input(&Frame::Packed(view), Orientation::default(), None).unwrap();
    let max_delta = ours.iter().zip(&golden_rgb).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    let equal = agreement(&ours, &golden_rgb);
    println!("resize vs PIL: {:.4} % of bytes equal, max delta {max_delta}", 100.0 * equal);
    assert_eq!(max_delta, 0, "our bicubic must be bit-exact with PIL");

    // Labels at R x R: run the network on our resized image and argmax.
    let resized = ImageView::rgb(&ours, 256, 256).unwrap();
    let labels = session.parse(&resized).unwrap();
    let agree = agreement(&labels.labels, &golden_labels);
    println!("label agreement from astronaut.png through our resize: {:.4} %", 100.0 * agree);
    assert!(agree >= 0.999, "label agreement {agree}");

    // At the image's own size the label map comes back at 512 x 512.
    let full = session.parse(&view).unwrap();
    assert_eq!((full.width, full.height), (512, 512));
}
