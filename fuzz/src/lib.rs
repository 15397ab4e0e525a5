//! The fuzz targets' harness ([`fuzz_target!`]) and their small, valid inputs: a tiny model that
//! passes every check and loads in milliseconds (so the C ABI targets reach inference), and a
//! tiny checkpoint in the published torch.save layout (so the checkpoint target starts from a
//! file that reads; shared with the tests).
//!
//! The targets are libFuzzer programs: `scripts/fuzz.sh` compiles them with coverage and
//! AddressSanitizer and links LLVM's libFuzzer runtime, which calls `LLVMFuzzerTestOneInput`.

/// Defines a libFuzzer target: `fuzz_target!(|data: &[u8]| { ... })`, optionally with an
/// `init: { ... }` block run once before the first input.
///
/// A panic that escapes the body aborts the process, which libFuzzer reports as a crash and saves
/// the input for; panics that segface catches itself (its guarantee at the API) are not crashes.
#[macro_export]
macro_rules! fuzz_target {
    (init: $init:block, |$data:ident: &[u8]| $body:block) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn LLVMFuzzerInitialize(
            _argc: *mut std::ffi::c_int,
            _argv: *mut *mut *mut std::ffi::c_char,
        ) -> std::ffi::c_int {
            $init
            0
        }
        $crate::fuzz_target!(|$data: &[u8]| $body);
    };
    (|$data:ident: &[u8]| $body:block) => {
        /// # Safety
        /// libFuzzer passes `size` readable bytes at `data` (or a null or dangling pointer with
        /// `size` 0).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn LLVMFuzzerTestOneInput(data: *const u8, size: usize) -> std::ffi::c_int {
            let $data: &[u8] =
                if size == 0 { &[] } else { unsafe { std::slice::from_raw_parts(data, size) } };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || $body)).is_err() {
                std::process::abort();
            }
            0
        }
    };
}

#[path = "../../tests/common/torch_files.rs"]
pub mod torch_files;

use prost::Message;
use tract_onnx::pb;

/// The tiny model's input resolution.
pub const TINY_RESOLUTION: i64 = 32;
/// Its number of classes (SegFace's 19, so class names come from the default list).
pub const TINY_CLASSES: i64 = 19;

fn float_tensor(name: &str, dims: &[i64], values: impl Iterator<Item = f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.flat_map(f32::to_le_bytes).collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let shape = pb::TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() })
            .collect(),
    };
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(shape),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A (1, 3, 32, 32) -> (1, 19, 32, 32) model: one 1x1 convolution, SegFace's input and output
/// names and metadata keys.
pub fn tiny_model() -> Vec<u8> {
    let (r, c) = (TINY_RESOLUTION, TINY_CLASSES);
    let weights = (0..c * 3).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5);
    let node = pb::NodeProto {
        name: "head".into(),
        op_type: "Conv".into(),
        input: vec!["image".into(), "w".into(), "b".into()],
        output: vec!["logits".into()],
        ..Default::default()
    };
    let graph = pb::GraphProto {
        name: "tiny".into(),
        node: vec![node],
        initializer: vec![
            float_tensor("w", &[c, 3, 1, 1], weights),
            float_tensor("b", &[c], (0..c).map(|i| i as f32 * 0.01)),
        ],
        input: vec![value_info("image", &[1, 3, r, r])],
        output: vec![value_info("logits", &[1, c, r, r])],
        ..Default::default()
    };
    let meta = |k: &str, v: &str| pb::StringStringEntryProto { key: k.into(), value: v.into() };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        metadata_props: vec![
            meta("segface.resolution", &r.to_string()),
            meta("segface.mean", "0.485,0.456,0.406"),
            meta("segface.std", "0.229,0.224,0.225"),
        ],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A session on the tiny model through the C ABI, made once per fuzzing process and shared under
/// a mutex (the targets that drive `segface_parse*`).
pub fn tiny_session() -> std::sync::MutexGuard<'static, TinySession> {
    use segface::ffi::*;
    static SESSION: std::sync::OnceLock<std::sync::Mutex<TinySession>> = std::sync::OnceLock::new();
    SESSION
        .get_or_init(|| {
            let bytes = tiny_model();
            let (mut model, mut session) = (std::ptr::null_mut(), std::ptr::null_mut());
            unsafe {
                assert_eq!(
                    segface_model_load_memory(bytes.as_ptr(), bytes.len(), &mut model),
                    SegfaceStatus::Ok
                );
                assert_eq!(segface_session_create(model, &mut session), SegfaceStatus::Ok);
                segface_model_free(&mut model);
            }
            std::sync::Mutex::new(TinySession(session))
        })
        .lock()
        .unwrap()
}

/// The session handle behind [`tiny_session`].
pub struct TinySession(pub *mut segface::ffi::SegfaceSession);
// SAFETY: only used under the mutex.
unsafe impl Send for TinySession {}

/// Canary value the targets fill label buffers with before a call.
pub const CANARY: u8 = 0xA5;

/// What every parse target checks after a call: no internal panic, nothing written past
/// `labels_len` or between label rows, and on success every label of the `w x h` map written.
pub fn check_labels(
    status: segface::ffi::SegfaceStatus,
    labels: &[u8],
    labels_len: usize,
    (w, h): (usize, usize),
    labels_stride: usize,
) {
    use segface::ffi::SegfaceStatus;
    assert_ne!(status, SegfaceStatus::ErrInternal, "a panic was caught inside segface");
    assert!(labels[labels_len..].iter().all(|&b| b == CANARY), "written past labels_len");
    if status != SegfaceStatus::Ok {
        return;
    }
    for y in 0..h {
        let row = &labels[y * labels_stride..y * labels_stride + w];
        assert!(row.iter().all(|&c| (c as i64) < TINY_CLASSES), "row {y} not filled");
        if y + 1 < h {
            let gap = &labels[y * labels_stride + w..(y + 1) * labels_stride];
            assert!(gap.iter().all(|&b| b == CANARY), "written between rows");
        }
    }
}

/// Reads little-endian integers from a fuzz input, zero past its end.
pub struct Reader<'a>(pub &'a [u8], pub usize);

impl Reader<'_> {
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        for v in b.iter_mut() {
            *v = self.0.get(self.1).copied().unwrap_or(0);
            self.1 += 1;
        }
        u32::from_le_bytes(b)
    }

    /// A coordinate near a small frame, or (odd words) any float bit pattern.
    pub fn coordinate(&mut self) -> f32 {
        let v = self.u32();
        if v & 1 != 0 {
            f32::from_bits(v)
        } else {
            (v >> 1) as f32 % 200.0 - 40.0
        }
    }
}
