//! Input-independent parts of the model, computed once at export in float32 with the reference's
//! operation order: the positional encoding, the bilinear upsampling matrices and block 0's
//! self-attention over the class tokens.

use crate::convert::arch::NUM_HEADS;
#[cfg(test)]
use crate::convert::arch::{EMBED_DIM, PE_FREQUENCIES};

/// A row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Mat {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(rows * cols, data.len());
        Mat { rows, cols, data }
    }
    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// `self @ weight^T + bias` with a torch Linear weight of shape (out, in).
    pub fn linear(&self, weight: &[f32], bias: &[f32]) -> Mat {
        let out = bias.len();
        assert_eq!(weight.len(), out * self.cols);
        let mut data = Vec::with_capacity(self.rows * out);
        for r in 0..self.rows {
            let x = self.row(r);
            for o in 0..out {
                let w = &weight[o * self.cols..(o + 1) * self.cols];
                let dot: f32 = x.iter().zip(w).map(|(a, b)| a * b).sum();
                data.push(dot + bias[o]);
            }
        }
        Mat::new(self.rows, out, data)
    }
    /// LayerNorm over each row (biased variance).
    pub fn layer_norm(&self, weight: &[f32], bias: &[f32], eps: f32) -> Mat {
        let n = self.cols as f32;
        let mut data = Vec::with_capacity(self.data.len());
        for r in 0..self.rows {
            let x = self.row(r);
            let mean = x.iter().sum::<f32>() / n;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + eps).sqrt();
            data.extend(x.iter().enumerate().map(|(c, v)| (v - mean) * inv * weight[c] + bias[c]));
        }
        Mat::new(self.rows, self.cols, data)
    }
}

/// Multi-head attention among a few rows (used for the constant block-0 self-attention).
/// `proj` holds the (weight, bias) of q, k, v and out projections.
pub fn attention(q_in: &Mat, k_in: &Mat, v_in: &Mat, proj: [(&[f32], &[f32]); 4]) -> Mat {
    let q = q_in.linear(proj[0].0, proj[0].1);
    let k = k_in.linear(proj[1].0, proj[1].1);
    let v = v_in.linear(proj[2].0, proj[2].1);
    let internal = q.cols;
    let head_dim = internal / NUM_HEADS;
    let scale = (head_dim as f32).sqrt();
    let mut merged = vec![0f32; q.rows * internal];
    for h in 0..NUM_HEADS {
        let cols = h * head_dim..(h + 1) * head_dim;
        for i in 0..q.rows {
            let qi = &q.row(i)[cols.clone()];
            let logits: Vec<f32> = (0..k.rows)
                .map(|j| qi.iter().zip(&k.row(j)[cols.clone()]).map(|(a, b)| a * b).sum::<f32>() / scale)
                .collect();
            let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let total: f32 = exp.iter().sum();
            for (j, e) in exp.iter().enumerate() {
                let p = e / total;
                for (d, c) in cols.clone().enumerate() {
                    merged[i * internal + h * head_dim + d] += p * v.data[j * internal + c];
                }
            }
        }
    }
    Mat::new(q.rows, internal, merged).linear(proj[3].0, proj[3].1)
}

/// SAM's random-Fourier positional encoding on an `h x w` grid, computed directly (the export
/// emits it as a subgraph; this is the formula the tests hold it to), flattened row-major to
/// (h*w, 256): channels [sin(phi_0..127), cos(phi_0..127)], phi = 2 pi (u G0 + v G1) with
/// u from the column and v from the row, at cell centres mapped to [-1, 1].
#[cfg(test)]
pub fn positional_encoding(gaussian: &[f32], h: usize, w: usize) -> Mat {
    assert_eq!(gaussian.len(), 2 * PE_FREQUENCIES);
    let two_pi = 2.0 * std::f32::consts::PI;
    let mut data = Vec::with_capacity(h * w * EMBED_DIM);
    let mut phi = vec![0f32; PE_FREQUENCIES];
    for i in 0..h {
        let v = 2.0 * ((i as f32 + 0.5) / h as f32) - 1.0;
        for j in 0..w {
            let u = 2.0 * ((j as f32 + 0.5) / w as f32) - 1.0;
            for (k, p) in phi.iter_mut().enumerate() {
                *p = two_pi * (u * gaussian[k] + v * gaussian[PE_FREQUENCIES + k]);
            }
            data.extend(phi.iter().map(|p| p.sin()));
            data.extend(phi.iter().map(|p| p.cos()));
        }
    }
    Mat::new(h * w, EMBED_DIM, data)
}

/// The (out, in) matrix of 1-D bilinear resampling with half-pixel centres (see `bilinear`).
/// Each row sums to one.
pub fn bilinear_matrix(input: usize, output: usize) -> Mat {
    Mat::new(output, input, crate::ops::kernels::bilinear::bilinear_matrix(input, output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_rows_sum_to_one_and_identity_at_same_size() {
        let m = bilinear_matrix(4, 16);
        for r in 0..16 {
            let s: f32 = m.row(r).iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        // First output pixel sits before the first input centre: clamped to input 0.
        assert_eq!(m.row(0), &[1.0, 0.0, 0.0, 0.0]);
        let id = bilinear_matrix(5, 5);
        for r in 0..5 {
            for c in 0..5 {
                assert_eq!(id.data[r * 5 + c], if r == c { 1.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn bilinear_doubling_weights() {
        // 2x upsampling: output 1 sits at src 0.25 -> weights 0.75 / 0.25.
        let m = bilinear_matrix(2, 4);
        assert_eq!(m.row(1), &[0.75, 0.25]);
        assert_eq!(m.row(2), &[0.25, 0.75]);
        assert_eq!(m.row(3), &[0.0, 1.0]);
    }
}
