//! The `segface` command: convert checkpoints, parse images, describe models, benchmark, fetch.

mod alloc_stats;
mod eval;
mod peak;
mod soak;
#[cfg(feature = "training")]
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use segface::align::Landmarks;
use segface::detect::FaceDetector;
use segface::export::{export_mobilenet, ExportOptions, WeightStorage};
use segface::frame::{Face, FaceBox, Frame};
use segface::outputs::{ClassSet, ClassSetMask, Outputs, PlaneMut, SoftMasks};
use segface::weights::Weights;
use segface::{
    arch, classes, fetch, postprocess, sha256_hex, ImageView, LabelMap, LoadOptions, Model, Precision,
    Session, VideoOptions, VideoSession,
};

#[derive(Parser)]
#[command(name = "segface", version, about = "SegFace face parsing on CPUs (19 CelebAMask-HQ classes)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a reference checkpoint (model_299.pt or .safetensors) into an ONNX model.
    Convert {
        checkpoint: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Input resolution R (multiple of 32).
        #[arg(long, default_value_t = 512)]
        resolution: usize,
        /// How to store the weights: f32 (exact), f16 (half the size) or int8 (per-channel
        /// symmetric, a quarter). The runtime widens them to float32 at load: same speed.
        #[arg(long, default_value = "f32")]
        weights: WeightStorage,
        /// Standard ONNX operators only, for other runtimes (ONNX Runtime, ...). Without it the
        /// fusion, the attention cores and the decoder's tail are segface operators that only
        /// segface's runtime reads (faster, less memory, the same function).
        #[arg(long)]
        portable: bool,
    },
    /// Parse a face image into a label map (8-bit PNG, pixel value = class index).
    Parse {
        image: PathBuf,
        /// ONNX model; defaults to the one installed by `segface fetch mobilenet-celeba-512`.
        #[arg(short, long)]
        model: Option<PathBuf>,
        #[arg(short, long)]
        output: PathBuf,
        /// Also write a colour overlay of the classes on the image.
        #[arg(long)]
        overlay: Option<PathBuf>,
        /// Print a JSON summary (per-class pixel counts) instead of a table.
        #[arg(long)]
        json: bool,
        /// Where the face is in the photo, `x,y,width,height` in pixels: the model sees that box
        /// and the labels come back into the photo's own size (background outside the box).
        /// Without it the whole photo is the face crop.
        #[arg(long = "box", value_name = "X,Y,W,H", value_parser = parse_face_box, conflicts_with_all = ["detect", "landmarks"])]
        face_box: Option<FaceBox>,
        /// The face's 5 landmarks in pixels (left eye, right eye, nose tip, left and right mouth
        /// corners as seen in the photo): the model sees a square crop turned so the eyes are
        /// level, like its training images, and the labels come back into the photo.
        #[arg(long, value_name = "X1,Y1,...,X5,Y5", value_parser = parse_landmarks, conflicts_with = "detect")]
        landmarks: Option<Landmarks>,
        /// Find every face with the built-in detector (RetinaFace) and parse each one; the labels
        /// of all faces come back in one map of the photo's size.
        #[arg(long)]
        detect: bool,
        /// With --detect: place each face by its detected landmarks (turned upright) rather than
        /// by the square around its box.
        #[arg(long, requires = "detect")]
        align: bool,
        /// Write an 8-bit mask of the --mask-classes (255 inside, 0 outside; see --soft).
        #[arg(long, requires = "mask_classes")]
        mask: Option<PathBuf>,
        /// Classes of --mask, by name or index, comma-separated (e.g. `hair` or `l_lip,u_lip,mouth`).
        #[arg(long, value_name = "NAMES", requires = "mask")]
        mask_classes: Option<String>,
        /// Make --mask soft: the classes' summed probability x 255, for blending.
        #[arg(long, requires = "mask")]
        soft: bool,
        /// Write each class's probability (x 255) as an 8-bit PNG `<index>_<name>.png` in this
        /// folder.
        #[arg(long, value_name = "DIR")]
        probabilities: Option<PathBuf>,
        /// A RetinaFace ONNX model to detect with instead of the built-in one.
        #[arg(long, requires = "detect")]
        detector: Option<PathBuf>,
        /// Lowest detection score kept.
        #[arg(long, default_value_t = 0.7, requires = "detect")]
        min_score: f32,
    },
    /// Score a model, or saved predictions, on a dataset split with the reference's metrics
    /// (per-class F1 and IoU from pixel counts summed over the split, mean F1 without background,
    /// mean IoU with it), at the model's resolution.
    Eval {
        /// celebamask-hq, lapa or helen.
        #[arg(long)]
        dataset: segface::datasets::DatasetKind,
        /// The dataset folder: the one holding CelebA-HQ-img (CelebAMask-HQ), LaPa's `LaPa`
        /// folder or Helen's `helen` folder.
        #[arg(long)]
        root: PathBuf,
        /// train, val or test (Helen's val is its test split).
        #[arg(long, default_value = "test")]
        split: segface::datasets::Split,
        /// ONNX model to run on every image.
        #[arg(short, long, required_unless_present = "predictions", conflicts_with = "predictions")]
        model: Option<PathBuf>,
        /// Score label PNGs `<id>.png` from this folder instead of running a model.
        #[arg(long, requires = "resolution")]
        predictions: Option<PathBuf>,
        /// With --predictions: the resolution R to score at.
        #[arg(long)]
        resolution: Option<usize>,
        /// Score only the first N samples of the split.
        #[arg(long)]
        limit: Option<usize>,
        /// Write every score and the confusion matrix as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write each prediction as `<id>.png` (R x R) into this folder.
        #[arg(long)]
        save_predictions: Option<PathBuf>,
    },
    /// Train or fine-tune SegFace (the `training` feature): AdamW, MultiStepLR, 0.5 CE + 0.5
    /// Dice, validation with the reference's metrics, resumable checkpoints.
    #[cfg(feature = "training")]
    Train(train::TrainArgs),
    /// Label an image with the training model (any checkpoint), in the runtime's encoding.
    #[cfg(feature = "training")]
    Predict(train::PredictArgs),
    /// Describe a model: classes, resolution, normalisation, variant, hashes.
    Info { model: PathBuf },
    /// Measure load time, latency, FPS and peak memory.
    Bench {
        /// ONNX model; without it, the MobileNetV3 architecture with seeded weights is built in
        /// memory (speed does not depend on weight values).
        #[arg(short, long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 512)]
        resolution: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// Image to parse (default: a synthetic 640x480 frame).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Also time the built-in face detector (input 640 and 320) and a video session that
        /// detects on one frame in 5.
        #[arg(long)]
        detect: bool,
        /// Also time every node of the plan and print the time per operator class and the
        /// slowest nodes.
        #[arg(long)]
        profile: bool,
        /// Threads each parse runs on (1: the calling thread only).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Arithmetic of tract's operators: f32, or f16 on CPUs with native f16 (ARMv8.2-A).
        #[arg(long, default_value = "f32")]
        precision: Precision,
    },
    /// Parse many frames in one process through the C ABI and report whether memory stays flat.
    Soak {
        /// ONNX model; without it, the MobileNetV3 architecture with seeded weights.
        #[arg(short, long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 128)]
        resolution: usize,
        #[arg(long, default_value_t = 5000)]
        iters: usize,
        /// Parses before the baseline is taken.
        #[arg(long, default_value_t = 300)]
        warmup: usize,
    },
    /// Download a published checkpoint, verify, convert and install it.
    Fetch {
        /// Name from the manifest, e.g. mobilenet-celeba-512.
        name: String,
        /// Download from this address instead of the manifest's (a mirror or local server).
        #[arg(long)]
        url: Option<String>,
        /// Expected SHA-256 of the download (overrides the manifest's pin).
        #[arg(long)]
        sha256: Option<String>,
        /// Install the converted model here instead of the default location.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// How to store the weights (f32, f16 or int8), as for `convert`.
        #[arg(long, default_value = "f32")]
        weights: WeightStorage,
    },
}

type CliResult = Result<(), String>;

#[global_allocator]
static ALLOCATOR: alloc_stats::CountingAllocator = alloc_stats::CountingAllocator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert { checkpoint, output, resolution, weights, portable } => {
            convert_file(&checkpoint, &output, resolution, weights, portable)
        }
        Command::Parse {
            image,
            model,
            output,
            overlay,
            json,
            face_box,
            landmarks,
            detect,
            align,
            mask,
            mask_classes,
            soft,
            probabilities,
            detector,
            min_score,
        } => {
            let faces = match (face_box, landmarks, detect) {
                (Some(face), _, _) => Faces::Given(Face::Box(face)),
                (_, Some(points), _) => Faces::Given(Face::Landmarks(points)),
                (None, None, true) => Faces::Detect { detector, min_score, align },
                (None, None, false) => Faces::WholeImage,
            };
            let extra = ExtraOutputs { mask, mask_classes, soft, probabilities };
            parse(&image, model, &output, overlay.as_deref(), json, faces, extra)
        }
        Command::Info { model } => info(&model),
        #[cfg(feature = "training")]
        Command::Train(args) => train::train_command(args),
        #[cfg(feature = "training")]
        Command::Predict(args) => train::predict_command(args),
        Command::Eval {
            dataset,
            root,
            split,
            model,
            predictions,
            resolution,
            limit,
            json,
            save_predictions,
        } => {
            let predictor = match (model, predictions, resolution) {
                (Some(model), _, _) => eval::Predictor::Model(model),
                (None, Some(folder), Some(r)) => eval::Predictor::Folder(folder, r),
                _ => unreachable!("clap requires a model or predictions with a resolution"),
            };
            eval::eval(eval::EvalArgs { dataset, root, split, predictor, limit, json, save_predictions })
        }
        Command::Bench { model, resolution, iters, image, detect, profile, threads, precision } => bench(
            model.as_deref(),
            resolution,
            iters,
            image.as_deref(),
            BenchExtras { detect, profile, threads, precision },
        ),
        Command::Fetch { name, url, sha256, output, weights } => {
            fetch_model(&name, url, sha256, output, weights)
        }
        Command::Soak { model, resolution, iters, warmup } => {
            model_bytes(model.as_deref(), resolution).and_then(|(onnx, _)| soak::soak(onnx, iters, warmup))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The trained RetinaFace detector (MIT, models/LICENSE.retinaface), built into the command.
const BUILT_IN_DETECTOR: &[u8] = include_bytes!("../../../models/retinaface_mnet.onnx");

/// Which part of the photo is parsed.
enum Faces {
    WholeImage,
    Given(Face),
    Detect { detector: Option<PathBuf>, min_score: f32, align: bool },
}

/// Masks written beside the label map.
struct ExtraOutputs {
    mask: Option<PathBuf>,
    mask_classes: Option<String>,
    soft: bool,
    probabilities: Option<PathBuf>,
}

/// Ten comma-separated numbers: the 5 landmarks' x, y.
fn parse_landmarks(text: &str) -> Result<Landmarks, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| format!("`{v}` is not a number")))
        .collect::<Result<_, _>>()?;
    if values.len() != 10 {
        return Err(format!("expected 10 numbers (5 points x, y), got {}", values.len()));
    }
    Ok(std::array::from_fn(|i| [values[2 * i], values[2 * i + 1]]))
}

/// Class names or indices, comma-separated, as a set of the model's classes.
fn class_set(text: &str, names: &[String]) -> Result<ClassSet, String> {
    let indices = text.split(',').map(str::trim).map(|item| {
        names
            .iter()
            .position(|n| n == item)
            .or_else(|| item.parse::<usize>().ok().filter(|&i| i < names.len()))
            .ok_or_else(|| format!("`{item}` is not a class of this model ({})", names.join(", ")))
    });
    ClassSet::of(indices.collect::<Result<Vec<_>, _>>()?).map_err(err)
}

/// `x,y,width,height` in pixels.
fn parse_face_box(text: &str) -> Result<FaceBox, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| format!("`{v}` is not a number")))
        .collect::<Result<_, _>>()?;
    match values.as_slice() {
        &[x, y, width, height] => Ok(FaceBox { x, y, width, height }),
        _ => Err(format!("expected x,y,width,height, got `{text}`")),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Reads a checkpoint in the reference's torch format or as safetensors.
fn read_weights(path: &Path) -> Result<Weights, String> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    if is_safetensors {
        Weights::from_safetensors_file(path).map_err(err)
    } else {
        segface::checkpoint::read_torch_checkpoint(path).map_err(err)
    }
}

fn convert_file(
    checkpoint: &Path,
    output: &Path,
    resolution: usize,
    storage: WeightStorage,
    portable: bool,
) -> CliResult {
    let started = Instant::now();
    eprintln!("reading {}", checkpoint.display());
    let bytes = std::fs::read(checkpoint).map_err(|e| format!("{}: {e}", checkpoint.display()))?;
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
    let onnx = export_mobilenet(&weights, &options).map_err(err)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(output, &onnx).map_err(|e| format!("{}: {e}", output.display()))?;
    // The hash travels with the model (`sha256sum -c` format); Model::load checks it.
    let mut sidecar = output.as_os_str().to_owned();
    sidecar.push(".sha256");
    let file_name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    std::fs::write(&sidecar, format!("{}  {file_name}\n", sha256_hex(&onnx)))
        .map_err(|e| format!("{}: {e}", Path::new(&sidecar).display()))?;
    eprintln!(
        "wrote {} and its .sha256 ({:.1} MB, source sha256 {source_sha256}) in {:.1} s",
        output.display(),
        onnx.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn default_model() -> Result<PathBuf, String> {
    let path = fetch::installed_path("mobilenet-celeba-512");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no model given and none installed at {}: run `segface fetch mobilenet-celeba-512`, or `segface convert model_299.pt -o model.onnx` and pass `-m model.onnx`",
            path.display()
        ))
    }
}

fn load_rgb(path: &Path) -> Result<image::RgbImage, String> {
    let img = image::open(path).map_err(|e| format!("cannot decode {}: {e}", path.display()))?;
    Ok(img.to_rgb8())
}

fn parse(
    image_path: &Path,
    model: Option<PathBuf>,
    output: &Path,
    overlay: Option<&Path>,
    json: bool,
    faces: Faces,
    extra: ExtraOutputs,
) -> CliResult {
    let model_path = match model {
        Some(m) => m,
        None => default_model()?,
    };
    let model = Model::load(&model_path).map_err(err)?;
    let rgb = load_rgb(image_path)?;
    let (w, h) = rgb.dimensions();
    let view = ImageView::rgb(rgb.as_raw(), w, h).map_err(err)?;
    let mut session = model.session().map_err(err)?;
    let started = Instant::now();
    let frame = Frame::Packed(view);
    let mut detected = Vec::new();
    let faces: Vec<Face> = match faces {
        Faces::WholeImage => Vec::new(),
        Faces::Given(face) => vec![face],
        Faces::Detect { detector, min_score, align } => {
            let detector = match detector {
                Some(path) => FaceDetector::load(path, FaceDetector::DEFAULT_SIZE),
                None => FaceDetector::from_bytes(BUILT_IN_DETECTOR, FaceDetector::DEFAULT_SIZE),
            }
            .map_err(err)?;
            detected = detector.detect(&frame, Default::default(), min_score).map_err(err)?;
            eprintln!("found {} face(s)", detected.len());
            detected
                .iter()
                .map(|d| if align { Face::Landmarks(d.landmarks) } else { Face::Box(d.segface_crop()) })
                .collect()
        }
    };
    let names = &model.info().classes;
    let plane = w as usize * h as usize;
    let mut labels = vec![0u8; plane];
    let mut mask = vec![0u8; if extra.mask.is_some() { plane } else { 0 }];
    let mut probabilities = vec![0u8; if extra.probabilities.is_some() { plane * names.len() } else { 0 }];
    let all_classes = ClassSet::of(0..names.len()).map_err(err)?;
    let mut outputs = Outputs {
        labels: Some(PlaneMut { data: &mut labels, stride: w as usize }),
        soft_masks: extra.probabilities.is_some().then(|| SoftMasks {
            classes: all_classes,
            data: &mut probabilities,
            stride: w as usize,
            plane_stride: plane,
        }),
        class_set: match &extra.mask_classes {
            Some(text) if extra.mask.is_some() => Some(ClassSetMask {
                classes: class_set(text, names)?,
                soft: extra.soft,
                data: &mut mask,
                stride: w as usize,
            }),
            _ => None,
        },
    };
    session.parse_frame(&frame, Default::default(), &faces, &mut outputs).map_err(err)?;
    let save_grey = |path: &Path, data: &[u8]| {
        image::GrayImage::from_raw(w, h, data.to_vec())
            .expect("plane size")
            .save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &extra.mask {
        save_grey(path, &mask)?;
    }
    if let Some(dir) = &extra.probabilities {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (i, (name, plane)) in names.iter().zip(probabilities.chunks_exact(plane)).enumerate() {
            save_grey(&dir.join(format!("{i:02}_{name}.png")), plane)?;
        }
    }
    let labels = LabelMap { width: w, height: h, labels };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    image::GrayImage::from_raw(w, h, labels.labels.clone())
        .expect("label map size")
        .save(output)
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    if let Some(path) = overlay {
        let blended = postprocess::overlay(rgb.as_raw(), &labels.labels);
        image::RgbImage::from_raw(w, h, blended)
            .expect("overlay size")
            .save(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let counts = postprocess::class_counts(&labels.labels, names.len());
    let total = (w as u64 * h as u64) as f64;
    if json {
        let classes: Vec<serde_json::Value> = names
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(i, (name, &n))| {
                serde_json::json!({"index": i, "name": name, "pixels": n, "fraction": n as f64 / total})
            })
            .collect();
        let summary = serde_json::json!({
            "image": image_path.display().to_string(),
            "width": w, "height": h,
            "model": model_path.display().to_string(),
            "resolution": model.info().resolution,
            "elapsed_ms": elapsed_ms,
            "classes": classes,
            "faces": detected.iter().map(|f| serde_json::json!({
                "score": f.score,
                "box": [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height],
                "landmarks": f.landmarks,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&summary).map_err(err)?);
    } else {
        println!("{} ({w}x{h}) parsed in {elapsed_ms:.0} ms", image_path.display());
        for (i, (name, &n)) in names.iter().zip(&counts).enumerate() {
            if n > 0 {
                println!("{i:>3} {name:<12} {n:>9} px {:>6.2} %", 100.0 * n as f64 / total);
            }
        }
    }
    Ok(())
}

fn info(path: &Path) -> CliResult {
    let started = Instant::now();
    let model = Model::load(path).map_err(err)?;
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
            classes::CELEBA_DESCRIPTIONS.get(i).filter(|_| info.classes.len() == 19).copied().unwrap_or("");
        println!("  {i:>3} {name:<12} {description}");
    }
    Ok(())
}

/// Peak resident memory of this process in MB (Linux), if known.
fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

fn current_rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

/// A memory figure from /proc/self/status (Linux and Android), in MB.
fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// A deterministic 640x480 test frame (smooth colour gradients).
fn synthetic_frame() -> image::RgbImage {
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) / 5) as u8]))
}

/// The model to run: a file, or the MobileNetV3 architecture with seeded weights exported in
/// memory (speed and memory do not depend on weight values). Also says which it is.
fn model_bytes(model_path: Option<&Path>, resolution: usize) -> Result<(Vec<u8>, String), String> {
    Ok(match model_path {
        Some(path) => {
            (std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?, path.display().to_string())
        }
        None => {
            let started = Instant::now();
            let weights = Weights::seeded(&arch::mobilenet_keys(arch::CELEBA_NUM_CLASSES), 1);
            let onnx = export_mobilenet(&weights, &ExportOptions::new(resolution)).map_err(err)?;
            let source = format!(
                "MobileNetV3 SegFace, seeded weights (exported in memory in {:.0} ms)",
                started.elapsed().as_secs_f64() * 1e3
            );
            (onnx, source)
        }
    })
}

fn bench(
    model_path: Option<&Path>,
    resolution: usize,
    iters: usize,
    image_path: Option<&Path>,
    extras: BenchExtras,
) -> CliResult {
    let iters = iters.max(1);
    let (onnx, source) = model_bytes(model_path, resolution)?;
    let started = Instant::now();
    let options = LoadOptions { precision: extras.precision, ..LoadOptions::default() };
    let model = Model::from_bytes_with(&onnx, &options).map_err(err)?;
    drop(onnx);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_loaded = current_rss_mb();
    let peak_loaded = peak_rss_mb();
    let frame = match image_path {
        Some(p) => load_rgb(p)?,
        None => synthetic_frame(),
    };
    let (w, h) = frame.dimensions();
    let view = ImageView::rgb(frame.as_raw(), w, h).map_err(err)?;
    let mut session = model.session().map_err(err)?;
    session.set_threads(extras.threads).map_err(err)?;
    let mut labels = vec![0u8; (w * h) as usize];
    let first = Instant::now();
    session.parse_into(&view, &mut labels, w as usize).map_err(err)?;
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    let rss_first = current_rss_mb();
    let mut times = Vec::with_capacity(iters);
    let (allocs_before, bytes_before) = alloc_stats::snapshot();
    let live_before = alloc_stats::live_bytes();
    alloc_stats::take_peak_live();
    for _ in 0..iters {
        let t = Instant::now();
        session.parse_into(&view, &mut labels, w as usize).map_err(err)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (allocs_after, bytes_after) = alloc_stats::snapshot();
    let parse_peak_live = alloc_stats::take_peak_live();
    times.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&times, 0.5);
    println!("model:              {source}");
    println!(
        "resolution:         {0}x{0}, frame {w}x{h}, {1} thread(s), {2}",
        model.info().resolution,
        extras.threads,
        model.info().precision.name()
    );
    println!("load:               {load_ms:.0} ms (load to first result {:.0} ms)", load_ms + first_ms);
    println!("latency median:     {median:.1} ms over {iters} runs");
    println!("latency p90:        {:.1} ms", percentile(&times, 0.9));
    println!("fps (median):       {:.2}", 1000.0 / median);
    println!(
        "allocated per parse: {:.1} MB in {} allocations (after warm-up)",
        (bytes_after - bytes_before) as f64 / iters as f64 / 1e6,
        (allocs_after - allocs_before) / iters as u64
    );
    println!(
        "live heap in a parse: {:.0} MB at most ({:.0} MB before it: the model and the session)",
        parse_peak_live as f64 / 1e6,
        live_before as f64 / 1e6
    );
    let planned = segface::profile::planned_memory(session.model()).map_err(err)?;
    println!(
        "planned intermediates: {:.0} MB at once (tract's own order: {:.0} MB)",
        planned.peak_bytes as f64 / 1e6,
        planned.tract_order_peak_bytes as f64 / 1e6
    );
    bench_frame_path(&mut session, &view, iters, median)?;
    if extras.detect {
        bench_detection(&model, &view, iters, median)?;
    }
    if extras.profile {
        print_profile(&session.profile(&view, iters).map_err(err)?, extras.threads);
    }
    match (peak_rss_mb(), peak_loaded, rss_loaded, rss_first) {
        (Some(peak), Some(peak_loaded), Some(loaded), Some(first)) => println!(
            "peak memory (RSS):  {peak:.0} MB (by the end of load {peak_loaded:.0} MB; after load {loaded:.0} MB, \
             after the first parse {first:.0} MB)"
        ),
        _ => println!("peak memory (RSS):  unknown on this platform"),
    }
    Ok(())
}

/// What `bench` measures besides the parse.
struct BenchExtras {
    detect: bool,
    profile: bool,
    threads: usize,
    precision: Precision,
}

fn print_profile(profile: &segface::profile::Profile, threads: usize) {
    // Against the peak of all the threads the session runs on.
    let peak = peak::f32_peak_gflops().map(|p| p * threads as f64);
    let of_peak = |gflops: f64| match peak {
        Some(p) if gflops > 0.0 => format!("{:>5.1} %", 100.0 * gflops / p),
        _ => format!("{:>7}", "-"),
    };
    match peak {
        Some(p) => println!("f32 peak (measured on one thread, times {threads} thread(s)): {p:.1} GFLOP/s"),
        None => println!("f32 peak: not measured on this CPU"),
    }
    println!(
        "profile (mean per run by operator class on {threads} thread(s); GMAC from tract's cost model):"
    );
    println!(
        "  {:<34} {:>5} {:>9} {:>6} {:>7} {:>8} {:>7}",
        "class", "nodes", "ms", "time", "GMAC", "GFLOP/s", "peak"
    );
    for c in &profile.classes {
        println!(
            "  {:<34} {:>5} {:>9.1} {:>5.1}% {:>7.3} {:>8.1} {}",
            c.op,
            c.nodes,
            c.ms,
            100.0 * c.ms / profile.total_ms,
            c.macs as f64 / 1e9,
            c.gflops(),
            of_peak(c.gflops())
        );
    }
    let macs: u64 = profile.classes.iter().map(|c| c.macs).sum();
    let total = segface::profile::OpClassTime { op: "total".into(), nodes: 0, ms: profile.total_ms, macs };
    println!(
        "  {:<34} {:>5} {:>9.1} {:>6} {:>7.3} {:>8.1} {}",
        "total",
        "",
        total.ms,
        "",
        macs as f64 / 1e9,
        total.gflops(),
        of_peak(total.gflops())
    );
    println!("slowest nodes:");
    for n in profile
        .nodes
        .iter()
        .take(std::env::var("SEGFACE_PROFILE_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(24))
    {
        println!(
            "  {:<36} {:<14} {:>7.1} ms {:>6.3} GMAC  {}",
            n.name,
            n.op,
            n.ms,
            n.macs as f64 / 1e9,
            n.inputs
        );
    }
}

/// Median milliseconds of `run` over `iters` calls, after one warm-up call.
fn median_ms(iters: usize, mut run: impl FnMut() -> CliResult) -> Result<f64, String> {
    run()?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(percentile(&times, 0.5))
}

/// The camera apps' path on the same pixels: `parse_frame` with the whole frame as the face, its
/// labels mapped back through the general box mapping (`scores_in_box`) rather than the image
/// path's whole-image resampling.
fn bench_frame_path(session: &mut Session, view: &ImageView, iters: usize, parse_ms: f64) -> CliResult {
    let frame = Frame::Packed(*view);
    let w = view.width() as usize;
    let mut labels = vec![0u8; w * view.height() as usize];
    let ms = median_ms(iters, || {
        session.parse_frame_into(&frame, &Default::default(), &mut labels, w).map_err(err)
    })?;
    println!(
        "frame path median:  {ms:.1} ms ({:.2}x the image path; parse_frame, whole frame)",
        ms / parse_ms
    );
    Ok(())
}

/// The detector at two input sizes and a video session, each against the parse median.
fn bench_detection(model: &Model, view: &ImageView, iters: usize, parse_ms: f64) -> CliResult {
    let frame = Frame::Packed(*view);
    let mut detector640 = None;
    for size in [640, 320] {
        let detector = FaceDetector::from_bytes(BUILT_IN_DETECTOR, size).map_err(err)?;
        let mut faces = 0;
        let ms = median_ms(iters, || {
            faces = detector.detect(&frame, Default::default(), 0.7).map_err(err)?.len();
            Ok(())
        })?;
        println!(
            "detect {size}x{size}:     {ms:.1} ms median ({:.2}x a parse), {faces} face(s)",
            ms / parse_ms
        );
        detector640.get_or_insert(detector);
    }
    let options = VideoOptions { detect_every: 5, ..Default::default() };
    let mut video = VideoSession::new(model, detector640, options).map_err(err)?;
    let w = view.width() as usize;
    let mut labels = vec![0u8; w * view.height() as usize];
    // Whole frames of 5 (one detection each), so the median is over the same mix every time.
    let ms = median_ms(iters, || {
        for _ in 0..5 {
            let mut outputs =
                Outputs { labels: Some(PlaneMut { data: &mut labels, stride: w }), ..Default::default() };
            video.parse(&frame, Default::default(), None, &mut outputs).map_err(err)?;
        }
        Ok(())
    })? / 5.0;
    let faces = video.faces().count();
    println!(
        "video frame:        {ms:.1} ms median (detect 1 in 5, smoothing 0.5; {faces} face(s) parsed per frame)",
    );
    Ok(())
}

fn fetch_model(
    name: &str,
    url: Option<String>,
    sha256: Option<String>,
    output: Option<PathBuf>,
    storage: WeightStorage,
) -> CliResult {
    let entry = fetch::manifest_entry(name).map_err(err)?;
    let url = url.unwrap_or(entry.url.clone());
    let expected = sha256.or(entry.sha256.clone());
    let output = output.unwrap_or_else(|| fetch::installed_path(name));
    let checkpoint = output.with_extension("pt");
    eprintln!("{}", entry.note);
    eprintln!("downloading {url} (about {:.0} MB)", entry.approx_size_bytes as f64 / 1e6);
    let mut last_percent = u64::MAX;
    let digest = fetch::download(&url, &checkpoint, expected.as_deref(), |received, total| {
        let total = total.unwrap_or(entry.approx_size_bytes).max(1);
        let percent = (received * 100 / total).min(100);
        if percent / 10 != last_percent / 10 {
            eprintln!("  {percent:>3} % ({:.1} MB)", received as f64 / 1e6);
            last_percent = percent;
        }
    })
    .map_err(|e| {
        format!(
            "{e}\nIf you obtained model_299.pt another way, convert it with:\n  segface convert model_299.pt -o {} --resolution {}",
            output.display(),
            entry.resolution
        )
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
