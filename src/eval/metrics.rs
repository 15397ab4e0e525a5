//! The reference's segmentation metrics (spec section 10): one confusion matrix summed over the
//! whole test set (rows ground truth, columns prediction), and scores from those sums, never
//! averaged per image.
//!
//! - F1 per class = 2 TP / (ground-truth pixels + predicted pixels); **mean F1 leaves out
//!   background** (class 0), as the paper's tables do.
//! - IoU per class = TP / (GT + Pred - TP); **mean IoU includes background**.
//! - Pixel accuracy = trace / total; class accuracy = TP / GT.
//!
//! A class with no pixel in either the ground truth or the predictions has no defined score; it
//! is reported as `None` and left out of the means (the reference's numpy would give NaN there).

use crate::error::{Error, Result};

/// The label the reference's histogram ignores (never present in its datasets).
pub const IGNORE_LABEL: u8 = 255;

/// Dataset-level pixel counts: `count(truth, predicted)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

/// Scores of one class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScore {
    pub truth_pixels: u64,
    pub predicted_pixels: u64,
    pub true_positives: u64,
    pub f1: Option<f64>,
    pub iou: Option<f64>,
    /// TP / ground-truth pixels.
    pub accuracy: Option<f64>,
}

/// Every score the reference logs.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    pub per_class: Vec<ClassScore>,
    /// Mean F1 over classes 1.. (background excluded).
    pub mean_f1: f64,
    /// Mean IoU over all classes (background included).
    pub mean_iou: f64,
    pub pixel_accuracy: f64,
    pub mean_class_accuracy: f64,
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> f64 {
    let defined: Vec<f64> = values.flatten().collect();
    if defined.is_empty() {
        f64::NAN
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    }
}

impl ConfusionMatrix {
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix { classes, counts: vec![0; classes * classes] }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }

    /// Adds one image: `truth` and `predicted` label maps of the same size. Ground-truth pixels of
    /// [`IGNORE_LABEL`] are skipped; any other label outside the classes is an error.
    pub fn add(&mut self, truth: &[u8], predicted: &[u8]) -> Result<()> {
        if truth.len() != predicted.len() {
            return Err(Error::invalid_argument(format!(
                "ground truth has {} pixels, the prediction {}",
                truth.len(),
                predicted.len()
            )));
        }
        let c = self.classes;
        let mut image = vec![0u64; c * c];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t == IGNORE_LABEL {
                continue;
            }
            let (t, p) = (t as usize, p as usize);
            if t >= c || p >= c {
                return Err(Error::invalid_argument(format!(
                    "label {} is not one of the {c} classes",
                    if t >= c { t } else { p }
                )));
            }
            image[t * c + p] += 1;
        }
        // Counted apart first so a failing image leaves the sums untouched.
        for (total, n) in self.counts.iter_mut().zip(image) {
            *total += n;
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<()> {
        if other.classes != self.classes {
            return Err(Error::invalid_argument("confusion matrices of different class counts"));
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    fn truth_pixels(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.count(class, p)).sum()
    }

    fn predicted_pixels(&self, class: usize) -> u64 {
        (0..self.classes).map(|t| self.count(t, class)).sum()
    }

    pub fn scores(&self) -> Scores {
        let per_class: Vec<ClassScore> = (0..self.classes)
            .map(|c| {
                let (truth, predicted, tp) =
                    (self.truth_pixels(c), self.predicted_pixels(c), self.count(c, c));
                ClassScore {
                    truth_pixels: truth,
                    predicted_pixels: predicted,
                    true_positives: tp,
                    f1: ratio(2 * tp, truth + predicted),
                    iou: ratio(tp, truth + predicted - tp),
                    accuracy: ratio(tp, truth),
                }
            })
            .collect();
        let total: u64 = self.counts.iter().sum();
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        Scores {
            mean_f1: mean(per_class.iter().skip(1).map(|s| s.f1)),
            mean_iou: mean(per_class.iter().map(|s| s.iou)),
            pixel_accuracy: ratio(correct, total).unwrap_or(f64::NAN),
            mean_class_accuracy: mean(per_class.iter().map(|s| s.accuracy)),
            per_class,
        }
    }

    /// F1 of a group of classes taken as one (Helen's `eyes`, `brows`, `mouth`, `overall`): a
    /// pixel is a true positive when its ground truth and its prediction are both in the group.
    pub fn group_f1(&self, group: &[usize]) -> Option<f64> {
        let tp: u64 = group
            .iter()
            .flat_map(|&t| group.iter().map(move |&p| (t, p)))
            .map(|(t, p)| self.count(t, p))
            .sum();
        let truth: u64 = group.iter().map(|&c| self.truth_pixels(c)).sum();
        let predicted: u64 = group.iter().map(|&c| self.predicted_pixels(c)).sum();
        ratio(2 * tp, truth + predicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes, 10 pixels, every score worked out by hand:
    /// truth      0 0 0 0 1 1 1 2 2 2
    /// predicted  0 0 1 2 1 1 0 2 2 1
    fn example() -> ConfusionMatrix {
        let mut m = ConfusionMatrix::new(3);
        m.add(&[0, 0, 0, 0, 1, 1, 1, 2, 2, 2], &[0, 0, 1, 2, 1, 1, 0, 2, 2, 1]).unwrap();
        m
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn scores_match_hand_computed_numbers() {
        let s = example().scores();
        // Class 0: TP 2, GT 4, Pred 3. Class 1: TP 2, GT 3, Pred 4. Class 2: TP 2, GT 3, Pred 3.
        let f1 = [4.0 / 7.0, 4.0 / 7.0, 4.0 / 6.0];
        let iou = [2.0 / 5.0, 2.0 / 5.0, 2.0 / 4.0];
        for c in 0..3 {
            close(s.per_class[c].f1.unwrap(), f1[c]);
            close(s.per_class[c].iou.unwrap(), iou[c]);
        }
        close(s.mean_f1, (4.0 / 7.0 + 4.0 / 6.0) / 2.0); // background left out
        close(s.mean_iou, (0.4 + 0.4 + 0.5) / 3.0); // background kept
        close(s.pixel_accuracy, 0.6);
        close(s.mean_class_accuracy, (0.5 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0);
        assert_eq!((s.per_class[1].truth_pixels, s.per_class[1].predicted_pixels), (3, 4));
    }

    #[test]
    fn sums_over_images_not_means_of_per_image_scores() {
        let mut m = ConfusionMatrix::new(2);
        m.add(&[1, 1, 1, 1], &[1, 1, 1, 1]).unwrap(); // per-image F1 of class 1: 1
        m.add(&[1, 0], &[0, 1]).unwrap(); // per-image F1 of class 1: 0
                                          // Dataset-level: TP 4, GT 5, Pred 5 -> 0.8 (a per-image mean would say 0.5).
        close(m.scores().per_class[1].f1.unwrap(), 0.8);
    }

    #[test]
    fn groups_count_confusions_inside_the_group_as_correct() {
        let m = example();
        // Group {1, 2}: TP = (1,1) 2 + (1,2) 0 + (2,1) 1 + (2,2) 2 = 5, GT 3 + 3, Pred 4 + 3.
        close(m.group_f1(&[1, 2]).unwrap(), 10.0 / 13.0);
    }

    #[test]
    fn absent_classes_are_undefined_and_left_out_of_the_means() {
        let mut m = ConfusionMatrix::new(3);
        m.add(&[0, 1, 1], &[0, 1, 0]).unwrap();
        let s = m.scores();
        assert_eq!(s.per_class[2].f1, None);
        close(s.mean_f1, 2.0 / 3.0);
    }

    #[test]
    fn bad_labels_are_errors_and_ignore_label_is_skipped() {
        let mut m = ConfusionMatrix::new(3);
        m.add(&[255, 1], &[0, 1]).unwrap();
        assert_eq!(m.count(1, 1), 1);
        assert_eq!(m.scores().per_class[0].truth_pixels, 0);
        let before = m.clone();
        assert!(m.add(&[0, 3], &[0, 0]).unwrap_err().message().contains("label 3"));
        assert!(m.add(&[0], &[0, 0]).is_err());
        assert_eq!(m, before);
    }
}
