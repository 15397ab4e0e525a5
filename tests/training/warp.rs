//! The LaPa face warp (spec 9) against an independent NumPy transcription of it
//! (`scripts/lapa_warp_golden.py`, which wrote `tests/fixtures/lapa_warp_r64.safetensors`): the
//! alignment matrix, both sampling grids, and images sampled through them.
#![cfg(feature = "training")]

use crate::common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use segface::training::face_warp::{resample, SampleMap, Similarity};
use segface::training::Cpu;

const R: usize = 64;

fn golden() -> Golden {
    Golden::open(&fixtures().join("lapa_warp_r64.safetensors"))
}

/// Largest difference relative to max(1, |expected|).
fn worst(ours: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(ours.len(), expected.len());
    ours.iter().zip(expected).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max)
}

fn alignment() -> Similarity {
    let (_, p) = golden().f32("points");
    let points: [[f32; 2]; 5] = std::array::from_fn(|i| [p[2 * i], p[2 * i + 1]]);
    Similarity::face_alignment(&points, R).unwrap()
}

/// A map's sampling positions as grid_sample's normalised grid.
fn as_grid(map: &SampleMap) -> Vec<f32> {
    let r = map.resolution as f32;
    map.at.iter().flat_map(|p| p.map(|v| (2.0 * v + 1.0) / r - 1.0)).collect()
}

#[test]
fn alignment_and_grids_match_the_numpy_transcription() {
    let golden = golden();
    let s = alignment();
    let (_, m) = golden.f32("matrix");
    let diff = worst(&[s.a, s.b, s.dx, -s.b, s.a, s.dy], &[m[0], m[1], m[2], m[3], m[4], m[5]]);
    println!("matrix: {diff:e}");
    assert!(diff < 1e-5, "{s:?} vs {m:?}");
    for (name, map) in [("grid", SampleMap::warp(&s, R)), ("inverse_grid", SampleMap::unwarp(&s, R))] {
        let (_, expected) = golden.f32(name);
        let diff = worst(&as_grid(&map), &expected);
        println!("{name}: {diff:e}");
        assert!(diff < 1e-4, "{name} differs by {diff}");
    }
}

#[test]
fn sampled_images_match_the_numpy_transcription() {
    let golden = golden();
    let s = alignment();
    let (_, image) = golden.f32("image");
    let image = Tensor::<Cpu, 4>::from_data(TensorData::new(image, [1, 2, R, R]), &Default::default());
    let warped = resample(image, &[SampleMap::warp(&s, R)]);
    let unwarped = resample(warped.clone(), &[SampleMap::unwarp(&s, R)]);
    for (name, ours) in [("warped", warped), ("unwarped", unwarped)] {
        let (_, expected) = golden.f32(name);
        let diff = worst(&ours.into_data().to_vec::<f32>().unwrap(), &expected);
        println!("{name}: {diff:e}");
        assert!(diff < 1e-4, "{name} differs by {diff}");
    }
}
