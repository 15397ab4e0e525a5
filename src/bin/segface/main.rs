//! The `segface` command: convert checkpoints, parse images, describe models, benchmark, fetch.

mod alloc_stats;
mod bench;
mod convert;
mod eval;
mod fetch;
mod info;
mod memory;
mod parse;
mod peak;
mod soak;
#[cfg(feature = "training")]
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use segface::convert::WeightStorage;
use segface::{Error, ErrorKind, Face, FaceBox, Landmarks, Precision};

use crate::bench::{bench, model_bytes, BenchExtras};
use crate::parse::{parse, parse_face_box, parse_landmarks, ExtraOutputs, Faces};

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
        dataset: segface::eval::DatasetKind,
        /// The dataset folder: the one holding CelebA-HQ-img (CelebAMask-HQ), LaPa's `LaPa`
        /// folder or Helen's `helen` folder.
        #[arg(long)]
        root: PathBuf,
        /// train, val or test (Helen's val is its test split).
        #[arg(long, default_value = "test")]
        split: segface::eval::Split,
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
        /// Print one JSON object (model, resolution, threads, precision, load_ms,
        /// first_result_ms, median_ms, p90_ms, fps, peak_rss_mb; with --profile, a `profile`
        /// list of {class, nodes, ms, gmac, arithmetic}) instead of text.
        #[arg(long, conflicts_with = "detect")]
        json: bool,
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

/// What a command returns; `main` prints the error with the causes it keeps.
type CliResult<T = ()> = Result<T, Error>;

/// An error in what the command was asked to do (its arguments, the files it was pointed at).
fn usage(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// A failed read or write of `path`, the I/O error kept as the cause.
fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Io, path.display().to_string()).with_source(e)
}

/// An image `path` that could not be decoded or written, the codec's error kept as the cause.
fn image_error(path: &Path) -> impl FnOnce(image::ImageError) -> Error + '_ {
    move |e| Error::new(ErrorKind::InvalidImage, path.display().to_string()).with_source(e)
}

/// The trained RetinaFace detector (MIT, models/LICENSE.retinaface), built into the command.
const BUILT_IN_DETECTOR: &[u8] = include_bytes!("../../../models/retinaface_mnet.onnx");

#[global_allocator]
static ALLOCATOR: alloc_stats::CountingAllocator = alloc_stats::CountingAllocator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert { checkpoint, output, resolution, weights, portable } => {
            convert::convert_file(&checkpoint, &output, resolution, weights, portable)
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
        Command::Info { model } => info::info(&model),
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
        Command::Bench { model, resolution, iters, image, detect, profile, threads, precision, json } => {
            bench(
                model.as_deref(),
                resolution,
                iters,
                image.as_deref(),
                BenchExtras { detect, profile, threads, precision, json },
            )
        }
        Command::Fetch { name, url, sha256, output, weights } => {
            fetch::fetch_model(&name, url, sha256, output, weights)
        }
        Command::Soak { model, resolution, iters, warmup } => {
            model_bytes(model.as_deref(), resolution).and_then(|(onnx, _)| soak::soak(onnx, iters, warmup))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.report());
            ExitCode::FAILURE
        }
    }
}
