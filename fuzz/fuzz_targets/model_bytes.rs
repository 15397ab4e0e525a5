//! Any bytes as an ONNX model: loading is an error or a model, and a model that loads parses a
//! frame or fails cleanly. No abort, no out-of-bounds access, no unbounded allocation.
//!
//! tract panics on some malformed graphs; `Model::load_with` catches those (that is the
//! library's guarantee), so this target tolerates panics caught inside the library and fails on
//! anything that escapes or aborts. Panics found this way that a check can prevent are prevented
//! in `src/runtime/screen.rs` (e.g. values that nothing produces).
#![no_main]

use segface::{ImageView, Model};
use segface_fuzz::fuzz_target;

fuzz_target!(init: {
    // Only escaping panics are crashes (the harness aborts on those); silence the messages of
    // the ones the library catches, which are many and expected.
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    let Ok(model) = Model::load_with(data, &segface::LoadOptions::default()) else { return };
    let Ok(mut session) = model.session() else { return };
    let rgb = [96u8; 24 * 16 * 3];
    let _ = session.parse(&ImageView::rgb(&rgb, 24, 16).unwrap());
});
