//! `segface_parse_frame_outputs` with arbitrary face arrays (counts, strides, kinds, boxes and
//! landmarks) and output descriptors (lengths, strides, class sets, overlapping buffers) on a
//! small RGB frame. It must never write outside the buffers it was given, never panic
//! internally, and on success fill every requested pixel.
#![no_main]

use segface::ffi::*;
use segface_fuzz::fuzz_target;
use segface_fuzz::{Reader, CANARY};

/// Room after every buffer, checked for writes past the length the call was given.
const SLACK: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader(data, 0);
    let (w, h) = (1 + r.u32() as usize % 96, 1 + r.u32() as usize % 96);
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut planes =
        [SegfacePlane { data: std::ptr::null(), data_len: 0, row_stride: 0, pixel_stride: 0 }; 3];
    planes[0] =
        SegfacePlane { data: pixels.as_ptr(), data_len: pixels.len(), row_stride: w * 3, pixel_stride: 0 };
    let flags = r.u32();
    let frame = SegfaceFrame {
        struct_size: std::mem::size_of::<SegfaceFrame>() as u32,
        format: SEGFACE_PIXEL_FORMAT_RGB8,
        width: w as u32,
        height: h as u32,
        planes,
        yuv_range: 0,
        rotation_degrees: [0, 90, 180, 270][flags as usize % 4],
        mirror: flags >> 2 & 1,
    };
    // Faces: up to 3 (or a claimed count beyond the array when asked), each as a full struct.
    let n_faces = (r.u32() % 4) as usize;
    let faces: Vec<SegfaceFace> = (0..n_faces.max(1))
        .map(|_| SegfaceFace {
            struct_size: if flags & 8 != 0 { 20 } else { std::mem::size_of::<SegfaceFace>() as u32 },
            x: r.coordinate(),
            y: r.coordinate(),
            width: r.coordinate(),
            height: r.coordinate(),
            kind: r.u32() % 3,
            landmarks: std::array::from_fn(|_| r.coordinate()),
        })
        .collect();
    // With 20-byte structs the array is read 20 bytes apart, so lay those out densely.
    let dense: Vec<u8> = if flags & 8 != 0 {
        faces
            .iter()
            .flat_map(|f| {
                let mut b = Vec::new();
                b.extend(f.struct_size.to_le_bytes());
                for v in [f.x, f.y, f.width, f.height] {
                    b.extend(v.to_le_bytes());
                }
                b
            })
            .collect()
    } else {
        Vec::new()
    };
    let faces_ptr: *const SegfaceFace = if n_faces == 0 {
        std::ptr::null()
    } else if flags & 8 != 0 {
        dense.as_ptr() as *const SegfaceFace
    } else {
        faces.as_ptr()
    };

    // One arena holds the three outputs at fuzzed offsets (overlap allowed: it must be refused).
    let plane = w * h;
    let classes = r.u32() & 0xff_ffff;
    let lens = [
        r.u32() as usize % (plane * 4 + 8),
        r.u32() as usize % (plane * 8 + 8),
        r.u32() as usize % (plane * 2 + 8),
    ];
    let offsets = [0usize, lens[0] + SLACK, lens[0] + lens[1] + 2 * SLACK];
    let offsets = if flags & 16 != 0 { [0, 0, 0] } else { offsets };
    let total = offsets[2] + lens[2] + SLACK;
    let mut arena = vec![CANARY; total.max(lens[0] + SLACK).max(offsets[1] + lens[1] + SLACK)];
    let base = arena.as_mut_ptr();
    let wanted = |bit: u32| flags & (1 << bit) != 0;
    let stride = w + (r.u32() % 8) as usize;
    let outputs = SegfaceOutputs {
        struct_size: if wanted(20) { 8 } else { std::mem::size_of::<SegfaceOutputs>() as u32 },
        labels: if wanted(5) { unsafe { base.add(offsets[0]) } } else { std::ptr::null_mut() },
        labels_len: lens[0],
        labels_stride: stride,
        soft_masks: if wanted(6) { unsafe { base.add(offsets[1]) } } else { std::ptr::null_mut() },
        soft_masks_len: lens[1],
        soft_masks_stride: stride,
        soft_masks_plane_stride: stride * h + (r.u32() % 4) as usize,
        soft_mask_classes: classes & 0xff,
        class_set_mask: if wanted(7) { unsafe { base.add(offsets[2]) } } else { std::ptr::null_mut() },
        class_set_mask_len: lens[2],
        class_set_mask_stride: stride,
        class_set: classes >> 8,
        class_set_soft: flags >> 9 & 1,
    };
    let handles = segface_fuzz::tiny_session();
    let status = unsafe { segface_parse_frame_outputs(handles.0, &frame, faces_ptr, n_faces, &outputs) };
    assert_ne!(status, SegfaceStatus::ErrInternal, "a panic was caught inside segface");
    // Nothing written past any buffer's length (for disjoint layouts the slack stays intact).
    if flags & 16 == 0 {
        for (offset, len) in offsets.iter().zip(lens) {
            assert!(
                arena[offset + len..offset + len + SLACK].iter().all(|&b| b == CANARY),
                "written past a buffer"
            );
        }
    } else {
        let longest = lens.iter().max().copied().unwrap_or(0);
        assert!(arena[longest..].iter().all(|&b| b == CANARY), "written past the buffers");
    }
    if status == SegfaceStatus::Ok && wanted(5) {
        for y in 0..h {
            let row = &arena[offsets[0] + y * stride..offsets[0] + y * stride + w];
            assert!(
                row.iter().all(|&c| (c as i64) < segface_fuzz::TINY_CLASSES),
                "labels row {y} not filled"
            );
        }
    }
});
