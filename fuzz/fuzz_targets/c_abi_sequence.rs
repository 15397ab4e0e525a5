//! Arbitrary sequences of C ABI calls on a few handle slots: loads (good, bad, verified), frees
//! in any order (including double frees through the nulled pointer), sessions outliving their
//! models, parses, queries. Nothing may crash, leak (LeakSanitizer) or panic internally.
#![no_main]

use std::ffi::{c_char, CStr};

use segface::ffi::*;
use segface_fuzz::fuzz_target;

fn check(status: SegfaceStatus) {
    assert_ne!(status, SegfaceStatus::ErrInternal, "a panic was caught inside segface");
    if status != SegfaceStatus::Ok {
        let message = segface_last_error();
        assert!(!message.is_null(), "a failure without a message");
        // The message must be a readable C string.
        let _ = unsafe { CStr::from_ptr(message) }.to_bytes().len();
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static TINY: Vec<u8> = segface_fuzz::tiny_model();
    }
    let tiny = TINY.with(|t| t.clone());
    let mut models: [*mut SegfaceModel; 3] = [std::ptr::null_mut(); 3];
    let mut sessions: [*mut SegfaceSession; 3] = [std::ptr::null_mut(); 3];
    let rgb = [77u8; 20 * 12 * 3];
    let mut labels = [0u8; 20 * 12];
    for step in data.chunks(2).take(64) {
        let (op, arg) = (step[0], step.get(1).copied().unwrap_or(0));
        let slot = arg as usize % 3;
        unsafe {
            match op % 10 {
                0 => {
                    segface_model_free(&mut models[slot]);
                    check(segface_model_load_memory(tiny.as_ptr(), tiny.len(), &mut models[slot]));
                }
                1 => {
                    segface_model_free(&mut models[slot]);
                    // Garbage: a prefix of the real model.
                    let cut = (arg as usize * 37) % tiny.len();
                    check(segface_model_load_memory(tiny.as_ptr(), cut, &mut models[slot]));
                }
                2 => segface_model_free(&mut models[slot]),
                3 => {
                    segface_session_free(&mut sessions[slot]);
                    let model = models[(arg as usize / 3) % 3];
                    check(segface_session_create(model, &mut sessions[slot]));
                }
                4 => segface_session_free(&mut sessions[slot]),
                5 => {
                    let image = SegfaceImage {
                        struct_size: std::mem::size_of::<SegfaceImage>() as u32,
                        format: SEGFACE_PIXEL_FORMAT_RGB8,
                        width: 20 - (arg as u32 % 4),
                        height: 12,
                        data: rgb.as_ptr(),
                        data_len: rgb.len(),
                        row_stride: 60,
                    };
                    check(segface_parse(sessions[slot], &image, labels.as_mut_ptr(), labels.len(), 20));
                }
                6 => {
                    let name = segface_model_class_name(models[slot], arg as u32 % 24);
                    if !name.is_null() {
                        assert!(!CStr::from_ptr(name).to_bytes().is_empty());
                    }
                    let _ = segface_model_num_classes(models[slot]);
                    let _ = segface_model_resolution(models[slot]);
                }
                7 => {
                    let hex: Vec<u8> =
                        (0..64).map(|i| b"0123456789abcdef"[(arg as usize + i) % 16]).chain([0]).collect();
                    segface_model_free(&mut models[slot]);
                    let status = segface_model_load_memory_verified(
                        tiny.as_ptr(),
                        tiny.len(),
                        hex.as_ptr() as *const c_char,
                        &mut models[slot],
                    );
                    check(status);
                    assert!(status == SegfaceStatus::ErrHashMismatch && models[slot].is_null());
                }
                8 => {
                    let _ = CStr::from_ptr(segface_status_str(arg as i32 - 128)).to_bytes();
                    let _ = CStr::from_ptr(segface_version()).to_bytes();
                }
                _ => check(segface_parse(
                    sessions[slot],
                    std::ptr::null(),
                    labels.as_mut_ptr(),
                    labels.len(),
                    20,
                )),
            }
        }
    }
    unsafe {
        for m in &mut models {
            segface_model_free(m);
        }
        for s in &mut sessions {
            segface_session_free(s);
        }
    }
});
