//! `segface eval`: a model (or saved predictions) scored on a dataset split with the reference's
//! metrics, counted over the whole split at R x R.

use std::path::{Path, PathBuf};
use std::time::Instant;

use segface::eval::{read_label_png, resize_nearest, Dataset, DatasetKind, Split, HELEN_GROUPS};
use segface::eval::{ConfusionMatrix, Scores};
use segface::{Error, ImageView, Model, Session};

use crate::{file_error, image_error, usage, CliResult};

/// Where the predictions come from.
pub enum Predictor {
    /// Run this model on every prepared image.
    Model(PathBuf),
    /// Read `<id>.png` label maps from this folder, at this resolution.
    Folder(PathBuf, usize),
}

pub struct EvalArgs {
    pub dataset: DatasetKind,
    pub root: PathBuf,
    pub split: Split,
    pub predictor: Predictor,
    pub limit: Option<usize>,
    pub json: Option<PathBuf>,
    pub save_predictions: Option<PathBuf>,
}

fn save_grey(path: &Path, side: usize, data: &[u8]) -> CliResult {
    image::GrayImage::from_raw(side as u32, side as u32, data.to_vec())
        .expect("square label map")
        .save(path)
        .map_err(image_error(path))
}

/// A saved prediction as an R x R label map (nearest-resized if saved at another size).
fn read_prediction(folder: &Path, id: &str, resolution: usize, classes: usize) -> CliResult<Vec<u8>> {
    let path = folder.join(format!("{id}.png"));
    let labels = read_label_png(&path, classes)
        .map_err(|e| Error::new(e.kind(), format!("prediction {}", e.message())).with_source(e))?;
    Ok(resize_nearest(&labels, [0, 0, labels.width, labels.height], resolution))
}

/// What labels each sample: the runtime on the prepared image, or a saved prediction.
enum Labeller {
    Runtime(Box<Session>),
    Saved(PathBuf, usize),
}

impl Labeller {
    fn resolution(&self) -> usize {
        match self {
            Labeller::Runtime(session) => session.model().info().resolution,
            Labeller::Saved(_, r) => *r,
        }
    }
}

pub fn eval(args: EvalArgs) -> CliResult {
    let started = Instant::now();
    if args.dataset == DatasetKind::LaPa && matches!(args.predictor, Predictor::Model(_)) {
        return Err(usage(
            "LaPa models warp each face by its landmarks inside the network (spec section 9), \
                    which the runtime does not do; score LaPa predictions with --predictions",
        ));
    }
    let dataset = Dataset::open(args.dataset, &args.root, args.split)?;
    let classes = dataset.classes();
    let mut labeller = match &args.predictor {
        Predictor::Model(path) => {
            let model = Model::load(path)?;
            if model.info().classes.len() != classes.len() {
                return Err(usage(format!(
                    "{} predicts {} classes, {} has {}",
                    path.display(),
                    model.info().classes.len(),
                    dataset_name(args.dataset),
                    classes.len()
                )));
            }
            Labeller::Runtime(Box::new(model.session()?))
        }
        Predictor::Folder(dir, r) => Labeller::Saved(dir.clone(), *r),
    };
    let resolution = labeller.resolution();
    if let Some(dir) = &args.save_predictions {
        std::fs::create_dir_all(dir).map_err(file_error(dir))?;
    }
    let samples = &dataset.samples()[..args.limit.unwrap_or(usize::MAX).min(dataset.samples().len())];
    if samples.is_empty() {
        return Err(usage(format!(
            "the {} split at {} has no samples",
            dataset.split.name(),
            args.root.display()
        )));
    }
    let mut confusion = ConfusionMatrix::new(classes.len());
    for (n, sample) in samples.iter().enumerate() {
        let prepared = dataset.prepare(sample, resolution)?;
        let predicted = match &mut labeller {
            Labeller::Saved(dir, _) => read_prediction(dir, &sample.id, resolution, classes.len())?,
            Labeller::Runtime(session) => {
                let side = resolution as u32;
                let view = ImageView::rgb(&prepared.rgb, side, side)?;
                session.parse(&view)?.labels
            }
        };
        if let Some(dir) = &args.save_predictions {
            save_grey(&dir.join(format!("{}.png", sample.id)), resolution, &predicted)?;
        }
        confusion
            .add(&prepared.labels, &predicted)
            .map_err(|e| Error::new(e.kind(), format!("sample {}", sample.id)).with_source(e))?;
        if (n + 1) % 100 == 0 {
            eprintln!("{} / {} samples", n + 1, samples.len());
        }
    }
    let scores = confusion.scores();
    print_table(classes, &scores);
    let groups: Vec<(&str, Option<f64>)> = if args.dataset == DatasetKind::Helen {
        HELEN_GROUPS.iter().map(|(name, members)| (*name, confusion.group_f1(members))).collect()
    } else {
        Vec::new()
    };
    for (name, f1) in &groups {
        println!("{name:<12} F1 {}", percent(*f1));
    }
    println!(
        "{} samples of {} {} at {resolution} x {resolution} in {:.1} s",
        samples.len(),
        dataset_name(args.dataset),
        dataset.split.name(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        let report = json_report(&args, resolution, samples.len(), classes, &scores, &groups, &confusion);
        std::fs::write(path, serde_json::to_string_pretty(&report).expect("json"))
            .map_err(file_error(path))?;
    }
    Ok(())
}

fn dataset_name(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::CelebAMaskHq => "CelebAMask-HQ",
        DatasetKind::LaPa => "LaPa",
        DatasetKind::Helen => "Helen",
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "   -  ".to_string(), |v| format!("{:6.2}", 100.0 * v))
}

fn print_table(classes: &[&str], scores: &Scores) {
    println!("{:>3} {:<12} {:>6} {:>6} {:>12} {:>12}", "", "class", "F1", "IoU", "truth px", "predicted px");
    for (i, (name, s)) in classes.iter().zip(&scores.per_class).enumerate() {
        println!(
            "{i:>3} {name:<12} {} {} {:>12} {:>12}",
            percent(s.f1),
            percent(s.iou),
            s.truth_pixels,
            s.predicted_pixels
        );
    }
    println!("mean F1 (without background) {}", percent(Some(scores.mean_f1)));
    println!("mean IoU (with background)   {}", percent(Some(scores.mean_iou)));
    println!("pixel accuracy               {}", percent(Some(scores.pixel_accuracy)));
    println!("mean class accuracy          {}", percent(Some(scores.mean_class_accuracy)));
}

fn json_report(
    args: &EvalArgs,
    resolution: usize,
    samples: usize,
    classes: &[&str],
    scores: &Scores,
    groups: &[(&str, Option<f64>)],
    confusion: &ConfusionMatrix,
) -> serde_json::Value {
    let per_class: Vec<serde_json::Value> = classes
        .iter()
        .zip(&scores.per_class)
        .map(|(name, s)| {
            serde_json::json!({
                "name": name, "f1": s.f1, "iou": s.iou, "accuracy": s.accuracy,
                "truth_pixels": s.truth_pixels, "predicted_pixels": s.predicted_pixels,
                "true_positives": s.true_positives,
            })
        })
        .collect();
    let n = confusion.classes();
    let matrix: Vec<Vec<u64>> = (0..n).map(|t| (0..n).map(|p| confusion.count(t, p)).collect()).collect();
    serde_json::json!({
        "dataset": dataset_name(args.dataset),
        "split": args.split.name(),
        "samples": samples,
        "resolution": resolution,
        "mean_f1": scores.mean_f1,
        "mean_iou": scores.mean_iou,
        "pixel_accuracy": scores.pixel_accuracy,
        "mean_class_accuracy": scores.mean_class_accuracy,
        "classes": per_class,
        "groups": groups.iter().map(|(name, f1)| serde_json::json!({"name": name, "f1": f1})).collect::<Vec<_>>(),
        "confusion": matrix,
    })
}
