//! `segface_parse_frame` with arbitrary frame descriptors: formats, sizes, plane lengths and
//! strides (honest about the bytes that exist, as the C contract requires), rotations, mirroring
//! and faces (boxes, landmarks, old-size structs). It must never write outside the label buffer, never panic internally, and on
//! success fill every label of the frame.
#![no_main]

use segface::ffi::*;
use segface_fuzz::fuzz_target;
use segface_fuzz::{Reader, CANARY};

const LIMIT: usize = 1 << 18;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader(data, 0);
    let format = (r.u32() % 9) as i32 - 1;
    let width = r.u32() & 0x7ff;
    let height = r.u32() & 0x7ff;
    let rotation_degrees = [0, 90, 180, 270, 45, 360][r.u32() as usize % 6];
    let flags = r.u32();
    let buffers: Vec<Vec<u8>> = (0..3).map(|i| vec![(i * 60 + 30) as u8; r.u32() as usize % LIMIT]).collect();
    let mut planes =
        [SegfacePlane { data: std::ptr::null(), data_len: 0, row_stride: 0, pixel_stride: 0 }; 3];
    for (i, plane) in planes.iter_mut().enumerate() {
        let (row_stride, pixel_stride) = (r.u32() as usize % 8192, (r.u32() % 4) as usize);
        let null = flags & (1 << (8 + i)) != 0;
        *plane = SegfacePlane {
            data: if null { std::ptr::null() } else { buffers[i].as_ptr() },
            data_len: buffers[i].len(),
            row_stride,
            pixel_stride,
        };
    }
    let frame = SegfaceFrame {
        struct_size: if flags & 1 != 0 { 16 } else { std::mem::size_of::<SegfaceFrame>() as u32 },
        format,
        width,
        height,
        planes,
        yuv_range: (flags >> 4 & 3) as i32 - 1,
        rotation_degrees,
        mirror: flags & 2,
    };
    let face = SegfaceFace {
        // A 0.1 caller's box-only struct, or the full one.
        struct_size: if flags & 8 != 0 { 20 } else { std::mem::size_of::<SegfaceFace>() as u32 },
        x: f32::from_bits(r.u32()),
        y: (r.u32() % 4096) as f32 - 100.0,
        width: (r.u32() % 4096) as f32,
        height: f32::from_bits(r.u32() | (flags & 0x3f80_0000)),
        kind: r.u32() % 3,
        // Landmarks near the frame (or anywhere, from raw bits).
        landmarks: std::array::from_fn(|_| {
            let v = r.u32();
            if v & 1 != 0 {
                f32::from_bits(v)
            } else {
                (v >> 1) as f32 % 2500.0 - 200.0
            }
        }),
    };
    let face_ptr: *const SegfaceFace = if flags & 4 != 0 { &face } else { std::ptr::null() };
    let labels_stride = width as usize + (r.u32() % 64) as usize;
    let labels_len = (labels_stride * height as usize).saturating_sub((r.u32() % 3) as usize) % (LIMIT * 8);
    let mut labels = vec![CANARY; labels_len + 64];
    let handles = segface_fuzz::tiny_session();
    let status = unsafe {
        segface_parse_frame(handles.0, &frame, face_ptr, labels.as_mut_ptr(), labels_len, labels_stride)
    };
    segface_fuzz::check_labels(status, &labels, labels_len, (width as usize, height as usize), labels_stride);
});
