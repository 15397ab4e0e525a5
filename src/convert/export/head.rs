//! Everything after the backbone: MLP fusion, the two-way transformer, the upscaler and the
//! hypernetwork head, emitted for a fixed resolution.
//!
//! Two exact rewrites make the graph cheaper than the reference's while computing the same
//! function (up to float rounding):
//! - Fusion: `linear_c.i` and the matching 256-column slice of `linear_fuse` are both linear and
//!   commute with bilinear upsampling (whose weights sum to one, so biases pass through), so
//!   their product runs at each tap's own resolution and only 256 channels are upsampled.
//!   Upsampling is two small matrix products (columns, then rows) instead of a Resize op, or
//!   segface's `UpsampleSum` in the runtime graph.
//! - Constants: block 0's self-attention + norm1 (which only see the class tokens) are computed
//!   at export; the positional encoding is a small constant subgraph in the portable graph, and
//!   computed from its Gaussian matrix by segface's cross-attention operators in the runtime
//!   graph (never stored: 16 MB at R = 512).
//!
//! The runtime graph also keeps the image tokens channels last from the fusion on (the fusion's
//! products take NHWC taps, `UpsampleSum` and `UpscaleHead` read and write that layout), so that
//! nothing between the fusion and the tail transposes them.

use crate::convert::arch::{self, DEPTH, EMBED_DIM, LN2D_EPS, LN_EPS, NUM_HEADS};
use crate::convert::export::constants::{self, Mat};
use crate::convert::export::graph::GraphBuilder;
use crate::convert::weights::Weights;
use crate::error::Result;

struct Head<'a> {
    g: &'a mut GraphBuilder,
    w: &'a Weights,
    /// Whether segface's own operators may be used (`Tail::Fused`).
    fused: bool,
}

impl Head<'_> {
    fn constant_of(&mut self, key: &str) -> Result<String> {
        let t = self.w.get(key)?;
        Ok(self.g.constant(key, &t.shape, &t.data))
    }

    /// A ConvTranspose kernel, (in, out, kh, kw): its output channels are axis 1.
    fn conv_transpose_weight(&mut self, key: &str) -> Result<String> {
        let t = self.w.get(key)?;
        Ok(self.g.weight(key, &t.shape, &t.data, 1))
    }

    /// A torch Linear `prefix`'s W^T (in, out) and bias, as graph constants.
    fn linear_weights(&mut self, prefix: &str) -> Result<(String, String)> {
        let w = self.w.get(&format!("{prefix}.weight"))?;
        let (out, inp) = (w.shape[0], w.shape[1]);
        let wt = self.g.weight(&format!("{prefix}.wT"), &[inp, out], &transposed(&w.data, out, inp), 1);
        Ok((wt, self.constant_of(&format!("{prefix}.bias"))?))
    }

    /// `x @ W^T + b` for a torch Linear `prefix` on rank-2 `x`.
    fn linear(&mut self, prefix: &str, x: &str) -> Result<String> {
        let (wt, b) = self.linear_weights(prefix)?;
        let y = self.g.matmul(x, &wt);
        Ok(self.g.add(&y, &b))
    }

    /// The post-norm `prefix` of `x + residual` (one pass over the rows in the runtime graph).
    fn residual_norm(&mut self, prefix: &str, x: &str, residual: &str) -> Result<String> {
        let scale = self.constant_of(&format!("{prefix}.weight"))?;
        let bias = self.constant_of(&format!("{prefix}.bias"))?;
        if self.fused {
            return Ok(self.g.segface_residual_layer_norm(x, residual, &scale, &bias, LN_EPS));
        }
        let sum = self.g.add(x, residual);
        Ok(self.g.layer_norm(&sum, &scale, &bias, LN_EPS))
    }

    /// The image tokens `keys` as the cross-attentions read them.
    fn image<'k>(&mut self, keys: &'k str, encoding: &'k KeyEncoding) -> Image<'k> {
        match encoding {
            KeyEncoding::Computed { gaussian, side } => Image::Encoded { keys, gaussian, side: *side },
            KeyEncoding::Stored(pe) => Image::Plain { keys, with_encoding: self.g.add(keys, pe) },
        }
    }

    /// The class tokens' attention over the image, `q_pe` (M, 256) attending to `image`: in the
    /// runtime graph segface's operator, which projects the image's keys and values a block at a
    /// time instead of storing them.
    fn token_to_image(
        &mut self,
        prefix: &str,
        q_pe: &str,
        image: &Image,
        rows: (usize, usize),
    ) -> Result<String> {
        match image {
            Image::Encoded { keys, gaussian, side } => {
                let q = self.linear(&format!("{prefix}.q_proj"), q_pe)?;
                let (wk, bk) = self.linear_weights(&format!("{prefix}.k_proj"))?;
                let (wv, bv) = self.linear_weights(&format!("{prefix}.v_proj"))?;
                let inputs = [q.as_str(), keys, &wk, &bk, &wv, &bv, gaussian];
                let out = self.g.segface_token_to_image(&inputs, *side, NUM_HEADS);
                self.linear(&format!("{prefix}.out_proj"), &out)
            }
            Image::Plain { keys, with_encoding } => self.attention(prefix, q_pe, with_encoding, keys, rows),
        }
    }

    /// The image's attention over the class tokens (`q_pe` their keys, `queries` their values)
    /// and the post-norm `norm` of its residual sum: the new image tokens. In the runtime graph
    /// segface's operator does it a block of image tokens at a time.
    fn image_to_token(
        &mut self,
        prefix: &str,
        norm: &str,
        image: &Image,
        q_pe: &str,
        queries: &str,
        rows: (usize, usize),
    ) -> Result<String> {
        match image {
            Image::Encoded { keys, gaussian, side } => {
                let k = self.linear(&format!("{prefix}.k_proj"), q_pe)?;
                let v = self.linear(&format!("{prefix}.v_proj"), queries)?;
                let (wq, bq) = self.linear_weights(&format!("{prefix}.q_proj"))?;
                let (wo, bo) = self.linear_weights(&format!("{prefix}.out_proj"))?;
                let scale = self.constant_of(&format!("{norm}.weight"))?;
                let bias = self.constant_of(&format!("{norm}.bias"))?;
                let inputs = [*keys, &k, &v, &wq, &bq, &wo, &bo, &scale, &bias, gaussian];
                Ok(self.g.segface_image_to_token(&inputs, *side, NUM_HEADS, LN_EPS))
            }
            Image::Plain { keys, with_encoding } => {
                let attended = self.attention(prefix, with_encoding, q_pe, queries, rows)?;
                self.residual_norm(norm, keys, &attended)
            }
        }
    }

    /// SAM attention: project, split into 8 heads, softmax(q k^T / sqrt(head_dim)) v, merge,
    /// project out. `q`, `k`, `v` are rank-2 (rows, 256).
    fn attention(&mut self, prefix: &str, q: &str, k: &str, v: &str, rows: (usize, usize)) -> Result<String> {
        let internal = self.w.get(&format!("{prefix}.q_proj.weight"))?.shape[0];
        let head_dim = internal / NUM_HEADS;
        let (nq, nk) = rows;
        let q = self.linear(&format!("{prefix}.q_proj"), q)?;
        let k = self.linear(&format!("{prefix}.k_proj"), k)?;
        let v = self.linear(&format!("{prefix}.v_proj"), v)?;
        if self.fused {
            let out = self.g.attention_core(&q, &k, &v, NUM_HEADS);
            return self.linear(&format!("{prefix}.out_proj"), &out);
        }
        let q = self.g.reshape(&q, &[nq, NUM_HEADS, head_dim]);
        let q = self.g.transpose(&q, &[1, 0, 2]);
        let k = self.g.reshape(&k, &[nk, NUM_HEADS, head_dim]);
        let k = self.g.transpose(&k, &[1, 2, 0]);
        let v = self.g.reshape(&v, &[nk, NUM_HEADS, head_dim]);
        let v = self.g.transpose(&v, &[1, 0, 2]);
        let logits = self.g.matmul(&q, &k);
        let scale = self.g.scalar("sqrt_head_dim", (head_dim as f32).sqrt());
        let logits = self.g.div(&logits, &scale);
        let probs = self.g.softmax_last_axis(&logits);
        let out = self.g.matmul(&probs, &v);
        let out = self.g.transpose(&out, &[1, 0, 2]);
        let out = self.g.reshape(&out, &[nq, internal]);
        self.linear(&format!("{prefix}.out_proj"), &out)
    }

    fn mlp(&mut self, prefix: &str, x: &str) -> Result<String> {
        let h = self.linear(&format!("{prefix}.lin1"), x)?;
        let h = self.g.relu(&h);
        self.linear(&format!("{prefix}.lin2"), &h)
    }

    /// Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)).
    fn gelu(&mut self, x: &str) -> String {
        let inv_sqrt2 = self.g.scalar("inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2);
        let half = self.g.scalar("half", 0.5);
        let one = self.g.scalar("one", 1.0);
        let scaled = self.g.mul(x, &inv_sqrt2);
        let erf = self.g.op("Erf", &[&scaled], vec![]);
        let erf1 = self.g.add(&erf, &one);
        let xh = self.g.mul(x, &half);
        self.g.mul(&xh, &erf1)
    }

    /// Per-pixel LayerNorm over channels of an NCHW map (LayerNorm2d, biased variance).
    fn layer_norm_2d(&mut self, prefix: &str, x: &str, channels: usize) -> Result<String> {
        let mean = self.g.reduce_mean_axis1(x);
        let centred = self.g.sub(x, &mean);
        let squared = self.g.mul(&centred, &centred);
        let var = self.g.reduce_mean_axis1(&squared);
        let eps = self.g.scalar("ln2d_eps", LN2D_EPS);
        let var = self.g.add(&var, &eps);
        let std = self.g.op("Sqrt", &[&var], vec![]);
        let normed = self.g.div(&centred, &std);
        let w = self.w.get(&format!("{prefix}.weight"))?.data.clone();
        let b = self.w.get(&format!("{prefix}.bias"))?.data.clone();
        let w = self.g.constant(&format!("{prefix}.w"), &[1, channels, 1, 1], &w);
        let b = self.g.constant(&format!("{prefix}.b"), &[1, channels, 1, 1], &b);
        let scaled = self.g.mul(&normed, &w);
        Ok(self.g.add(&scaled, &b))
    }
}

/// The (cols, rows) transpose of a row-major (rows, cols) matrix.
fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Fused `linear_c.i` then its `linear_fuse` slice: a (256, C_i) 1x1 conv with bias.
fn fused_projection(w: &Weights, tap: usize) -> Result<(Vec<f32>, Vec<f32>, usize)> {
    let wc = w.get(&format!("linear_c.{tap}.proj.weight"))?;
    let bc = &w.get(&format!("linear_c.{tap}.proj.bias"))?.data;
    let fuse = w.get("linear_fuse.weight")?;
    let in_ch = wc.shape[1];
    let fuse_in = fuse.shape[1];
    // The concatenation is [tap3, tap2, tap1, tap0]: tap i feeds input slot 3 - i.
    let slot = (3 - tap) * EMBED_DIM;
    let mut weight = vec![0f32; EMBED_DIM * in_ch];
    let mut bias = vec![0f32; EMBED_DIM];
    for o in 0..EMBED_DIM {
        let f = &fuse.data[o * fuse_in + slot..o * fuse_in + slot + EMBED_DIM];
        for c in 0..in_ch {
            let mut acc = 0f64;
            for (m, fm) in f.iter().enumerate() {
                acc += *fm as f64 * wc.data[m * in_ch + c] as f64;
            }
            weight[o * in_ch + c] = acc as f32;
        }
        bias[o] = f.iter().zip(bc).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32;
    }
    Ok((weight, bias, in_ch))
}

/// Bilinear upsampling of (1, 256, s, s) to (1, 256, h0, h0) as two exact matrix products with
/// the interpolation matrix (columns, then rows), in standard ONNX.
fn upsample_by_matrices(g: &mut GraphBuilder, y: &str, index: usize, size: usize, h0: usize) -> String {
    let up = constants::bilinear_matrix(size, h0);
    let mut up_t = vec![0f32; up.data.len()];
    for r in 0..h0 {
        for c in 0..size {
            up_t[c * h0 + r] = up.data[r * size + c];
        }
    }
    let cols = g.constant(&format!("upsample{index}.cols"), &[size, h0], &up_t);
    let rows = g.constant(&format!("upsample{index}.rows"), &[h0, size], &up.data);
    let y = g.matmul(y, &cols);
    g.matmul(&rows, &y)
}

/// The class tokens T0, (num_classes, 256), in output-channel order.
fn class_tokens(w: &Weights, num_classes: usize) -> Result<Mat> {
    let mut data = Vec::with_capacity(num_classes * EMBED_DIM);
    for name in arch::token_names(num_classes) {
        data.extend_from_slice(&w.get(&arch::token_key(&name))?.data);
    }
    Ok(Mat::new(num_classes, EMBED_DIM, data))
}

fn projections<'w>(w: &'w Weights, prefix: &str) -> Result<[(&'w [f32], &'w [f32]); 4]> {
    let get = |p: &str| -> Result<(&'w [f32], &'w [f32])> {
        Ok((
            w.get(&format!("{prefix}.{p}.weight"))?.data.as_slice(),
            w.get(&format!("{prefix}.{p}.bias"))?.data.as_slice(),
        ))
    };
    Ok([get("q_proj")?, get("k_proj")?, get("v_proj")?, get("out_proj")?])
}

/// How the image tokens' positional encoding P reaches the keys.
enum KeyEncoding {
    /// Computed where it is needed by segface's cross-attention operators, from the (2, F)
    /// Gaussian matrix (this initializer's name), on a `side x side` grid.
    Computed { gaussian: String, side: usize },
    /// P, an (N, 256) value of the graph, added to the image tokens.
    Stored(String),
}

/// The image tokens as a block's cross-attentions read them.
enum Image<'k> {
    /// The tokens, and what segface's operators compute their encoding from.
    Encoded { keys: &'k str, gaussian: &'k str, side: usize },
    /// The tokens, and the tokens plus their encoding.
    Plain { keys: &'k str, with_encoding: String },
}

/// The (N, 256) positional encoding as a small constant subgraph rather than N x 256 stored
/// floats: phases = grid @ G, with the grid's cell centres in [-1, 1] already
/// multiplied by 2 pi, then [sin, cos]. The runtime evaluates it once at load
/// (`stored_constants`); other runtimes fold it as any constant subgraph.
fn positional_encoding(g: &mut GraphBuilder, w: &Weights, side: usize) -> Result<String> {
    let gaussian = w.get("pe_layer.positional_encoding_gaussian_matrix")?;
    let two_pi = 2.0 * std::f32::consts::PI;
    let centre = |i: usize| two_pi * (2.0 * ((i as f32 + 0.5) / side as f32) - 1.0);
    let mut grid = Vec::with_capacity(side * side * 2);
    for row in 0..side {
        for col in 0..side {
            grid.extend([centre(col), centre(row)]);
        }
    }
    let grid = g.constant("pe_grid", &[side * side, 2], &grid);
    let gaussian = g.constant("pe_gaussian", &gaussian.shape, &gaussian.data);
    let phases = g.matmul(&grid, &gaussian);
    let sin = g.op("Sin", &[&phases], vec![]);
    let cos = g.op("Cos", &[&phases], vec![]);
    Ok(g.concat(&[&sin, &cos], 1))
}

/// How the head is written: with segface's own operators or standard ONNX only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// segface's own operators (`crate::ops`): the tail as one, each attention's core and the
    /// fusion's upsampled sum; fast, read by segface's runtime only.
    Fused,
    /// Standard ONNX layers, for any runtime.
    Portable,
}

/// A 2x2 stride-2 ConvTranspose kernel (in, out, 2, 2) as the (in, 4 * out) matrix the fused
/// tail multiplies by: column `(2 dy + dx) * out + o` holds weight [., o, dy, dx].
fn conv_transpose_matrix(w: &Weights, key: &str) -> Result<(Vec<f32>, [usize; 2])> {
    let t = w.get(key)?;
    let (inp, out) = (t.shape[0], t.shape[1]);
    let mut m = vec![0f32; inp * 4 * out];
    for c in 0..inp {
        for o in 0..out {
            for s in 0..4 {
                m[c * 4 * out + s * out + o] = t.data[(c * out + o) * 4 + s];
            }
        }
    }
    Ok((m, [inp, 4 * out]))
}

/// Emits the head on the four taps; the output (1, num_classes, R, R) is named `output`.
pub fn segface_head(
    g: &mut GraphBuilder,
    w: &Weights,
    taps: &[String; 4],
    resolution: usize,
    num_classes: usize,
    tail: Tail,
    output: &str,
) -> Result<()> {
    let h0 = resolution / 4;
    let tokens = h0 * h0;
    let mut head = Head { g, w, fused: tail == Tail::Fused };

    // Image tokens K (N, 256), row-major over the grid: fusion at each tap's resolution, then
    // upsampling of 256 channels to the stride-4 grid.
    let mut keys = if head.fused {
        // Channels last from the fusion on, so that the transformer's tokens are rows that
        // tract's matrix products, norms and adds read and write contiguously (channel-major
        // tokens make them strided).
        let mut projected = Vec::with_capacity(taps.len());
        for (i, tap) in taps.iter().enumerate() {
            let (weight, bias, in_ch) = fused_projection(w, i)?;
            let wt = transposed(&weight, EMBED_DIM, in_ch);
            let wt = head.g.weight(&format!("fuse{i}.wT"), &[in_ch, EMBED_DIM], &wt, 1);
            let bc = head.g.constant(&format!("fuse{i}.b"), &[EMBED_DIM], &bias);
            let nhwc = head.g.transpose(tap, &[0, 2, 3, 1]);
            let y = head.g.matmul(&nhwc, &wt);
            projected.push(head.g.add(&y, &bc));
        }
        let fused =
            head.g.upsample_sum_channels_last(&projected.iter().map(String::as_str).collect::<Vec<_>>());
        head.g.reshape(&fused, &[tokens, EMBED_DIM])
    } else {
        let mut projected = Vec::with_capacity(taps.len());
        for (i, tap) in taps.iter().enumerate() {
            let (weight, bias, in_ch) = fused_projection(w, i)?;
            let wc = head.g.weight(&format!("fuse{i}.w"), &[EMBED_DIM, in_ch, 1, 1], &weight, 0);
            let bc = head.g.constant(&format!("fuse{i}.b"), &[EMBED_DIM], &bias);
            projected.push(head.g.conv(tap, &wc, &bc, 1, 1, 1));
        }
        let mut fused: Option<String> = None;
        for (i, y) in projected.into_iter().enumerate() {
            let size = resolution >> (2 + i);
            let y = if size == h0 { y } else { upsample_by_matrices(head.g, &y, i, size, h0) };
            fused = Some(match fused {
                None => y,
                Some(acc) => head.g.add(&acc, &y),
            });
        }
        let fused = fused.expect("four taps");
        let k = head.g.reshape(&fused, &[EMBED_DIM, tokens]);
        head.g.transpose(&k, &[1, 0])
    };
    // The image tokens' positional encoding P. segface's cross-attention kernels take at most
    // `MAX_SHORT_SIDE` class tokens.
    let pe = if head.fused && num_classes <= crate::ops::MAX_SHORT_SIDE {
        let gaussian = head.constant_of("pe_layer.positional_encoding_gaussian_matrix")?;
        KeyEncoding::Computed { gaussian, side: h0 }
    } else {
        KeyEncoding::Stored(positional_encoding(head.g, w, h0)?)
    };

    let t0 = class_tokens(w, num_classes)?;
    let t0_name = head.g.constant("class_tokens", &[num_classes, EMBED_DIM], &t0.data);
    let rows_t2i = (num_classes, tokens);
    let rows_i2t = (tokens, num_classes);

    // Block 0's self-attention sees only T0 (no residual, no PE): a constant.
    let l0 = "face_decoder.transformer.layers.0";
    let q0 = constants::attention(&t0, &t0, &t0, projections(w, &format!("{l0}.self_attn"))?);
    let q0 = q0.layer_norm(
        &w.get(&format!("{l0}.norm1.weight"))?.data,
        &w.get(&format!("{l0}.norm1.bias"))?.data,
        LN_EPS,
    );
    let mut queries = head.g.constant("block0_queries", &[num_classes, EMBED_DIM], &q0.data);

    for layer in 0..DEPTH {
        let p = format!("face_decoder.transformer.layers.{layer}");
        if layer > 0 {
            let q_pe = head.g.add(&queries, &t0_name);
            let sa = head.attention(
                &format!("{p}.self_attn"),
                &q_pe,
                &q_pe,
                &queries,
                (num_classes, num_classes),
            )?;
            queries = head.residual_norm(&format!("{p}.norm1"), &queries, &sa)?;
        }
        let q_pe = head.g.add(&queries, &t0_name);
        let image = head.image(&keys, &pe);
        let t2i = head.token_to_image(&format!("{p}.cross_attn_token_to_image"), &q_pe, &image, rows_t2i)?;
        queries = head.residual_norm(&format!("{p}.norm2"), &queries, &t2i)?;
        let mlp = head.mlp(&format!("{p}.mlp"), &queries)?;
        queries = head.residual_norm(&format!("{p}.norm3"), &queries, &mlp)?;
        let q_pe = head.g.add(&queries, &t0_name);
        let (i2t, norm4) = (format!("{p}.cross_attn_image_to_token"), format!("{p}.norm4"));
        keys = head.image_to_token(&i2t, &norm4, &image, &q_pe, &queries, rows_i2t)?;
    }
    let t = "face_decoder.transformer";
    let q_pe = head.g.add(&queries, &t0_name);
    let image = head.image(&keys, &pe);
    let fin = head.token_to_image(&format!("{t}.final_attn_token_to_image"), &q_pe, &image, rows_t2i)?;
    let queries = head.residual_norm(&format!("{t}.norm_final_attn"), &queries, &fin)?;

    // Shared hypernetwork MLP on the refined tokens: one row of weights per class.
    let m = "face_decoder.output_hypernetwork_mlps.layers";
    let h = head.linear(&format!("{m}.0"), &queries)?;
    let h = head.g.relu(&h);
    let h = head.linear(&format!("{m}.1"), &h)?;
    let h = head.g.relu(&h);
    let h = head.linear(&format!("{m}.2"), &h)?;

    // Upscaler: (N, 256) -> (1, 256, H0, W0) -> ConvT -> LN2d -> GELU -> ConvT -> GELU, then one
    // dot product per class and pixel.
    let u = "face_decoder.output_upscaling";
    if head.fused {
        let (first, first_shape) = conv_transpose_matrix(w, &format!("{u}.0.weight"))?;
        let first = head.g.weight(&format!("{u}.0.matrix"), &first_shape, &first, 1);
        let (second, second_shape) = conv_transpose_matrix(w, &format!("{u}.3.weight"))?;
        let second = head.g.weight(&format!("{u}.3.matrix"), &second_shape, &second, 1);
        let names =
            [format!("{u}.0.bias"), format!("{u}.1.weight"), format!("{u}.1.bias"), format!("{u}.3.bias")];
        let [b1, nw, nb, b2] = names.map(|key| head.constant_of(&key));
        let inputs = [&keys, &first, &b1?, &nw?, &nb?, &second, &b2?, &h];
        head.g.upscale_head_into(&inputs.map(String::as_str), LN2D_EPS, output);
        return Ok(());
    }
    let [up0, up1] = arch::UPSCALE_CHANNELS;
    let map = head.g.transpose(&keys, &[1, 0]);
    let map = head.g.reshape(&map, &[1, EMBED_DIM, h0, h0]);
    let wt = head.conv_transpose_weight(&format!("{u}.0.weight"))?;
    let bt = head.constant_of(&format!("{u}.0.bias"))?;
    let x = head.g.conv_transpose_2x2(&map, &wt, &bt);
    let x = head.layer_norm_2d(&format!("{u}.1"), &x, up0)?;
    let x = head.gelu(&x);
    let wt = head.conv_transpose_weight(&format!("{u}.3.weight"))?;
    let bt = head.constant_of(&format!("{u}.3.bias"))?;
    let x = head.g.conv_transpose_2x2(&x, &wt, &bt);
    let upscaled = head.gelu(&x);
    let upscaled = head.g.reshape(&upscaled, &[up1, resolution * resolution]);
    let logits = head.g.matmul(&h, &upscaled);
    let shape = [1, num_classes, resolution, resolution];
    let reshaped = head.g.reshape(&logits, &shape);
    head.g.op_into("Identity", &[&reshaped], vec![], output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::arch::PE_FREQUENCIES;
    use crate::convert::export::graph::value_info;
    use crate::convert::export::WeightStorage;
    use crate::convert::weights::WeightTensor;

    #[test]
    fn positional_encoding_subgraph_evaluates_to_the_formula() {
        // Frequencies of the size randn gives (the real matrix is a standard normal sample).
        let gaussian: Vec<f32> =
            (0..2 * PE_FREQUENCIES).map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 5.0).collect();
        let mut w = Weights::default();
        w.insert(
            "pe_layer.positional_encoding_gaussian_matrix",
            WeightTensor::new(vec![2, PE_FREQUENCIES], gaussian.clone()).unwrap(),
        );
        let side = 24;
        let mut g = GraphBuilder::new(WeightStorage::F32);
        let pe = positional_encoding(&mut g, &w, side).unwrap();
        g.op_into("Identity", &[&pe], vec![], "out");
        let mut graph = g.into_graph("pe", vec![], vec![value_info("out", &[side * side, EMBED_DIM])]);
        assert_eq!(crate::runtime::stored_constants::evaluate_constant_nodes(&mut graph).unwrap(), 4);
        let t = graph.initializer.iter().find(|t| t.name == pe).unwrap();
        assert_eq!(t.dims, vec![(side * side) as i64, EMBED_DIM as i64]);
        let ours: Vec<f32> =
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let expected = constants::positional_encoding(&gaussian, side, side);
        let diff = ours.iter().zip(&expected.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 2e-5, "positional encoding differs by {diff}");
    }
}
