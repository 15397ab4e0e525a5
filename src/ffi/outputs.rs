//! What a frame parse writes, as the safe API's [`Outputs`].

use super::{struct_size_error, Failure, SegfaceStatus};
use crate::{ClassSet, ClassSetMask, Outputs, PlaneMut, SoftMasks};

/// The outputs of `segface_parse_frame_outputs` and `segface_video_parse`, each frame-sized
/// (frame height rows of frame width bytes, in the frame's own orientation) in a buffer the
/// caller owns; a NULL pointer means "not wanted" (at least one is needed). Buffers must not
/// overlap. Set `struct_size = sizeof(SegfaceOutputs)`.
#[repr(C)]
pub struct SegfaceOutputs {
    pub struct_size: u32,
    /// Class index per pixel; `labels_len` bytes, rows `labels_stride` apart.
    pub labels: *mut u8,
    pub labels_len: usize,
    pub labels_stride: usize,
    /// One plane per set bit of `soft_mask_classes` (bit i: class i), in class order,
    /// `soft_masks_plane_stride` bytes apart; each byte is the class probability x 255.
    pub soft_masks: *mut u8,
    pub soft_masks_len: usize,
    pub soft_masks_stride: usize,
    pub soft_masks_plane_stride: usize,
    pub soft_mask_classes: u32,
    /// One mask for the classes of `class_set` (bit i: class i): 255 where the pixel's label is
    /// in the set, else 0; with `class_set_soft` nonzero, the set's summed probability x 255.
    pub class_set_mask: *mut u8,
    pub class_set_mask_len: usize,
    pub class_set_mask_stride: usize,
    pub class_set: u32,
    pub class_set_soft: u32,
}

/// The caller's output buffers as slices, after checking none overlaps another.
///
/// # Safety
/// Each non-NULL buffer must be writable for its length and not in use elsewhere.
pub(crate) unsafe fn outputs_arg(o: &SegfaceOutputs) -> Result<Outputs<'_>, Failure> {
    if (o.struct_size as usize) < std::mem::size_of::<SegfaceOutputs>() {
        return Err(struct_size_error(
            "SegfaceOutputs",
            o.struct_size,
            std::mem::size_of::<SegfaceOutputs>(),
        ));
    }
    let buffers = [
        (o.labels, o.labels_len),
        (o.soft_masks, o.soft_masks_len),
        (o.class_set_mask, o.class_set_mask_len),
    ];
    let spans: Vec<(usize, usize)> = buffers
        .iter()
        .filter(|(p, len)| !p.is_null() && *len > 0)
        .map(|&(p, len)| (p as usize, (p as usize).saturating_add(len)))
        .collect();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.0 < b.1 && b.0 < a.1 {
                return Err(Failure(SegfaceStatus::ErrInvalidArgument, "output buffers overlap".into()));
            }
        }
    }
    let slice = |p: *mut u8, len: usize| (!p.is_null()).then(|| std::slice::from_raw_parts_mut(p, len));
    Ok(Outputs {
        labels: slice(o.labels, o.labels_len).map(|data| PlaneMut { data, stride: o.labels_stride }),
        soft_masks: slice(o.soft_masks, o.soft_masks_len).map(|data| SoftMasks {
            classes: ClassSet(o.soft_mask_classes),
            data,
            stride: o.soft_masks_stride,
            plane_stride: o.soft_masks_plane_stride,
        }),
        class_set: slice(o.class_set_mask, o.class_set_mask_len).map(|data| ClassSetMask {
            classes: ClassSet(o.class_set),
            soft: o.class_set_soft != 0,
            data,
            stride: o.class_set_mask_stride,
        }),
    })
}
