//! A loaded model: the ONNX graph typed for its fixed input shape, optimised once by tract, plus
//! its description. Immutable and cheap to clone; share it between threads and give each thread
//! (or camera stream) its own `Session`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tract_onnx::pb::{self, type_proto, ModelProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::{Error, ErrorKind, Result};
use crate::ops::kernels::vector_state::clear_upper_vector_state;
use crate::runtime::load;
use crate::runtime::metadata::{self, MetaKey, ModelInfo};
use crate::runtime::plan::Plan;
use crate::runtime::precision::{check_available, into_f16, Precision};
use crate::runtime::screen::MAX_RESOLUTION;
use crate::runtime::stored_constants::evaluate_constant_nodes;

#[derive(Clone)]
pub struct Model {
    inner: Arc<ModelInner>,
}

pub(crate) struct ModelInner {
    pub(crate) plan: Arc<Plan>,
    pub(crate) info: ModelInfo,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.inner.info).finish()
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A SHA-256 given as 64 hex digits, lower-cased.
fn parse_sha256(hex: &str) -> Result<String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid_argument(format!("`{hex}` is not a SHA-256 (64 hex digits)")));
    }
    Ok(hex.to_ascii_lowercase())
}

fn verify(actual: &str, expected: &str, what: &str) -> Result<()> {
    if actual != expected {
        return Err(Error::new(
            ErrorKind::HashMismatch,
            format!("{what}: SHA-256 is {actual}, expected {expected}; the file was changed or damaged"),
        ));
    }
    Ok(())
}

/// The text of `<path><suffix>` if that file exists.
fn read_sidecar(path: &Path, suffix: &str) -> Result<Option<String>> {
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(suffix);
    match std::fs::read_to_string(&sidecar) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(Path::new(&sidecar).display(), e)),
    }
}

/// Concrete dims of a graph input or output, `None` for symbolic ones.
fn declared_dims(info: &pb::ValueInfoProto) -> Vec<Option<usize>> {
    let Some(type_proto::Value::TensorType(t)) = info.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Vec::new();
    };
    let Some(shape) = &t.shape else { return Vec::new() };
    shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect()
}

/// The input resolution: from our metadata, else from the declared (1, 3, R, R) input.
fn input_resolution(proto: &ModelProto, props: &HashMap<String, String>) -> Result<usize> {
    let graph = proto.graph.as_ref().ok_or_else(|| Error::invalid_model("the ONNX model has no graph"))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    if inputs.len() != 1 {
        return Err(Error::invalid_model(format!(
            "a SegFace model has one image input, this one has {}",
            inputs.len()
        )));
    }
    let dims = declared_dims(inputs[0]);
    let from_graph = match dims.as_slice() {
        [_, Some(3), Some(h), Some(w)] if h == w => Some(*h),
        [_, Some(3), _, _] | [] => None,
        other => {
            return Err(Error::invalid_model(format!(
                "input `{}` has shape {other:?}, expected (1, 3, R, R)",
                inputs[0].name
            )))
        }
    };
    let from_meta = props.get(metadata::MetaKey::Resolution.as_str()).and_then(|r| r.parse::<usize>().ok());
    let r = from_graph.or(from_meta).ok_or_else(|| {
        Error::invalid_model(
            "the model's input resolution is neither declared in its input shape nor in its metadata",
        )
    })?;
    if !(1..=MAX_RESOLUTION).contains(&r) {
        return Err(Error::invalid_model(format!(
            "the model's input resolution {r} is outside 1..={MAX_RESOLUTION}"
        )));
    }
    Ok(r)
}

/// A model file's bytes: the caller's, or ours to free once decoded.
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Bytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Owned(v) => v,
        }
    }
}

/// The name of tract's declutter pass that moves axes through the graph (`ChangeAxes`).
const CHANGE_AXES_PASS: &str = "ChangeAxes";

/// tract's declutter passes. On a graph whose layout the exporter chose for tract
/// ([`MetaKey::LayoutFinal`]) the pass that re-derives every tensor's axis order finds nothing
/// worth changing but is a large share of the load time (docs/performance.md), so it is left
/// out; other graphs (the portable export, the reference's) get all of them.
fn declutter(mut typed: TypedModel, layout_final: bool) -> TractResult<TypedModel> {
    let mut optimizer = tract_onnx::tract_core::optim::Optimizer::declutter();
    if layout_final {
        // tract's passes are trait objects without a type to match on: their Debug name it is
        // (`tests::tract_still_has_the_change_axes_pass` catches a renaming).
        optimizer.passes.retain(|pass| !format!("{pass:?}").starts_with(CHANGE_AXES_PASS));
    }
    optimizer.optimize(&mut typed)?;
    Ok(typed)
}

/// Hands the heap pages freed while loading (the decoded file, tract's intermediate models)
/// back to the system, so an app's resident memory after a load is the
/// model's own. glibc keeps freed pages otherwise; other C libraries need nothing here.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where a model comes from: a file, or bytes in memory. Anything path-like converts to
/// [`ModelSource::File`], byte slices to [`ModelSource::Bytes`].
#[derive(Clone, Copy, Debug)]
pub enum ModelSource<'a> {
    /// An ONNX file. When `<file>.sha256` exists beside it (written by `segface convert`,
    /// `sha256sum` format), the file must match it; for a model without SegFace metadata (a
    /// PyTorch export of the reference), class names are read from `<file>.classes.txt` (one
    /// per line) when present.
    File(&'a Path),
    /// An ONNX file's bytes, copied: the caller may free them once the load returns.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Path> for ModelSource<'a> {
    fn from(path: &'a Path) -> Self {
        ModelSource::File(path)
    }
}

impl<'a> From<&'a std::path::PathBuf> for ModelSource<'a> {
    fn from(path: &'a std::path::PathBuf) -> Self {
        ModelSource::File(path)
    }
}

impl<'a> From<&'a str> for ModelSource<'a> {
    fn from(path: &'a str) -> Self {
        ModelSource::File(Path::new(path))
    }
}

impl<'a> From<&'a String> for ModelSource<'a> {
    fn from(path: &'a String) -> Self {
        ModelSource::File(Path::new(path))
    }
}

impl<'a> From<&'a [u8]> for ModelSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        ModelSource::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for ModelSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        ModelSource::Bytes(bytes)
    }
}

/// A model built into the app (`include_bytes!`).
impl<'a, const N: usize> From<&'a [u8; N]> for ModelSource<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        ModelSource::Bytes(bytes)
    }
}

/// How [`Model::load_with`] loads a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// When set, the file's (or bytes') SHA-256 must equal it (64 hex digits): the way for an
    /// app to refuse a model file that was replaced or damaged on the device.
    pub expected_sha256: Option<String>,
    /// The arithmetic of tract's operators (float32 unless asked otherwise).
    pub precision: Precision,
    /// With [`Precision::F16`] on a CPU without native f16 (x86, older ARM): compute f16 in
    /// software anyway, several times slower than float32, to preview on a desktop the labels a
    /// phone's f16 will give. Without it such a load is refused.
    pub emulate_f16: bool,
}

impl LoadOptions {
    /// What can be refused before the model's bytes are read or hashed: a malformed expected
    /// hash, an f16 this CPU or build cannot run. Returns the expected hash, normalised.
    fn precheck(&self) -> Result<Option<String>> {
        let expected = self.expected_sha256.as_deref().map(parse_sha256).transpose()?;
        check_available(self.precision, self.emulate_f16)?;
        Ok(expected)
    }
}

impl Model {
    /// Loads an ONNX file with the default options: `Model::load_with(path, &LoadOptions::default())`.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        Self::load_with(path.as_ref(), &LoadOptions::default())
    }

    /// Loads a model from a file or from bytes ([`ModelSource`]) with `options`: an expected
    /// SHA-256, the precision.
    pub fn load_with<'a>(source: impl Into<ModelSource<'a>>, options: &LoadOptions) -> Result<Model> {
        let expected = options.precheck()?;
        match source.into() {
            ModelSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
                let digest = sha256_hex(&bytes);
                if let Some(expected) = expected {
                    verify(&digest, &expected, &path.display().to_string())?;
                }
                if let Some(recorded) = read_sidecar(path, ".sha256")? {
                    let recorded = recorded.split_whitespace().next().unwrap_or_default();
                    let recorded = parse_sha256(recorded).map_err(|_| {
                        Error::invalid_model(format!("{}.sha256 does not hold a SHA-256", path.display()))
                    })?;
                    verify(&digest, &recorded, &format!("{} (against its .sha256 file)", path.display()))?;
                }
                let classes = read_sidecar(path, ".classes.txt")?.map(|text| {
                    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
                });
                // The file's bytes are ours: freed as soon as they are decoded, before tract's
                // models grow.
                load::guarded("the model file", || {
                    Self::build(Bytes::Owned(bytes), classes, digest, options.precision)
                })
            }
            ModelSource::Bytes(bytes) => {
                let digest = sha256_hex(bytes);
                if let Some(expected) = expected {
                    verify(&digest, &expected, "the model bytes")?;
                }
                load::guarded("the model", || {
                    Self::build(Bytes::Borrowed(bytes), None, digest, options.precision)
                })
            }
        }
    }

    fn build(
        bytes: Bytes,
        classes: Option<Vec<String>>,
        sha256: String,
        precision: Precision,
    ) -> Result<Model> {
        let mut proto = load::decode(bytes.as_slice(), "the model")?;
        drop(bytes);
        let graph = proto.graph.as_mut().ok_or_else(|| Error::invalid_model("the model has no graph"))?;
        evaluate_constant_nodes(graph)?;
        let props: HashMap<String, String> =
            proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
        let r = input_resolution(&proto, &props)?;
        let typed = load::typed(&proto, r, "the model")?;
        // tract copied every tensor: the decoded file (tens of MB) is not needed any more.
        drop(proto);
        let invalid = |context: &str, e: TractError| Error::engine(ErrorKind::InvalidModel, context, e);
        // tract's passes evaluate constant parts of the graph with its kernels, and the first
        // parse's preprocessing follows the load: each starts with the upper vector state
        // cleared (see `vector_state`).
        clear_upper_vector_state();
        let layout_final = props.get(MetaKey::LayoutFinal.as_str()).is_some_and(|v| v == "true");
        let mut typed =
            declutter(typed, layout_final).map_err(|e| invalid("cannot simplify the graph", e))?;
        if precision == Precision::F16 {
            typed = into_f16(typed).map_err(|e| invalid("cannot convert the graph to f16", e))?;
        }
        clear_upper_vector_state();
        typed.optimize().map_err(|e| invalid("cannot optimise the graph for this input shape", e))?;
        if typed.output_outlets().map_err(|e| invalid("no outputs", e))?.len() != 1 {
            return Err(Error::invalid_model("a SegFace model has exactly one output (the logits)"));
        }
        let out_fact = typed.output_fact(0).map_err(|e| invalid("no output", e))?;
        let out_shape: Vec<Option<usize>> = out_fact.shape.iter().map(|d| d.to_usize().ok()).collect();
        let num_classes = match out_shape.as_slice() {
            [Some(1), Some(c), Some(h), Some(w)] if *h == r && *w == r && (1..=255).contains(c) => *c,
            _ => {
                return Err(Error::invalid_model(format!(
                    "the output has shape {:?}, expected (1, classes, {r}, {r}) with at most 255 classes",
                    out_fact.shape
                )))
            }
        };
        if out_fact.datum_type != f32::datum_type() {
            return Err(Error::invalid_model("the output logits are not float32"));
        }
        let info = ModelInfo { precision, ..metadata::describe(&props, r, num_classes, classes, sha256)? };
        clear_upper_vector_state();
        let plan = crate::runtime::plan::plan(typed).map_err(|e| invalid("cannot plan the graph", e))?;
        return_freed_memory();
        Ok(Model { inner: Arc::new(ModelInner { plan, info }) })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    pub(crate) fn inner(&self) -> &ModelInner {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `declutter` leaves out tract's axis pass by its Debug name: a tract that renames it
    /// would silently keep it (a slower load, not a wrong one), so the name is checked here.
    #[test]
    fn tract_still_has_the_change_axes_pass() {
        let passes = tract_onnx::tract_core::optim::Optimizer::declutter().passes;
        let names: Vec<String> = passes.iter().map(|pass| format!("{pass:?}")).collect();
        assert_eq!(names.iter().filter(|n| n.starts_with(CHANGE_AXES_PASS)).count(), 1, "{names:?}");
    }
}
