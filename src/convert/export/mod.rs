//! Export: named reference weights -> an ONNX model of the MobileNetV3 SegFace variant for one
//! fixed resolution, with BatchNorm folded, input-independent parts precomputed, every shape
//! concrete and the facts a runtime needs in `metadata_props`.

mod backbone;
pub(crate) mod constants;
pub(crate) mod graph;
mod head;

use prost::Message;
use tract_onnx::pb::{ModelProto, OperatorSetIdProto, StringStringEntryProto};

use crate::convert::arch::{self, CELEBA_NUM_CLASSES};
use crate::convert::weights::Weights;
use crate::error::{Error, Result};
use crate::runtime::classes::CELEBA_CLASSES;
use crate::runtime::metadata::{self, MetaKey};
use crate::runtime::metadata::{IMAGENET_MEAN, IMAGENET_STD};

/// Name of the graph input, (1, 3, R, R) float32, normalised RGB.
pub const INPUT_NAME: &str = "image";
/// Name of the graph output, (1, C, R, R) float32 logits.
pub const OUTPUT_NAME: &str = "logits";
/// The variant this exporter builds.
pub const VARIANT: &str = "segface-mobilenetv3-large";
const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

/// How the weight matrices and convolution kernels are stored in the file. The runtime turns
/// every form back into float32 at load (see `stored_constants`), so all three run at the same
/// speed; the smaller forms trade a little accuracy for a smaller download. Biases, norms, class
/// tokens and the exact resampling matrices always stay float32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightStorage {
    /// Float32: the weights exactly as converted.
    #[default]
    F32,
    /// IEEE half precision, widened by a standard `Cast` (about half the size).
    F16,
    /// Symmetric int8 with one scale per output channel, widened by a standard
    /// `DequantizeLinear` (about a quarter of the size).
    Int8,
}

impl WeightStorage {
    pub fn name(self) -> &'static str {
        match self {
            WeightStorage::F32 => "f32",
            WeightStorage::F16 => "f16",
            WeightStorage::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for WeightStorage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(WeightStorage::F32),
            "f16" => Ok(WeightStorage::F16),
            "int8" => Ok(WeightStorage::Int8),
            other => Err(Error::invalid_argument(format!("weight storage `{other}`: use f32, f16 or int8"))),
        }
    }
}

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Input resolution R: a multiple of 32, at least 64.
    pub resolution: usize,
    /// SHA-256 (hex) of the checkpoint the weights came from, recorded in the metadata.
    pub source_sha256: Option<String>,
    /// How weight matrices are stored.
    pub weights: WeightStorage,
    /// Standard ONNX operators only, for other runtimes (ONNX Runtime, ...). The default graph
    /// runs the fusion's upsampled sum, the attention cores and the decoder's tail as segface's
    /// own operators (`crate::ops`), which only segface's runtime reads; both compute the same
    /// function.
    pub portable: bool,
}

impl ExportOptions {
    /// Float32 weights at resolution `resolution`, no recorded source.
    pub fn new(resolution: usize) -> Self {
        ExportOptions { resolution, source_sha256: None, weights: WeightStorage::F32, portable: false }
    }
}

pub fn check_resolution(resolution: usize) -> Result<()> {
    if !(64..=2048).contains(&resolution) || !resolution.is_multiple_of(32) {
        return Err(Error::invalid_argument(format!(
            "resolution {resolution} is not supported: use a multiple of 32 between 64 and 2048"
        )));
    }
    Ok(())
}

/// Builds the ONNX model and returns its serialized bytes.
pub fn export_mobilenet(weights: &Weights, options: &ExportOptions) -> Result<Vec<u8>> {
    Ok(build_model(weights, options)?.encode_to_vec())
}

pub fn build_model(weights: &Weights, options: &ExportOptions) -> Result<ModelProto> {
    let r = options.resolution;
    check_resolution(r)?;
    let tokens = weights.class_tokens();
    if tokens != CELEBA_NUM_CLASSES && tokens > 0 {
        return Err(Error::invalid_model(format!(
            "these weights have {tokens} class tokens: the runtime's models are the 19-class \
             CelebAMask-HQ head (LaPa and Helen models run in `segface predict`)"
        )));
    }
    if weights.get(arch::swin::SWIN_MARKER_KEY).is_ok() {
        return Err(Error::invalid_model(
            "these weights have a Swin backbone: the runtime runs MobileNetV3 models (Swin models run in \
             `segface predict`)",
        ));
    }
    weights.check_against(&arch::mobilenet_keys(CELEBA_NUM_CLASSES))?;
    let mut g = graph::GraphBuilder::new(options.weights);
    let (depthwise, tail) = match options.portable {
        true => (backbone::Depthwise::Conv, head::Tail::Portable),
        false => (backbone::Depthwise::Segface, head::Tail::Fused),
    };
    let taps = backbone::mobilenet_v3_taps(&mut g, weights, INPUT_NAME, depthwise)?;
    head::segface_head(&mut g, weights, &taps, r, CELEBA_NUM_CLASSES, tail, OUTPUT_NAME)?;
    let mut opset_import = vec![OperatorSetIdProto { domain: String::new(), version: OPSET }];
    if g.uses_segface_ops() {
        opset_import.push(OperatorSetIdProto { domain: crate::ops::DOMAIN.into(), version: 1 });
    }
    let graph = g.into_graph(
        "segface",
        vec![graph::value_info(INPUT_NAME, &[1, 3, r, r])],
        vec![graph::value_info(OUTPUT_NAME, &[1, CELEBA_NUM_CLASSES, r, r])],
    );
    let floats = |v: &[f32; 3]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let mut props = vec![
        (MetaKey::FormatVersion, metadata::FORMAT_VERSION.to_string()),
        (MetaKey::Variant, VARIANT.to_string()),
        (MetaKey::Classes, CELEBA_CLASSES.join(",")),
        (MetaKey::Resolution, r.to_string()),
        (MetaKey::Mean, floats(&IMAGENET_MEAN)),
        (MetaKey::Std, floats(&IMAGENET_STD)),
        (MetaKey::WeightStorage, options.weights.name().to_string()),
    ];
    if let Some(sha) = &options.source_sha256 {
        props.push((MetaKey::SourceSha256, sha.clone()));
    }
    if tail == head::Tail::Fused {
        props.push((MetaKey::LayoutFinal, "true".to_string()));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import,
        producer_name: "segface".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: props
            .into_iter()
            .map(|(k, value)| StringStringEntryProto { key: k.as_str().to_string(), value })
            .collect(),
        ..Default::default()
    })
}
