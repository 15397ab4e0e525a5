//! `history.csv`: one line per finished epoch, written after each and read back on resume.

use std::path::Path;

use crate::error::{Error, Result};

/// One line of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub val_mean_f1: Option<f64>,
    pub val_mean_iou: Option<f64>,
    pub seconds: f64,
    pub images_per_second: f64,
}

const HISTORY_HEADER: &str =
    "epoch,learning_rate,train_loss,val_mean_f1,val_mean_iou,seconds,images_per_second";

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path.display(), e)
}

/// Numbers are written in Rust's shortest round-trip form, so a resumed run reads back exactly
/// what it wrote.
fn optional(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut history = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let bad = || Error::invalid_argument(format!("{}: line {} is malformed", path.display(), n + 1));
        if f.len() != 7 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
        let opt = |s: &str| if s.is_empty() { Ok(None) } else { num(s).map(Some) };
        history.push(EpochRecord {
            epoch: f[0].parse().map_err(|_| bad())?,
            learning_rate: num(f[1])?,
            train_loss: num(f[2])?,
            val_mean_f1: opt(f[3])?,
            val_mean_iou: opt(f[4])?,
            seconds: num(f[5])?,
            images_per_second: num(f[6])?,
        });
    }
    Ok(history)
}

pub(crate) fn write_history(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut text = format!("{HISTORY_HEADER}\n");
    for r in history {
        text.push_str(&format!(
            "{},{},{},{},{},{:.3},{:.3}\n",
            r.epoch,
            r.learning_rate,
            r.train_loss,
            optional(r.val_mean_f1),
            optional(r.val_mean_iou),
            r.seconds,
            r.images_per_second
        ));
    }
    std::fs::write(path, text).map_err(io(path))
}
