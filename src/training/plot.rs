//! `history.png`: the training loss (red, scaled to its own range) and the validation mean F1
//! (blue) and mean IoU (green, both on 0..1) per epoch, on a light grid with one vertical line
//! per epoch (up to 50). A picture to glance at; the numbers are in `history.csv`.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::history::EpochRecord;
use crate::error::{Error, ErrorKind, Result};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const MARGIN: u32 = 24;

fn line(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), colour: Rgb<u8>) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        for (dx, dy) in [(0i32, 0i32), (1, 0), (0, 1)] {
            let (px, py) = (x as i32 + dx, y as i32 + dy);
            if px >= 0 && py >= 0 && (px as u32) < WIDTH && (py as u32) < HEIGHT {
                img.put_pixel(px as u32, py as u32, colour);
            }
        }
    }
}

fn series(img: &mut RgbImage, values: &[(usize, f64)], epochs: usize, range: (f64, f64), colour: Rgb<u8>) {
    let (lo, hi) = range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let w = (WIDTH - 2 * MARGIN) as f32;
    let h = (HEIGHT - 2 * MARGIN) as f32;
    let at = |(i, v): (usize, f64)| {
        let x = MARGIN as f32 + w * i as f32 / (epochs.max(2) - 1) as f32;
        let y = (HEIGHT - MARGIN) as f32 - h * ((v - lo) / span) as f32;
        (x, y)
    };
    for pair in values.windows(2) {
        line(img, at(pair[0]), at(pair[1]), colour);
    }
    if let [only] = values {
        let p = at(*only);
        line(img, (p.0 - 3.0, p.1), (p.0 + 3.0, p.1), colour);
    }
}

pub fn plot_history(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    let grey = Rgb([225, 225, 225]);
    for k in 0..=10 {
        let y = (MARGIN + (HEIGHT - 2 * MARGIN) * k / 10) as f32;
        line(&mut img, (MARGIN as f32, y), ((WIDTH - MARGIN) as f32, y), grey);
    }
    let epochs = history.len();
    if epochs <= 50 {
        for i in 0..epochs {
            let x = MARGIN as f32 + (WIDTH - 2 * MARGIN) as f32 * i as f32 / (epochs.max(2) - 1) as f32;
            line(&mut img, (x, MARGIN as f32), (x, (HEIGHT - MARGIN) as f32), grey);
        }
    }
    let axis = Rgb([90, 90, 90]);
    line(
        &mut img,
        (MARGIN as f32, (HEIGHT - MARGIN) as f32),
        ((WIDTH - MARGIN) as f32, (HEIGHT - MARGIN) as f32),
        axis,
    );
    line(&mut img, (MARGIN as f32, MARGIN as f32), (MARGIN as f32, (HEIGHT - MARGIN) as f32), axis);
    let loss: Vec<(usize, f64)> = history.iter().enumerate().map(|(i, r)| (i, r.train_loss)).collect();
    let max_loss = loss.iter().map(|p| p.1).fold(0.0, f64::max);
    series(&mut img, &loss, epochs, (0.0, max_loss), Rgb([210, 40, 40]));
    let f1: Vec<(usize, f64)> =
        history.iter().enumerate().filter_map(|(i, r)| r.val_mean_f1.map(|v| (i, v))).collect();
    series(&mut img, &f1, epochs, (0.0, 1.0), Rgb([40, 70, 210]));
    let iou: Vec<(usize, f64)> =
        history.iter().enumerate().filter_map(|(i, r)| r.val_mean_iou.map(|v| (i, v))).collect();
    series(&mut img, &iou, epochs, (0.0, 1.0), Rgb([30, 150, 60]));
    img.save(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot write {}: {e}", path.display())))
}
