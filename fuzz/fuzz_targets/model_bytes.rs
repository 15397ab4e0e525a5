//! Any bytes as an ONNX model: loading is an error or a model, and a model that loads parses a
//! frame or fails cleanly. No abort, no out-of-bounds access, no unbounded allocation.
//!
//! tract panics on some malformed graphs; `Model::load_with` catches those (that is the
//! library's guarantee), so this target tolerates panics caught inside the library and fails on
//! anything that escapes or aborts. Panics found this way that a check can prevent are prevented
//! in `src/model_screen.rs` (e.g. values that nothing produces).
#![no_main]

use libfuzzer_sys::fuzz_target;
use segface::{ImageView, Model};

fuzz_target!(init: {
    // libfuzzer-sys aborts on every panic, even a caught one; keep its check for escaping ones.
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    let Ok(model) = Model::load_with(data, &segface::LoadOptions::default()) else { return };
    let Ok(mut session) = model.session() else { return };
    let rgb = [96u8; 24 * 16 * 3];
    let _ = session.parse(&ImageView::rgb(&rgb, 24, 16).unwrap());
});
