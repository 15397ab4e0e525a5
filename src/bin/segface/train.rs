//! `segface train` and `segface predict` (the `training` feature): the full model in burn, on
//! the CPU or, built with the `cuda` feature, an NVIDIA GPU.

use std::path::{Path, PathBuf};

use burn::tensor::backend::{AutodiffBackend, Backend};
use clap::{Args, ValueEnum};
use segface::convert::arch::swin::SwinConfig;
use segface::convert::arch::{CELEBA_NUM_CLASSES, FACE_PARTS_NUM_CLASSES};
use segface::eval::{Dataset, DatasetKind, Split};
use segface::training::augment::RandomAffine;
use segface::training::data::{Limited, Samples};
use segface::training::model::Architecture;
use segface::training::predict::{model_from_weights, predict_image_aligned};
use segface::training::synthetic::SyntheticFaces;
use segface::training::train::{train, TrainOptions};
use segface::training::SegFace;
use segface::FaceDetector;
use segface::Frame;

use segface::convert::read_weights;
use segface::Error;

use crate::{file_error, image_error, usage, CliResult, BUILT_IN_DETECTOR};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backbone {
    /// MobileNetV3-Large (the edge model; 7.0 M parameters).
    Mobilenetv3,
    /// Swin v1 (Swin-B unless --swin-config says otherwise; 91.0 M parameters).
    #[value(name = "swin-b", alias = "swin")]
    SwinB,
}

/// The model `--backbone` and `--swin-config` describe.
fn architecture(backbone: Backbone, swin_config: Option<&Path>) -> CliResult<Architecture> {
    match (backbone, swin_config) {
        (Backbone::Mobilenetv3, None) => Ok(Architecture::MobileNetV3),
        (Backbone::Mobilenetv3, Some(_)) => Err(usage("--swin-config needs --backbone swin-b")),
        (Backbone::SwinB, None) => Ok(Architecture::Swin(SwinConfig::swin_b())),
        (Backbone::SwinB, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(file_error(path))?;
            let config = SwinConfig::from_json(&text)
                .map_err(|e| Error::new(e.kind(), path.display().to_string()).with_source(e))?;
            Ok(Architecture::Swin(config))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainData {
    CelebamaskHq,
    Lapa,
    Helen,
    /// Drawn faces (no dataset needed): for smoke tests and timing.
    Synthetic,
}

/// `cpu`, or `cuda` / `cuda:N` with the `cuda` feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

pub fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("device `{s}`: use cpu, cuda or cuda:N")),
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    dataset: TrainData,
    /// The dataset folder (as for `eval`); not needed for `synthetic`.
    #[arg(long, required_if_eq_any = [("dataset", "celebamask-hq"), ("dataset", "lapa"), ("dataset", "helen")])]
    root: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "mobilenetv3")]
    backbone: Backbone,
    /// A Swin configuration in torchvision's keywords (JSON: patch_size, embed_dim, depths,
    /// num_heads, window_size, stochastic_depth_prob) instead of Swin-B's.
    #[arg(long)]
    swin_config: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    resolution: usize,
    /// Images per step (the reference: 32 over 8 GPUs).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// AdamW (decoupled) weight decay.
    #[arg(long, default_value_t = 1e-5)]
    weight_decay: f64,
    /// MultiStepLR milestones in epochs.
    #[arg(long, value_delimiter = ',', default_value = "80,200")]
    milestones: Vec<usize>,
    #[arg(long, default_value_t = 0.1)]
    gamma: f64,
    #[arg(long, default_value_t = 32)]
    seed: u64,
    /// Checkpoint folder: weights.safetensors, model.mpk, optimizer.mpk, state.json,
    /// history.csv, history.png.
    #[arg(short, long)]
    output: PathBuf,
    /// Continue from the checkpoint in --output.
    #[arg(long)]
    resume: bool,
    /// Start from these weights (a published model_299.pt or a weights.safetensors): fine-tuning.
    #[arg(long, conflicts_with = "backbone_weights")]
    init: Option<PathBuf>,
    /// torchvision ImageNet weights for the backbone (mobilenet_v3_large-8738ca79.pth or
    /// swin_b-68c6b09e.pth), as the reference pretrains; the head starts random.
    #[arg(long)]
    backbone_weights: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: Device,
    /// Use only the first N training (and validation) samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Number of drawn faces for --dataset synthetic.
    #[arg(long, default_value_t = 64)]
    samples: usize,
    /// Train LaPa without its random affine augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Validate after every this many epochs.
    #[arg(long, default_value_t = 1)]
    validate_every: usize,
}

#[derive(Args)]
pub struct PredictArgs {
    /// The image to label.
    image: PathBuf,
    /// Model weights: a reference checkpoint (model_299.pt) or a weights.safetensors.
    #[arg(long)]
    weights: PathBuf,
    /// The backbone the weights must have (read off the weights when left out).
    #[arg(long, value_enum)]
    backbone: Option<Backbone>,
    /// The Swin configuration the weights must have (read off the weights when left out).
    #[arg(long, requires = "backbone")]
    swin_config: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    resolution: usize,
    /// The label PNG (8-bit, value = class index, at the image's size: the runtime's encoding).
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: Device,
    /// LaPa models: align the face by its 5 landmarks (the tanh warp the LaPa model was trained
    /// with), found by the built-in face detector (the best face) unless --face-points gives them.
    #[arg(long)]
    lapa_align: bool,
    /// The 5 landmarks for --lapa-align, in image pixels: left eye, right eye, nose tip, left and
    /// right mouth corners (as seen in the image), as x1,y1,...,x5,y5.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, requires = "lapa_align")]
    face_points: Option<Vec<f32>>,
}

/// The 5 face landmarks `predict --lapa-align` warps by.
fn face_points(args: &PredictArgs, rgb: &image::RgbImage) -> CliResult<Option<[[f32; 2]; 5]>> {
    if !args.lapa_align {
        return Ok(None);
    }
    if let Some(v) = &args.face_points {
        if v.len() != 10 {
            return Err(usage(format!("--face-points takes 10 numbers (5 x, y pairs), got {}", v.len())));
        }
        return Ok(Some(std::array::from_fn(|i| [v[2 * i], v[2 * i + 1]])));
    }
    let view = segface::ImageView::rgb(rgb.as_raw(), rgb.width(), rgb.height())?;
    let detector = FaceDetector::load(BUILT_IN_DETECTOR, FaceDetector::DEFAULT_SIZE)?;
    let faces = detector.detect(&Frame::Packed(view), Default::default(), 0.5)?;
    let best = faces
        .first()
        .ok_or_else(|| usage("--lapa-align: no face found (give its landmarks with --face-points)"))?;
    eprintln!("aligning by the detected face (score {:.2})", best.score);
    Ok(Some(best.landmarks))
}

/// The training samples, the validation samples and the number of classes of the head.
type Splits = (Box<dyn Samples>, Option<Box<dyn Samples>>, usize);

fn datasets(args: &TrainArgs) -> CliResult<Splits> {
    let (kind, classes) = match args.dataset {
        TrainData::Synthetic => {
            let train = SyntheticFaces { count: args.samples, seed: args.seed };
            let val = SyntheticFaces { count: (args.samples / 8).max(1), seed: args.seed ^ 0xABCD };
            return Ok((Box::new(train), Some(Box::new(val)), CELEBA_NUM_CLASSES));
        }
        TrainData::CelebamaskHq => (DatasetKind::CelebAMaskHq, CELEBA_NUM_CLASSES),
        TrainData::Helen => (DatasetKind::Helen, FACE_PARTS_NUM_CLASSES),
        TrainData::Lapa => (DatasetKind::LaPa, FACE_PARTS_NUM_CLASSES),
    };
    let root = args.root.as_deref().expect("clap requires --root for real datasets");
    let train = Dataset::open(kind, root, Split::Train)?;
    let val = Dataset::open(kind, root, Split::Val)?;
    eprintln!("{} training and {} validation images", train.samples().len(), val.samples().len());
    Ok((Box::new(train), Some(Box::new(val)), classes))
}

fn run<B: AutodiffBackend>(args: &TrainArgs, device: B::Device) -> CliResult {
    let architecture = architecture(args.backbone, args.swin_config.as_deref())?;
    segface::convert::check_resolution(args.resolution)?;
    let (train_set, val_set, classes) = datasets(args)?;
    B::seed(&device, args.seed);
    let mut model = SegFace::<B>::new(&architecture, classes, &device);
    if let Some(path) = &args.init {
        model.load_weights(&read_weights(path)?, &device)?;
    }
    if let Some(path) = &args.backbone_weights {
        model.load_imagenet_backbone(&read_weights(path)?, &device)?;
    }
    let limit = args.limit.unwrap_or(usize::MAX);
    let train_set = Limited(train_set.as_ref(), limit);
    // LaPa trains on randomly rotated, scaled and shifted faces, as the reference does.
    let augmented = RandomAffine { samples: &train_set, seed: args.seed };
    let train_set: &dyn Samples =
        if args.dataset == TrainData::Lapa && !args.no_augment { &augmented } else { &train_set };
    let val_set = val_set.as_ref().map(|v| Limited(v.as_ref(), limit));
    let options = TrainOptions {
        batch_size: args.batch_size,
        epochs: args.epochs,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        milestones: args.milestones.clone(),
        gamma: args.gamma,
        seed: args.seed,
        resume: args.resume,
        validate_every: args.validate_every,
        ..TrainOptions::reference(args.resolution, args.output.clone())
    };
    let (_, history) =
        train(model, train_set, val_set.as_ref().map(|v| v as &dyn Samples), &options, &device)?;
    if let Some(last) = history.last() {
        println!(
            "{} epochs; last: loss {:.4}, {:.1} images/s, validation mean F1 {}",
            history.len(),
            last.train_loss,
            last.images_per_second,
            last.val_mean_f1.map_or("-".into(), |f| format!("{:.2}", 100.0 * f))
        );
    }
    println!("weights: {}", args.output.join("weights.safetensors").display());
    Ok(())
}

fn predict<B: Backend>(args: &PredictArgs, device: B::Device) -> CliResult {
    segface::convert::check_resolution(args.resolution)?;
    let weights = read_weights(&args.weights)?;
    if let Some(backbone) = args.backbone {
        let expected = architecture(backbone, args.swin_config.as_deref())?;
        let found = Architecture::of_weights(&weights)?;
        if !expected.same_network(&found) {
            return Err(usage(format!(
                "{} holds {found:?}, not the {expected:?} asked for",
                args.weights.display()
            )));
        }
    }
    let model = model_from_weights::<B>(&weights, &device)?;
    let rgb = image::open(&args.image).map_err(image_error(&args.image))?.to_rgb8();
    let (w, h) = (rgb.width(), rgb.height());
    let points = face_points(args, &rgb)?;
    let labels = predict_image_aligned(
        &model,
        rgb.as_raw(),
        w as usize,
        h as usize,
        args.resolution,
        points,
        &device,
    )?;
    image::GrayImage::from_raw(w, h, labels)
        .expect("label map size")
        .save(&args.output)
        .map_err(image_error(&args.output))?;
    println!("wrote {} ({w} x {h})", args.output.display());
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn no_cuda() -> CliResult {
    Err(usage("this segface was built without the `cuda` feature: build with `--features cuda`"))
}

pub fn train_command(args: TrainArgs) -> CliResult {
    match args.device {
        Device::Cpu => run::<segface::training::CpuTrain>(&args, Default::default()),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => run::<burn::backend::Autodiff<burn::backend::Cuda>>(
            &args,
            burn::backend::cuda::CudaDevice::new(n),
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_cuda(),
    }
}

pub fn predict_command(args: PredictArgs) -> CliResult {
    match args.device {
        Device::Cpu => predict::<segface::training::Cpu>(&args, Default::default()),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => predict::<burn::backend::Cuda>(&args, burn::backend::cuda::CudaDevice::new(n)),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => no_cuda(),
    }
}
