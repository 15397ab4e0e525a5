//! `segface soak`: many parses in one process through the C ABI, as a camera app makes them
//! (frame sizes changing now and then), reporting resident memory and live heap bytes after
//! warm-up and at the end. A leak or a cache that never stops growing shows as growth.

use std::ffi::CStr;
use std::time::Instant;

use segface::ffi::*;

use segface::{Error, ErrorKind};

use crate::memory::current_rss_mb;
use crate::{alloc_stats, CliResult};

fn check(status: SegfaceStatus, what: &str) -> CliResult<()> {
    if status == SegfaceStatus::Ok {
        return Ok(());
    }
    let message = segface_last_error();
    let message =
        if message.is_null() { "" } else { unsafe { CStr::from_ptr(message) }.to_str().unwrap_or("") };
    Err(Error::new(ErrorKind::Inference, format!("{what}: {status:?}: {message}")))
}

/// Frames a phone camera might deliver, switched every 100 parses (rotation, preview size).
const FRAME_SIZES: [(u32, u32); 3] = [(640, 480), (480, 640), (320, 240)];

pub fn soak(onnx: Vec<u8>, iters: usize, warmup: usize) -> CliResult<()> {
    let (mut model, mut session) = (std::ptr::null_mut(), std::ptr::null_mut());
    let frames: Vec<(u32, u32, Vec<u8>)> = FRAME_SIZES
        .iter()
        .map(|&(w, h)| {
            let rgba =
                (0..w * h).flat_map(|i| [(i % w) as u8, (i / w) as u8, (i % 251) as u8, 255]).collect();
            (w, h, rgba)
        })
        .collect();
    let mut labels = vec![0u8; 640 * 640];
    unsafe {
        check(segface_model_load_memory(onnx.as_ptr(), onnx.len(), &mut model), "load")?;
        check(segface_session_create(model, &mut session), "session")?;
    }
    drop(onnx); // the library keeps its own copy
    let started = Instant::now();
    let mut baseline = None;
    println!("{:>6} {:>9} {:>12} {:>8}", "parses", "rss MB", "live heap MB", "s");
    for i in 0..iters {
        let (w, h, rgba) = &frames[(i / 100) % frames.len()];
        let image = SegfaceImage {
            struct_size: std::mem::size_of::<SegfaceImage>() as u32,
            format: SEGFACE_PIXEL_FORMAT_RGBA8,
            width: *w,
            height: *h,
            data: rgba.as_ptr(),
            data_len: rgba.len(),
            row_stride: *w as usize * 4,
        };
        let status =
            unsafe { segface_parse(session, &image, labels.as_mut_ptr(), labels.len(), *w as usize) };
        check(status, "parse")?;
        let done = i + 1;
        if done == warmup || done % 1000 == 0 || done == iters {
            let (rss, live) = (current_rss_mb().unwrap_or(f64::NAN), alloc_stats::live_bytes() as f64 / 1e6);
            println!("{done:>6} {rss:>9.1} {live:>12.2} {:>8.1}", started.elapsed().as_secs_f64());
            if done == warmup {
                baseline = Some((rss, live));
            }
        }
    }
    let (end_rss, end_live) = (current_rss_mb().unwrap_or(f64::NAN), alloc_stats::live_bytes() as f64 / 1e6);
    unsafe {
        segface_session_free(&mut session);
        segface_model_free(&mut model);
    }
    let after_free = alloc_stats::live_bytes() as f64 / 1e6;
    if let Some((rss, live)) = baseline {
        println!(
            "after warm-up ({warmup} parses) to the end ({iters}): resident {rss:.1} -> {end_rss:.1} MB \
             ({:+.1} MB), live heap {live:.2} -> {end_live:.2} MB ({:+.3} MB)",
            end_rss - rss,
            end_live - live
        );
        // Live heap bytes are exact (our allocator counts them): any growth is a leak, not noise.
        if end_live - live > 0.1 {
            return Err(Error::new(
                ErrorKind::Inference,
                format!("the live heap grew by {:.3} MB after warm-up", end_live - live),
            ));
        }
    }
    println!("live heap after freeing the session and model: {after_free:.2} MB (test frames and buffers)");
    Ok(())
}
