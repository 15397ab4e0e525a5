//! Named float tensors under the reference state-dict key names, the currency between checkpoint
//! readers and the exporter.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::convert::arch::KeySpec;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// One float32 tensor in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl WeightTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(Error::invalid_model(format!(
                "tensor of shape {shape:?} needs {numel} values, got {}",
                data.len()
            )));
        }
        Ok(WeightTensor { shape, data })
    }
}

/// A state dict: key name -> tensor.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: BTreeMap<String, WeightTensor>,
}

impl Weights {
    pub fn insert(&mut self, name: impl Into<String>, tensor: WeightTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(|s| s.as_str())
    }

    /// The tensor called `name`; a missing key is an error that names it.
    pub fn get(&self, name: &str) -> Result<&WeightTensor> {
        self.tensors.get(name).ok_or_else(|| Error::invalid_model(format!("missing weight `{name}`")))
    }

    /// How many class tokens (output classes) a SegFace state dict holds.
    pub fn class_tokens(&self) -> usize {
        self.names().filter(|n| crate::convert::arch::is_token_key(n)).count()
    }

    /// Checks that the weights are exactly `expected`: no key missing, none unknown, every shape
    /// equal. The error names the first offending key.
    pub fn check_against(&self, expected: &[KeySpec]) -> Result<()> {
        for spec in expected {
            let tensor = self.get(&spec.name)?;
            if tensor.shape != spec.shape {
                return Err(Error::invalid_model(format!(
                    "weight `{}` has shape {:?}, expected {:?}",
                    spec.name, tensor.shape, spec.shape
                )));
            }
        }
        if self.tensors.len() != expected.len() {
            let known: std::collections::HashSet<&str> = expected.iter().map(|k| k.name.as_str()).collect();
            if let Some(unknown) = self.names().find(|n| !known.contains(n)) {
                return Err(Error::invalid_model(format!(
                    "unknown weight `{unknown}` (not part of this SegFace model)"
                )));
            }
        }
        Ok(())
    }

    /// Reads a safetensors file of float32 tensors (f16/bf16/f64 are widened or narrowed to f32).
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Self> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::invalid_model(format!("not a valid safetensors file: {e}")))?;
        let mut weights = Weights::default();
        for (name, view) in file.tensors() {
            let data = match view.dtype() {
                Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                    .collect(),
                // Integer buffers (BatchNorm counters, Swin index tables) carry no weights.
                Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
                other => {
                    return Err(Error::invalid_model(format!(
                        "weight `{name}` has unsupported dtype {other:?}"
                    )))
                }
            };
            weights.insert(name, WeightTensor::new(view.shape().to_vec(), data)?);
        }
        Ok(weights)
    }

    /// Writes the weights as a float32 safetensors file under their key names (what `convert`
    /// and `from_safetensors_bytes` read).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                (name.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect(), t.shape.clone())
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(name, data, shape)| {
                let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                    .map_err(|e| Error::invalid_argument(format!("weight `{name}`: {e}")))?;
                Ok((name.clone(), view))
            })
            .collect::<Result<_>>()?;
        safetensors::tensor::serialize(views, None)
            .map_err(|e| Error::invalid_argument(format!("cannot write safetensors: {e}")))
    }

    /// Renames keys starting with `from` to start with `to`, drops every other key.
    pub fn rerooted(&self, from: &str, to: &str) -> Weights {
        let mut out = Weights::default();
        for (name, t) in &self.tensors {
            if let Some(rest) = name.strip_prefix(from) {
                out.insert(format!("{to}{rest}"), t.clone());
            }
        }
        out
    }

    pub fn from_safetensors_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
        Self::from_safetensors_bytes(&bytes)
    }

    /// Deterministic pseudo-random weights with the shapes of `keys`, for benchmarks (speed does
    /// not depend on weight values) and tests. Scaled so activations stay in a sane range;
    /// BatchNorm variances are positive.
    pub fn seeded(keys: &[KeySpec], seed: u64) -> Self {
        let mut rng = SplitMix64::from_state(seed ^ 0x9E37_79B9_7F4A_7C15);
        let mut next = move || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        let mut weights = Weights::default();
        for spec in keys {
            let numel: usize = spec.shape.iter().product();
            let fan_in: usize = spec.shape.iter().skip(1).product::<usize>().max(1);
            let scale = (1.0 / fan_in as f32).sqrt();
            let data = if spec.name.ends_with("running_var") {
                (0..numel).map(|_| 1.0 + 0.5 * next().abs()).collect()
            } else if spec.name.ends_with("running_mean") || spec.name.ends_with(".bias") {
                (0..numel).map(|_| 0.1 * next()).collect()
            } else if spec.shape.len() == 1 {
                (0..numel).map(|_| 1.0 + 0.1 * next()).collect()
            } else {
                (0..numel).map(|_| scale * next()).collect()
            };
            weights.insert(spec.name.clone(), WeightTensor { shape: spec.shape.clone(), data });
        }
        weights
    }
}
