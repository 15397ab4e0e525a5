//! What an exported model says about itself (`metadata_props`), and how a model without it
//! (a PyTorch export of the reference) is described.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::runtime::classes::CELEBA_CLASSES;
use crate::runtime::precision::Precision;

/// ImageNet's per-channel RGB mean, the normalisation SegFace was trained with: a model that
/// declares none (a foreign export) gets it.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel RGB standard deviation (see [`IMAGENET_MEAN`]).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Version of the layout segface writes (metadata and segface's operators' attributes). A file
/// that declares a newer one is refused: its operators may mean something this build does not do.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKey {
    FormatVersion,
    Variant,
    Classes,
    Resolution,
    Mean,
    Std,
    SourceSha256,
    WeightStorage,
    /// `true` where the exporter laid the graph out for tract (segface's runtime graph): the
    /// load then skips tract's pass that re-derives axis orders ([`crate::Model`]).
    LayoutFinal,
}

impl MetaKey {
    pub fn as_str(self) -> &'static str {
        match self {
            MetaKey::FormatVersion => "segface.format_version",
            MetaKey::Variant => "segface.variant",
            MetaKey::Classes => "segface.classes",
            MetaKey::Resolution => "segface.resolution",
            MetaKey::Mean => "segface.mean",
            MetaKey::Std => "segface.std",
            MetaKey::SourceSha256 => "segface.source_sha256",
            MetaKey::WeightStorage => "segface.weight_storage",
            MetaKey::LayoutFinal => "segface.layout_final",
        }
    }
}

/// A loaded model's description.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// Class names in output-channel order.
    pub classes: Vec<String>,
    /// Square input resolution R.
    pub resolution: usize,
    /// Per-channel RGB mean and std applied after scaling pixels to [0, 1].
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Model variant, e.g. `segface-mobilenetv3-large`; `unknown` for foreign exports.
    pub variant: String,
    /// SHA-256 of the checkpoint the model was converted from, when recorded.
    pub source_sha256: Option<String>,
    /// SHA-256 of the model file itself.
    pub model_sha256: String,
    /// How the file stores its weights (`f32`, `f16` or `int8`); decoded to float32 at load.
    pub weight_storage: String,
    /// The arithmetic tract's operators run in, as asked for at load ([`crate::LoadOptions`]).
    pub precision: Precision,
}

fn parse_triple(key: &str, value: &str) -> Result<[f32; 3]> {
    let parts: Vec<f32> = value
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::invalid_model(format!("metadata `{key}` is not three numbers: {value}")))?;
    parts
        .try_into()
        .map_err(|_| Error::invalid_model(format!("metadata `{key}` is not three numbers: {value}")))
}

/// Builds the description from the ONNX metadata, the graph's input resolution and output
/// channel count. `sidecar_classes` (from a file next to a foreign model) win over defaults.
pub fn describe(
    props: &HashMap<String, String>,
    resolution: usize,
    num_classes: usize,
    sidecar_classes: Option<Vec<String>>,
    model_sha256: String,
) -> Result<ModelInfo> {
    let get = |k: MetaKey| props.get(k.as_str());
    if let Some(v) = get(MetaKey::FormatVersion) {
        match v.parse::<u32>() {
            Ok(version) if version <= FORMAT_VERSION => {}
            Ok(version) => {
                return Err(Error::invalid_model(format!(
                    "format version {version} is newer than this segface reads ({FORMAT_VERSION}): \
                     update segface or re-convert the checkpoint with this version"
                )))
            }
            Err(_) => {
                return Err(Error::invalid_model(format!("metadata format version is not a number: {v}")))
            }
        }
    }
    if let Some(r) = get(MetaKey::Resolution) {
        if r.parse::<usize>().ok() != Some(resolution) {
            return Err(Error::invalid_model(format!(
                "metadata resolution {r} disagrees with the graph input {resolution}"
            )));
        }
    }
    let classes: Vec<String> = match (get(MetaKey::Classes), sidecar_classes) {
        (Some(list), _) => list.split(',').map(str::to_string).collect(),
        (None, Some(list)) => list,
        (None, None) if num_classes == CELEBA_CLASSES.len() => {
            CELEBA_CLASSES.iter().map(|s| s.to_string()).collect()
        }
        (None, None) => (0..num_classes).map(|i| format!("class_{i}")).collect(),
    };
    if classes.len() != num_classes {
        return Err(Error::invalid_model(format!(
            "{} class names for a model with {num_classes} output channels",
            classes.len()
        )));
    }
    Ok(ModelInfo {
        classes,
        resolution,
        mean: get(MetaKey::Mean).map(|v| parse_triple("mean", v)).transpose()?.unwrap_or(IMAGENET_MEAN),
        std: get(MetaKey::Std).map(|v| parse_triple("std", v)).transpose()?.unwrap_or(IMAGENET_STD),
        variant: get(MetaKey::Variant).cloned().unwrap_or_else(|| "unknown".into()),
        source_sha256: get(MetaKey::SourceSha256).cloned(),
        model_sha256,
        weight_storage: get(MetaKey::WeightStorage).cloned().unwrap_or_else(|| "f32".into()),
        precision: Precision::F32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(version: &str) -> HashMap<String, String> {
        HashMap::from([(MetaKey::FormatVersion.as_str().to_string(), version.to_string())])
    }

    #[test]
    fn newer_or_unreadable_format_versions_are_refused() {
        let current = describe(&props(&FORMAT_VERSION.to_string()), 64, 19, None, String::new()).unwrap();
        assert_eq!(current.classes.len(), 19);
        let newer =
            describe(&props(&(FORMAT_VERSION + 1).to_string()), 64, 19, None, String::new()).unwrap_err();
        assert!(newer.message().contains("newer than this segface reads"), "{newer}");
        assert!(describe(&props("two"), 64, 19, None, String::new()).is_err());
        // A foreign export without segface metadata still loads.
        assert!(describe(&HashMap::new(), 64, 19, None, String::new()).is_ok());
    }
}
