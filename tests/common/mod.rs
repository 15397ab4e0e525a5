//! Fixtures shared by the integration tests: the reference checkpoint and goldens (copied from
//! the reference run into tests/fixtures), and the model converted from them once per binary.
#![allow(dead_code)]

pub mod programs;
#[cfg(feature = "convert")]
pub mod torch_files;

use std::path::PathBuf;
use std::sync::OnceLock;

use safetensors::SafeTensors;
use segface::convert::{export_mobilenet, ExportOptions};
use segface::{LoadOptions, Model};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The features this test binary was built with, plus `jni`: building the library with them
/// reuses every compiled dependency, and when the tests were built with `jni` (as CI and the
/// README build them) the library itself is the one `cargo test` built.
pub fn library_features() -> Vec<&'static str> {
    let mut features = vec!["jni"];
    for (enabled, name) in [
        // Named explicitly: with `--no-default-features`, only the same feature list, `default`
        // included, is the same build.
        (cfg!(feature = "default"), "default"),
        (cfg!(feature = "convert"), "convert"),
        (cfg!(feature = "fetch"), "fetch"),
        (cfg!(feature = "eval"), "eval"),
        (cfg!(feature = "training"), "training"),
        (cfg!(feature = "cli"), "cli"),
    ] {
        if enabled {
            features.push(name);
        }
    }
    features
}

/// The directory holding an up-to-date libsegface.so with the C ABI and the JNI shim. `cargo
/// test` builds only the rlib, so the shared library is built here for the same profile, target
/// and features as this test binary, plus `jni` (so no dependency is rebuilt; a no-op when it
/// is fresh). Test binaries live in `<target dir>[/<triple>]/<profile>/deps`.
pub fn shared_library_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let features = library_features();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "--lib", "--no-default-features", "--features", &features.join(",")]);
            build.arg("--manifest-path").arg(repo().join("Cargo.toml"));
            let mut target_dir = profile_dir.parent().unwrap().to_path_buf();
            // A cross build nests the profile under the target triple.
            let triple = target_dir.file_name().unwrap().to_string_lossy().into_owned();
            if triple.matches('-').count() >= 2 {
                build.args(["--target", &triple]);
                target_dir = target_dir.parent().unwrap().to_path_buf();
            }
            build.env("CARGO_TARGET_DIR", target_dir);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("cargo build --lib");
            assert!(status.success(), "cargo build --lib failed");
            assert!(
                profile_dir.join("libsegface.so").is_file(),
                "no libsegface.so in {}",
                profile_dir.display()
            );
            profile_dir
        })
        .clone()
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

pub fn checkpoint_path() -> PathBuf {
    fixtures().join("mobilenet_seed1").join("checkpoint.pt")
}

pub fn astronaut_path() -> PathBuf {
    fixtures().join("images").join("astronaut.png")
}

/// A directory for files a test writes.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reference golden tensors (by default the MobileNet ones at R = 256).
pub struct Golden {
    bytes: Vec<u8>,
}

impl Golden {
    pub fn load() -> Golden {
        Golden::open(&fixtures().join("mobilenet_seed1").join("golden_r256.safetensors"))
    }
    pub fn open(path: &std::path::Path) -> Golden {
        Golden { bytes: std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) }
    }
    fn view(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        let file = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = file.tensor(name).unwrap_or_else(|_| panic!("golden tensor {name}"));
        (t.shape().to_vec(), t.data().to_vec())
    }
    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, raw) = self.view(name);
        (shape, raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    pub fn u8(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        self.view(name)
    }
}

/// The fixture checkpoint converted to ONNX at R = 256 by our converter (once per test binary).
#[cfg(feature = "convert")]
pub fn onnx_256() -> &'static [u8] {
    static ONNX: OnceLock<Vec<u8>> = OnceLock::new();
    ONNX.get_or_init(|| {
        let weights = segface::convert::read_torch_checkpoint(&checkpoint_path()).expect("checkpoint");
        let sha = segface::internals::sha256_hex(&std::fs::read(checkpoint_path()).unwrap());
        export_mobilenet(&weights, &ExportOptions { source_sha256: Some(sha), ..ExportOptions::new(256) })
            .expect("export")
    })
}

#[cfg(feature = "convert")]
pub fn model_256() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load_with(onnx_256(), &LoadOptions::default()).expect("model loads"))
}

/// Writes the R = 256 model to a file and returns its path.
#[cfg(feature = "convert")]
pub fn onnx_256_file(dir: &str) -> PathBuf {
    let path = scratch(dir).join("segface_r256.onnx");
    std::fs::write(&path, onnx_256()).unwrap();
    path
}

pub fn astronaut_rgb() -> image::RgbImage {
    image::open(astronaut_path()).expect("astronaut.png").to_rgb8()
}

/// Fraction of equal entries.
pub fn agreement(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The trained RetinaFace detector in models/ (once per test binary).
pub fn detector() -> &'static segface::FaceDetector {
    use segface::FaceDetector;
    static DETECTOR: OnceLock<FaceDetector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        FaceDetector::load(&repo().join("models/retinaface_mnet.onnx"), FaceDetector::DEFAULT_SIZE).unwrap()
    })
}

/// A public-domain photo of tests/fixtures/images.
pub fn photo(name: &str) -> image::RgbImage {
    image::open(fixtures().join("images").join(name)).unwrap().to_rgb8()
}
