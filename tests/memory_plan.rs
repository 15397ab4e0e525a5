//! Memory of a parse: the plan's evaluation order holds no more bytes of intermediate tensors than
//! tract's own order would, and a real parse, measured by a counting allocator, stays within
//! what was planned. One test in this binary, so that no other test's allocations are counted.
#![cfg(feature = "convert")]

mod common;

use common::*;
use segface::convert::{export_mobilenet, ExportOptions};
use segface::internals::planned_memory;
use segface::{ImageView, LoadOptions, Model};

// The counting allocator `segface bench` reports with: one implementation for both.
#[path = "../src/bin/segface/alloc_stats.rs"]
#[allow(dead_code)] // `snapshot` serves the bench only
mod alloc_stats;

#[global_allocator]
static ALLOCATOR: alloc_stats::CountingAllocator = alloc_stats::CountingAllocator;

const MB: f64 = 1e6;

#[test]
fn a_parse_holds_no_more_than_its_plan_and_its_plan_no_more_than_tracts_own_order() {
    // The portable graph at R = 256: segface's greedy order would hold 24 MB at once, tract's 21.
    let weights = segface::convert::read_torch_checkpoint(&checkpoint_path()).unwrap();
    let portable =
        export_mobilenet(&weights, &ExportOptions { portable: true, ..ExportOptions::new(256) }).unwrap();
    let portable = planned_memory(&Model::load_with(&portable, &LoadOptions::default()).unwrap()).unwrap();
    // The runtime graph: 9.8 MB in both orders when this was written (its cross-attentions hold
    // no projections of the image tokens, where the greedy order used to gain).
    let model = model_256();
    let planned = planned_memory(model).unwrap();
    for (graph, plan) in [("portable", portable), ("runtime", planned)] {
        assert!(
            plan.peak_bytes <= plan.tract_order_peak_bytes,
            "{graph}: the plan's order holds {:.1} MB at once, tract's own {:.1} MB",
            plan.peak_bytes as f64 / MB,
            plan.tract_order_peak_bytes as f64 / MB
        );
    }

    let photo = astronaut_rgb();
    let view = ImageView::rgb(photo.as_raw(), photo.width(), photo.height()).unwrap();
    let mut session = model.session().unwrap();
    // The first parse sizes the session's own buffers, kept for the next ones.
    let first = session.parse(&view).unwrap().labels;
    let before = alloc_stats::live_bytes();
    alloc_stats::take_peak_live(); // a window from now
    let second = session.parse(&view).unwrap().labels;
    let held = alloc_stats::take_peak_live() - before;
    assert_eq!(first, second);
    // Beyond the plan's tensors, a parse allocates its result (one label byte per pixel of the
    // photo), the operators' block buffers (the image-to-token attention's 128 tokens, about
    // 0.4 MB, and the matrix products' packing) and small bookkeeping.
    let result_bytes = u64::from(photo.width() * photo.height());
    let allowed = planned.peak_bytes + result_bytes + 1024 * 1024;
    assert!(
        held <= allowed,
        "a parse held {:.2} MB at once, planned {:.2} MB (+ {:.2} MB result, block buffers and bookkeeping)",
        held as f64 / MB,
        planned.peak_bytes as f64 / MB,
        (allowed - planned.peak_bytes) as f64 / MB
    );
    println!("held {:.2} MB, planned {:.2} MB", held as f64 / MB, planned.peak_bytes as f64 / MB);
}
