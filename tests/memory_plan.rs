//! Memory of a parse: the plan's evaluation order holds fewer bytes of intermediate tensors than
//! tract's own order would, and a real parse, measured by a counting allocator, stays within
//! what was planned. One test in this binary, so that no other test's allocations are counted.
#![cfg(feature = "convert")]

mod common;

use common::*;
use segface::profile::planned_memory;
use segface::ImageView;

// The counting allocator `segface bench` reports with: one implementation for both.
#[path = "../src/bin/segface/alloc_stats.rs"]
#[allow(dead_code)] // `snapshot` serves the bench only
mod alloc_stats;

#[global_allocator]
static ALLOCATOR: alloc_stats::CountingAllocator = alloc_stats::CountingAllocator;

const MB: f64 = 1e6;

#[test]
fn a_parse_holds_no_more_than_its_plan_and_less_than_tracts_own_order() {
    let model = model_256();
    let planned = planned_memory(model).unwrap();
    // R = 256: 15.2 MB against 17.8 MB when this was written.
    assert!(
        planned.peak_bytes * 10 < planned.tract_order_peak_bytes * 9,
        "the plan's order holds {:.1} MB at once, tract's own {:.1} MB",
        planned.peak_bytes as f64 / MB,
        planned.tract_order_peak_bytes as f64 / MB
    );

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
    // photo) and small bookkeeping.
    let result_bytes = u64::from(photo.width() * photo.height());
    let allowed = planned.peak_bytes + result_bytes + 256 * 1024;
    assert!(
        held <= allowed,
        "a parse held {:.2} MB at once, planned {:.2} MB (+ {:.2} MB result and bookkeeping)",
        held as f64 / MB,
        planned.peak_bytes as f64 / MB,
        (allowed - planned.peak_bytes) as f64 / MB
    );
    assert!(held < planned.tract_order_peak_bytes, "a parse held {held} bytes, as much as tract's own order");
}
