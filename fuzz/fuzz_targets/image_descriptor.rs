//! `segface_parse` with arbitrary image descriptors, buffer sizes and strides (all honest about
//! how many bytes really exist, as the C contract requires). It must never write outside the
//! label buffer or between label rows, never panic internally, and on success fill every label.
#![no_main]

use segface::ffi::*;
use segface_fuzz::fuzz_target;
use segface_fuzz::CANARY;

fn u32_at(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, v) in b.iter_mut().enumerate() {
        *v = data.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let format = u32_at(data, 0) as i32 % 5 - 1;
    let width = u32_at(data, 4) & 0xffff;
    let height = u32_at(data, 8) & 0xffff;
    let row_stride = u32_at(data, 12) as usize;
    let data_len = u32_at(data, 16) as usize % LIMIT;
    let labels_len = u32_at(data, 20) as usize % LIMIT;
    let labels_stride = u32_at(data, 24) as usize;
    let flags = data.get(28).copied().unwrap_or(0);
    let pixels: Vec<u8> = (0..data_len).map(|i| data.get(29 + i % 64).copied().unwrap_or(i as u8)).collect();
    let mut labels = vec![CANARY; labels_len + 64];

    let image = SegfaceImage {
        struct_size: if flags & 1 != 0 { 8 } else { std::mem::size_of::<SegfaceImage>() as u32 },
        format,
        width,
        height,
        data: if flags & 2 != 0 { std::ptr::null() } else { pixels.as_ptr() },
        data_len,
        row_stride,
    };
    let image_ptr: *const SegfaceImage = if flags & 4 != 0 { std::ptr::null() } else { &image };
    let labels_ptr = if flags & 8 != 0 { std::ptr::null_mut() } else { labels.as_mut_ptr() };
    let handles = segface_fuzz::tiny_session();
    let status = unsafe { segface_parse(handles.0, image_ptr, labels_ptr, labels_len, labels_stride) };
    segface_fuzz::check_labels(status, &labels, labels_len, (width as usize, height as usize), labels_stride);
});
