//! `segface fetch`: download a published checkpoint and convert it; where `parse` looks for
//! the installed model.

use std::path::PathBuf;

use segface::convert::{download, installed_path, manifest_entry, WeightStorage};
use segface::Error;

use crate::convert::convert_file;
use crate::{usage, CliResult};

pub(crate) fn default_model() -> CliResult<PathBuf> {
    let path = installed_path("mobilenet-celeba-512");
    if path.is_file() {
        Ok(path)
    } else {
        Err(usage(format!(
            "no model given and none installed at {}: run `segface fetch mobilenet-celeba-512`, or `segface convert model_299.pt -o model.onnx` and pass `-m model.onnx`",
            path.display()
        )))
    }
}

pub(crate) fn fetch_model(
    name: &str,
    url: Option<String>,
    sha256: Option<String>,
    output: Option<PathBuf>,
    storage: WeightStorage,
) -> CliResult {
    let entry = manifest_entry(name)?;
    let url = url.unwrap_or(entry.url.clone());
    let expected = sha256.or(entry.sha256.clone());
    let output = output.unwrap_or_else(|| installed_path(name));
    let checkpoint = output.with_extension("pt");
    eprintln!("{}", entry.note);
    eprintln!("downloading {url} (about {:.0} MB)", entry.approx_size_bytes as f64 / 1e6);
    let mut last_percent = u64::MAX;
    let digest = download(&url, &checkpoint, expected.as_deref(), |received, total| {
        let total = total.unwrap_or(entry.approx_size_bytes).max(1);
        let percent = (received * 100 / total).min(100);
        if percent / 10 != last_percent / 10 {
            eprintln!("  {percent:>3} % ({:.1} MB)", received as f64 / 1e6);
            last_percent = percent;
        }
    })
    .map_err(|e| {
        let hint = format!(
            "{}\nIf you obtained model_299.pt another way, convert it with:\n  segface convert model_299.pt -o {} --resolution {}",
            e.message(),
            output.display(),
            entry.resolution
        );
        Error::new(e.kind(), hint).with_source(e)
    })?;
    match &expected {
        Some(_) => eprintln!("sha256 {digest} (matches the pinned hash)"),
        None => eprintln!("sha256 {digest} (no hash pinned in the manifest yet: record this one)"),
    }
    convert_file(&checkpoint, &output, entry.resolution, storage, false)?;
    let _ = std::fs::remove_file(&checkpoint);
    println!("installed {}", output.display());
    Ok(())
}
