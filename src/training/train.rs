//! The training loop (spec 7): AdamW over all parameters (lr 1e-4, weight decay 1e-5, PyTorch's
//! betas and epsilon), MultiStepLR stepped per epoch (milestones [80, 200], gamma 0.1), the
//! 0.5 CE + 0.5 Dice loss, a validation pass with the reference's metrics after every epoch, a
//! CSV and a plot of the history, and a checkpoint that resumes exactly.
//!
//! The checkpoint folder holds `weights.safetensors` (reference key names: `segface convert` turns
//! it into the runtime's model, `segface predict` runs it), burn's records of the model and the
//! optimiser (`model.mpk`, `optimizer.mpk`, which keep the optimiser's moments attached to their
//! parameters), `state.json` (the next epoch) and `history.csv` / `history.png`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ElementConversion;

use super::data::{batch, Batch, Samples};
use super::history::{io, read_history, write_history, EpochRecord};
use super::loss::segface_loss;
use super::model::SegFace;
use super::plot::plot_history;
use crate::error::{Error, ErrorKind, Result};
use crate::eval::metrics::ConfusionMatrix;
use crate::rng::SplitMix64;

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub resolution: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// MultiStepLR milestones (epochs) and factor.
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub seed: u64,
    /// The checkpoint folder.
    pub output: PathBuf,
    /// Continue from the checkpoint in `output` when there is one.
    pub resume: bool,
    /// Print a progress line per batch on stderr.
    pub progress: bool,
    /// Validate after every this many epochs (and after the last).
    pub validate_every: usize,
}

impl TrainOptions {
    /// The reference's recipe at `resolution`, writing to `output`.
    pub fn reference(resolution: usize, output: PathBuf) -> Self {
        TrainOptions {
            resolution,
            batch_size: 32,
            epochs: 300,
            learning_rate: 1e-4,
            weight_decay: 1e-5,
            milestones: vec![80, 200],
            gamma: 0.1,
            seed: 32,
            output,
            resume: false,
            progress: true,
            validate_every: 1,
        }
    }

    /// MultiStepLR: the base rate times gamma for every milestone reached.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let reached = self.milestones.iter().filter(|&&m| epoch >= m).count();
        self.learning_rate * self.gamma.powi(reached as i32)
    }
}

fn record_error<'a>(what: &'a str, path: &'a Path) -> impl Fn(burn::record::RecorderError) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::new(ErrorKind::Io, format!("{what} {}: {e}", path.display()))
}

/// A permutation of `0..n` for this seed (Fisher-Yates over SplitMix64).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// Labels (B, R, R) predicted by `model` for a batch (through its face warps, if any).
pub fn predict_labels<B: Backend>(model: &SegFace<B>, batch: Batch<B>) -> Vec<u8> {
    let labels = model.forward_warped(batch.images, batch.warps.as_ref()).argmax(1);
    labels
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("int labels")
        .into_iter()
        .map(|l| l as u8)
        .collect()
}

/// The reference's confusion matrix of `model` over `samples`.
pub fn evaluate<B: Backend>(
    model: &SegFace<B>,
    samples: &dyn Samples,
    resolution: usize,
    batch_size: usize,
    device: &B::Device,
) -> Result<ConfusionMatrix> {
    let mut confusion = ConfusionMatrix::new(model.num_classes());
    let indices: Vec<usize> = (0..samples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let prepared = chunk.iter().map(|&i| samples.get(i, resolution)).collect::<Result<Vec<_>>>()?;
        let predicted = predict_labels(model, batch::<B>(&prepared, resolution, device)?);
        let truth: Vec<u8> = prepared.iter().flat_map(|p| p.labels.iter().copied()).collect();
        confusion.add(&truth, &predicted)?;
    }
    Ok(confusion)
}

struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn next_epoch(&self) -> Result<Option<usize>> {
        let path = self.path("state.json");
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid_argument(format!("{}: {e}", path.display())))?;
        value["next_epoch"]
            .as_u64()
            .map(|e| Some(e as usize))
            .ok_or_else(|| Error::invalid_argument(format!("{}: no next_epoch", path.display())))
    }
}

/// Trains `model` on `train` (validating on `val` after each epoch when given) and returns it
/// with the full history (including epochs of a resumed run).
pub fn train<B: AutodiffBackend>(
    mut model: SegFace<B>,
    train: &dyn Samples,
    val: Option<&dyn Samples>,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<(SegFace<B>, Vec<EpochRecord>)> {
    if train.is_empty() {
        return Err(Error::invalid_argument("the training set is empty"));
    }
    if options.batch_size == 0 || options.epochs == 0 {
        return Err(Error::invalid_argument("batch size and epochs must be at least 1"));
    }
    std::fs::create_dir_all(&options.output).map_err(io(&options.output))?;
    let checkpoint = Checkpoint { dir: options.output.clone() };
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(options.weight_decay as f32)
        .with_epsilon(1e-8)
        .init::<B, SegFace<B>>();
    let mut history = Vec::new();
    let mut start = 0;
    if options.resume {
        if let Some(next) = checkpoint.next_epoch()? {
            let path = checkpoint.path("model.mpk");
            model = model
                .load_file(&path, &recorder, device)
                .map_err(record_error("cannot resume from", &path))?;
            let path = checkpoint.path("optimizer.mpk");
            let record =
                recorder.load(path.clone(), device).map_err(record_error("cannot resume from", &path))?;
            optimizer = optimizer.load_record(record);
            history = read_history(&checkpoint.path("history.csv"))?;
            history.truncate(next);
            start = next;
        }
    }
    let r = options.resolution;
    for epoch in start..options.epochs {
        let started = Instant::now();
        let lr = options.learning_rate_at(epoch);
        let order = shuffled(train.len(), options.seed.wrapping_add(epoch as u64));
        let batches = order.len().div_ceil(options.batch_size);
        let mut loss_sum = 0.0;
        for (n, chunk) in order.chunks(options.batch_size).enumerate() {
            let prepared =
                chunk.iter().map(|&i| train.get_for_epoch(i, r, epoch)).collect::<Result<Vec<_>>>()?;
            let b = batch::<B>(&prepared, r, device)?;
            let loss = segface_loss(model.forward_warped(b.images, b.warps.as_ref()), b.labels);
            let value = loss.clone().into_scalar().elem::<f64>();
            if !value.is_finite() {
                return Err(Error::new(
                    ErrorKind::Inference,
                    format!("the loss became {value} in epoch {epoch}"),
                ));
            }
            loss_sum += value * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            if options.progress {
                let done = (n + 1) * 30 / batches;
                eprint!(
                    "\repoch {}/{} [{}{}] batch {}/{} loss {value:.4}   ",
                    epoch + 1,
                    options.epochs,
                    "#".repeat(done),
                    ".".repeat(30 - done),
                    n + 1,
                    batches
                );
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let due = (epoch + 1) % options.validate_every.max(1) == 0 || epoch + 1 == options.epochs;
        let scores = match val {
            Some(v) if !v.is_empty() && due => {
                Some(evaluate(&model.valid(), v, r, options.batch_size, device)?.scores())
            }
            _ => None,
        };
        let record = EpochRecord {
            epoch,
            learning_rate: lr,
            train_loss: loss_sum / train.len() as f64,
            val_mean_f1: scores.as_ref().map(|s| s.mean_f1),
            val_mean_iou: scores.as_ref().map(|s| s.mean_iou),
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: train.len() as f64 / train_seconds,
        };
        if options.progress {
            eprintln!(
                "\repoch {}/{}: loss {:.4}, val mean F1 {}, {:.1} images/s{}",
                epoch + 1,
                options.epochs,
                record.train_loss,
                record.val_mean_f1.map_or("-".into(), |f| format!("{:.2}", 100.0 * f)),
                record.images_per_second,
                " ".repeat(20)
            );
        }
        history.push(record);
        save(&model, &optimizer, &recorder, &checkpoint, epoch + 1, &history)?;
    }
    Ok((model, history))
}

fn save<B: AutodiffBackend, O: Optimizer<SegFace<B>, B>>(
    model: &SegFace<B>,
    optimizer: &O,
    recorder: &NamedMpkFileRecorder<FullPrecisionSettings>,
    checkpoint: &Checkpoint,
    next_epoch: usize,
    history: &[EpochRecord],
) -> Result<()> {
    let path = checkpoint.path("model.mpk");
    model.clone().save_file(&path, recorder).map_err(record_error("cannot write", &path))?;
    let path = checkpoint.path("optimizer.mpk");
    recorder.record(optimizer.to_record(), path.clone()).map_err(record_error("cannot write", &path))?;
    let path = checkpoint.path("weights.safetensors");
    std::fs::write(&path, model.weights().to_safetensors_bytes()?).map_err(io(&path))?;
    write_history(&checkpoint.path("history.csv"), history)?;
    plot_history(&checkpoint.path("history.png"), history)?;
    // Written last: a checkpoint is complete once its state says so.
    let path = checkpoint.path("state.json");
    let mut file = std::fs::File::create(&path).map_err(io(&path))?;
    writeln!(file, "{{\"next_epoch\": {next_epoch}}}").map_err(io(&path))
}
