//! `segface fetch NAME`: download a published checkpoint named in `models/manifest.json`, check
//! its SHA-256 when one is pinned, convert it and install the ONNX file where `parse` looks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The manifest of downloadable checkpoints, built into the binary.
pub const MANIFEST: &str = include_str!("../../models/manifest.json");

/// One downloadable checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestEntry {
    pub name: String,
    pub url: String,
    pub approx_size_bytes: u64,
    /// Pinned SHA-256 (hex); `None` until someone has verified the published file.
    pub sha256: Option<String>,
    pub resolution: usize,
    pub note: String,
}

pub fn manifest() -> Result<Vec<ManifestEntry>> {
    let value: serde_json::Value =
        serde_json::from_str(MANIFEST).map_err(|e| Error::invalid_argument(format!("bad manifest: {e}")))?;
    let object = value.as_object().ok_or_else(|| Error::invalid_argument("manifest is not an object"))?;
    object
        .iter()
        .map(|(name, v)| {
            let field = |k: &str| {
                v.get(k).ok_or_else(|| Error::invalid_argument(format!("manifest `{name}` lacks `{k}`")))
            };
            Ok(ManifestEntry {
                name: name.clone(),
                url: field("url")?.as_str().unwrap_or_default().to_string(),
                approx_size_bytes: field("approx_size_bytes")?.as_u64().unwrap_or(0),
                sha256: field("sha256")?.as_str().map(|s| s.to_ascii_lowercase()),
                resolution: field("resolution")?.as_u64().unwrap_or(512) as usize,
                note: v.get("note").and_then(|n| n.as_str()).unwrap_or_default().to_string(),
            })
        })
        .collect()
}

pub fn manifest_entry(name: &str) -> Result<ManifestEntry> {
    let entries = manifest()?;
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    entries.into_iter().find(|e| e.name == name).ok_or_else(|| {
        Error::invalid_argument(format!("unknown model `{name}`; known: {}", names.join(", ")))
    })
}

/// Where models are installed: `$SEGFACE_HOME/models`, else `$XDG_DATA_HOME/segface/models`,
/// else `~/.local/share/segface/models`.
pub fn models_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("SEGFACE_HOME") {
        return PathBuf::from(home).join("models");
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(data).join("segface").join("models");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local").join("share").join("segface").join("models")
}

/// The installed ONNX file of a manifest entry.
pub fn installed_path(name: &str) -> PathBuf {
    models_dir().join(format!("{name}.onnx"))
}

/// Downloads `url` into `dest` (via a temporary file), reporting progress to `progress`, and
/// returns the SHA-256 (hex) of what arrived. A pinned `expected_sha256` that differs is an
/// error and nothing is left at `dest`.
pub fn download(
    url: &str,
    dest: &Path,
    expected_sha256: Option<&str>,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<String> {
    let network =
        |e: &dyn std::fmt::Display| Error::new(ErrorKind::Network, format!("download of {url} failed: {e}"));
    let response = ureq::get(url).call().map_err(|e| network(&e))?;
    let total = response.body().content_length();
    let mut reader = response.into_body().into_reader();
    let partial = dest.with_extension("part");
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    let mut file = std::fs::File::create(&partial).map_err(|e| Error::io(partial.display(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| network(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(partial.display(), e))?;
        received += n as u64;
        progress(received, total);
    }
    drop(file);
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if let Some(expected) = expected_sha256 {
        if !expected.eq_ignore_ascii_case(&digest) {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::new(
                ErrorKind::HashMismatch,
                format!("{url}: SHA-256 is {digest}, expected {expected}; the file was discarded"),
            ));
        }
    }
    std::fs::rename(&partial, dest).map_err(|e| Error::io(dest.display(), e))?;
    Ok(digest)
}
