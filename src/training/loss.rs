//! The reference's training loss (spec 7): 0.5 x cross-entropy + 0.5 x Dice.
//!
//! - Cross-entropy: unweighted, mean over every pixel of the batch, no ignored label.
//! - Dice on softmax probabilities against one-hot targets, per class
//!   1 - (2 sum(p g) + eps) / (sum(p^2) + sum(g^2) + eps) with the sums over the whole batch and
//!   all pixels, eps = 1e-5, averaged over all classes (background included).

use burn::tensor::backend::Backend;
use burn::tensor::{activation, Int, Tensor};

pub const DICE_EPS: f64 = 1e-5;

/// (B, C, H, W) one-hot float targets from (B, H, W) class indices.
pub fn one_hot<B: Backend>(labels: Tensor<B, 3, Int>, classes: usize) -> Tensor<B, 4> {
    let planes: Vec<Tensor<B, 3>> =
        (0..classes).map(|c| labels.clone().equal_elem(c as i64).float()).collect();
    Tensor::stack(planes, 1)
}

pub fn cross_entropy<B: Backend>(logits: Tensor<B, 4>, target: Tensor<B, 4>) -> Tensor<B, 1> {
    let [b, _, h, w] = logits.dims();
    let log_p = activation::log_softmax(logits, 1);
    (log_p * target).sum().neg() / (b * h * w) as f64
}

pub fn dice<B: Backend>(logits: Tensor<B, 4>, target: Tensor<B, 4>) -> Tensor<B, 1> {
    let [_, c, _, _] = logits.dims();
    let p = activation::softmax(logits, 1);
    // Per class: sum over batch and pixels, i.e. over every axis but 1.
    let per_class = |t: Tensor<B, 4>| t.swap_dims(0, 1).reshape([c as i32, -1]).sum_dim(1).reshape([c]);
    let overlap = per_class(p.clone() * target.clone());
    let p2 = per_class(p.clone() * p);
    let g2 = per_class(target.clone() * target);
    let score = (overlap * 2.0 + DICE_EPS) / (p2 + g2 + DICE_EPS);
    score.neg().add_scalar(1.0).mean()
}

/// 0.5 cross-entropy + 0.5 Dice of `logits` (B, C, H, W) against `labels` (B, H, W).
pub fn segface_loss<B: Backend>(logits: Tensor<B, 4>, labels: Tensor<B, 3, Int>) -> Tensor<B, 1> {
    let classes = logits.dims()[1];
    let target = one_hot(labels, classes);
    cross_entropy(logits.clone(), target.clone()) * 0.5 + dice(logits, target) * 0.5
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::training::{Cpu, CpuTrain};

    const SHAPE: [usize; 4] = [2, 3, 2, 3];

    fn logits_data() -> Vec<f32> {
        (0..36).map(|i| ((i * 17 % 23) as f32 - 11.0) / 5.0).collect()
    }

    fn labels_data() -> Vec<i64> {
        vec![0, 1, 2, 2, 1, 0, 1, 1, 0, 2, 2, 2]
    }

    /// The loss written out in f64 straight from the definition, as the check.
    fn reference(logits: &[f32], labels: &[i64]) -> f64 {
        let [b, c, h, w] = SHAPE;
        let at = |n: usize, k: usize, p: usize| logits[(n * c + k) * h * w + p] as f64;
        let (mut ce, mut overlap, mut p2, mut g2) = (0.0, vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        for n in 0..b {
            for p in 0..h * w {
                let max = (0..c).map(|k| at(n, k, p)).fold(f64::MIN, f64::max);
                let z: f64 = (0..c).map(|k| (at(n, k, p) - max).exp()).sum();
                let label = labels[n * h * w + p] as usize;
                ce -= at(n, label, p) - max - z.ln();
                for k in 0..c {
                    let prob = (at(n, k, p) - max).exp() / z;
                    let g = if k == label { 1.0 } else { 0.0 };
                    overlap[k] += prob * g;
                    p2[k] += prob * prob;
                    g2[k] += g;
                }
            }
        }
        let dice: f64 =
            (0..c).map(|k| 1.0 - (2.0 * overlap[k] + DICE_EPS) / (p2[k] + g2[k] + DICE_EPS)).sum::<f64>()
                / c as f64;
        0.5 * ce / (b * h * w) as f64 + 0.5 * dice
    }

    fn loss_of(logits: &[f32]) -> f64 {
        let device = Default::default();
        let l = Tensor::<Cpu, 4>::from_data(TensorData::new(logits.to_vec(), SHAPE), &device);
        let y = Tensor::<Cpu, 3, Int>::from_data(TensorData::new(labels_data(), [2, 2, 3]), &device);
        segface_loss(l, y).into_scalar() as f64
    }

    #[test]
    fn loss_equals_its_definition() {
        let ours = loss_of(&logits_data());
        let expected = reference(&logits_data(), &labels_data());
        assert!((ours - expected).abs() < 1e-5, "{ours} vs {expected}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Default::default();
        let data = logits_data();
        let logits =
            Tensor::<CpuTrain, 4>::from_data(TensorData::new(data.clone(), SHAPE), &device).require_grad();
        let labels =
            Tensor::<CpuTrain, 3, Int>::from_data(TensorData::new(labels_data(), [2, 2, 3]), &device);
        let grads = segface_loss(logits.clone(), labels).backward();
        let analytic = logits.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        let h = 1e-3;
        for i in 0..data.len() {
            let (mut up, mut down) = (data.clone(), data.clone());
            up[i] += h;
            down[i] -= h;
            let numeric =
                (reference(&up, &labels_data()) - reference(&down, &labels_data())) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            assert!(
                (a - numeric).abs() <= 1e-4 + 1e-3 * numeric.abs(),
                "logit {i}: autodiff {a}, numeric {numeric}"
            );
        }
    }
}
