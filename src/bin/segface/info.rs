//! `segface info`: what a model file says about itself.

use std::path::Path;
use std::time::Instant;

use segface::{Model, CELEBA_DESCRIPTIONS};

use crate::CliResult;

pub(crate) fn info(path: &Path) -> CliResult {
    let started = Instant::now();
    let model = Model::load(path)?;
    let info = model.info();
    println!("model:        {}", path.display());
    println!("variant:      {}", info.variant);
    println!("resolution:   {0}x{0}", info.resolution);
    println!("mean:         {:?}", info.mean);
    println!("std:          {:?}", info.std);
    println!("model sha256: {}", info.model_sha256);
    println!("source sha256: {}", info.source_sha256.as_deref().unwrap_or("(not recorded)"));
    println!("weights:      stored as {} (float32 at run time)", info.weight_storage);
    println!("load time:    {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    println!("classes ({}):", info.classes.len());
    for (i, name) in info.classes.iter().enumerate() {
        let description =
            CELEBA_DESCRIPTIONS.get(i).filter(|_| info.classes.len() == 19).copied().unwrap_or("");
        println!("  {i:>3} {name:<12} {description}");
    }
    Ok(())
}
