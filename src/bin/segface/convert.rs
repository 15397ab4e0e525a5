//! `segface convert`: a reference checkpoint to the ONNX file the runtime loads, with its
//! `.sha256` beside it.

use std::path::Path;
use std::time::Instant;

use segface::convert::{export_mobilenet, read_weights, ExportOptions, WeightStorage};
use segface::internals::sha256_hex;

use crate::{file_error, CliResult};

pub(crate) fn convert_file(
    checkpoint: &Path,
    output: &Path,
    resolution: usize,
    storage: WeightStorage,
    portable: bool,
) -> CliResult {
    let started = Instant::now();
    eprintln!("reading {}", checkpoint.display());
    let bytes = std::fs::read(checkpoint).map_err(file_error(checkpoint))?;
    let source_sha256 = sha256_hex(&bytes);
    drop(bytes);
    let weights = read_weights(checkpoint)?;
    eprintln!("exporting {} weights at resolution {resolution}, stored as {}", weights.len(), storage.name());
    let options = ExportOptions {
        source_sha256: Some(source_sha256.clone()),
        weights: storage,
        portable,
        ..ExportOptions::new(resolution)
    };
    let onnx = export_mobilenet(&weights, &options)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_error(dir))?;
    }
    std::fs::write(output, &onnx).map_err(file_error(output))?;
    // The hash travels with the model (`sha256sum -c` format); Model::load checks it.
    let mut sidecar = output.as_os_str().to_owned();
    sidecar.push(".sha256");
    let file_name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    std::fs::write(&sidecar, format!("{}  {file_name}\n", sha256_hex(&onnx)))
        .map_err(file_error(Path::new(&sidecar)))?;
    eprintln!(
        "wrote {} and its .sha256 ({:.1} MB, source sha256 {source_sha256}) in {:.1} s",
        output.display(),
        onnx.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
