//! Any bytes as a published checkpoint (zip + pickle): a clear error or weights, never a crash,
//! a disallowed global or an allocation the file does not back.
#![no_main]

use segface_fuzz::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader takes a path, as the converter does.
    let path = std::env::temp_dir().join(format!("segface-fuzz-{}.pt", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = segface::convert::read_torch_checkpoint(&path);
});
