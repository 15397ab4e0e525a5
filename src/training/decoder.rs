//! Everything after the backbone, as the reference computes it (spec 2.3-2.8): MLP fusion, the
//! random-Fourier positional encoding, one learnable token per class, SAM's two-way transformer,
//! the upscaler and the shared hypernetwork head.

use burn::module::{Module, Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{activation, Tensor, TensorData};

use super::layers::{gelu, Conv, ConvTranspose2x2, LayerNorm, Linear};
use super::named::{NamedWeights, WeightVisitor};
use crate::convert::arch::{
    self, ATTN_DOWNSAMPLE, DEPTH, EMBED_DIM, LN2D_EPS, LN_EPS, MLP_DIM, NUM_HEADS, PE_FREQUENCIES,
    UPSCALE_CHANNELS,
};

/// SAM's `Attention`: projections to `internal` channels, 8 heads, softmax(q k^T / sqrt(d)) v.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub out_proj: Linear<B>,
}

impl<B: Backend> Attention<B> {
    fn new(internal: usize, device: &B::Device) -> Self {
        Attention {
            q_proj: Linear::new(EMBED_DIM, internal, device),
            k_proj: Linear::new(EMBED_DIM, internal, device),
            v_proj: Linear::new(EMBED_DIM, internal, device),
            out_proj: Linear::new(internal, EMBED_DIM, device),
        }
    }

    fn heads(x: Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, n, c] = x.dims();
        x.reshape([b, n, NUM_HEADS, c / NUM_HEADS]).swap_dims(1, 2)
    }

    fn forward(&self, q: Tensor<B, 3>, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Tensor<B, 3> {
        let q = Self::heads(self.q_proj.forward(q));
        let k = Self::heads(self.k_proj.forward(k));
        let v = Self::heads(self.v_proj.forward(v));
        let [b, h, n, d] = q.dims();
        let logits = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
        let out = activation::softmax(logits, 3).matmul(v);
        self.out_proj.forward(out.swap_dims(1, 2).reshape([b, n, h * d]))
    }
}

impl<B: Backend> NamedWeights<B> for Attention<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.q_proj.visit_named(&format!("{prefix}.q_proj"), v);
        self.k_proj.visit_named(&format!("{prefix}.k_proj"), v);
        self.v_proj.visit_named(&format!("{prefix}.v_proj"), v);
        self.out_proj.visit_named(&format!("{prefix}.out_proj"), v);
    }
}

#[derive(Module, Debug)]
pub struct TwoWayBlock<B: Backend> {
    pub self_attn: Attention<B>,
    pub norm1: LayerNorm<B>,
    pub cross_attn_token_to_image: Attention<B>,
    pub norm2: LayerNorm<B>,
    pub lin1: Linear<B>,
    pub lin2: Linear<B>,
    pub norm3: LayerNorm<B>,
    pub norm4: LayerNorm<B>,
    pub cross_attn_image_to_token: Attention<B>,
    /// Block 0 skips the positional terms and the residual of its self-attention.
    pub first: bool,
}

impl<B: Backend> TwoWayBlock<B> {
    fn new(first: bool, device: &B::Device) -> Self {
        let cross = EMBED_DIM / ATTN_DOWNSAMPLE;
        let norm = || LayerNorm::new(EMBED_DIM, LN_EPS as f64, device);
        TwoWayBlock {
            self_attn: Attention::new(EMBED_DIM, device),
            norm1: norm(),
            cross_attn_token_to_image: Attention::new(cross, device),
            norm2: norm(),
            lin1: Linear::new(EMBED_DIM, MLP_DIM, device),
            lin2: Linear::new(MLP_DIM, EMBED_DIM, device),
            norm3: norm(),
            norm4: norm(),
            cross_attn_image_to_token: Attention::new(cross, device),
            first,
        }
    }

    /// (queries, keys) -> (queries, keys); `query_pe` = T0, `key_pe` = the image PE.
    fn forward(
        &self,
        queries: Tensor<B, 3>,
        keys: Tensor<B, 3>,
        query_pe: Tensor<B, 3>,
        key_pe: Tensor<B, 3>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let queries = if self.first {
            self.self_attn.forward(queries.clone(), queries.clone(), queries)
        } else {
            let q = queries.clone() + query_pe.clone();
            queries.clone() + self.self_attn.forward(q.clone(), q, queries)
        };
        let queries = self.norm1.forward(queries);
        let q = queries.clone() + query_pe.clone();
        let k = keys.clone() + key_pe.clone();
        let queries =
            self.norm2.forward(queries + self.cross_attn_token_to_image.forward(q, k.clone(), keys.clone()));
        let mlp = self.lin2.forward(activation::relu(self.lin1.forward(queries.clone())));
        let queries = self.norm3.forward(queries + mlp);
        let q = queries.clone() + query_pe;
        let keys = self.norm4.forward(keys + self.cross_attn_image_to_token.forward(k, q, queries.clone()));
        (queries, keys)
    }
}

impl<B: Backend> NamedWeights<B> for TwoWayBlock<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.self_attn.visit_named(&format!("{prefix}.self_attn"), v);
        self.norm1.visit_named(&format!("{prefix}.norm1"), v);
        self.cross_attn_token_to_image.visit_named(&format!("{prefix}.cross_attn_token_to_image"), v);
        self.norm2.visit_named(&format!("{prefix}.norm2"), v);
        self.lin1.visit_named(&format!("{prefix}.mlp.lin1"), v);
        self.lin2.visit_named(&format!("{prefix}.mlp.lin2"), v);
        self.norm3.visit_named(&format!("{prefix}.norm3"), v);
        self.norm4.visit_named(&format!("{prefix}.norm4"), v);
        self.cross_attn_image_to_token.visit_named(&format!("{prefix}.cross_attn_image_to_token"), v);
    }
}

/// The head on four taps with `tap_channels` channels.
#[derive(Module, Debug)]
pub struct SegFaceHead<B: Backend> {
    pub linear_c: Vec<Linear<B>>,
    pub linear_fuse: Conv<B>,
    /// `pe_layer.positional_encoding_gaussian_matrix` (2, 128): saved, never trained.
    pub pe_gaussian: RunningState<Tensor<B, 2>>,
    pub tokens: Vec<Param<Tensor<B, 2>>>,
    pub layers: Vec<TwoWayBlock<B>>,
    pub final_attn_token_to_image: Attention<B>,
    pub norm_final_attn: LayerNorm<B>,
    pub upscale0: ConvTranspose2x2<B>,
    pub upscale_norm: LayerNorm<B>,
    pub upscale3: ConvTranspose2x2<B>,
    pub hypernetwork: Vec<Linear<B>>,
}

impl<B: Backend> SegFaceHead<B> {
    pub fn new(tap_channels: [usize; 4], num_classes: usize, device: &B::Device) -> Self {
        let [up0, up1] = UPSCALE_CHANNELS;
        SegFaceHead {
            linear_c: tap_channels.iter().map(|&c| Linear::new(c, EMBED_DIM, device)).collect(),
            linear_fuse: Conv::new(4 * EMBED_DIM, EMBED_DIM, 1, 1, 1, false, device),
            // randn, as the reference's buffer (stored in every checkpoint).
            pe_gaussian: RunningState::new(Tensor::random(
                [2, PE_FREQUENCIES],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                device,
            )),
            tokens: (0..num_classes)
                .map(|_| {
                    Param::from_tensor(Tensor::random(
                        [1, EMBED_DIM],
                        burn::tensor::Distribution::Normal(0.0, 1.0),
                        device,
                    ))
                })
                .collect(),
            layers: (0..DEPTH).map(|i| TwoWayBlock::new(i == 0, device)).collect(),
            final_attn_token_to_image: Attention::new(EMBED_DIM / ATTN_DOWNSAMPLE, device),
            norm_final_attn: LayerNorm::new(EMBED_DIM, LN_EPS as f64, device),
            upscale0: ConvTranspose2x2::new(EMBED_DIM, up0, device),
            upscale_norm: LayerNorm::new(up0, LN2D_EPS as f64, device),
            upscale3: ConvTranspose2x2::new(up0, up1, device),
            hypernetwork: vec![
                Linear::new(EMBED_DIM, EMBED_DIM, device),
                Linear::new(EMBED_DIM, EMBED_DIM, device),
                Linear::new(EMBED_DIM, up1, device),
            ],
        }
    }

    /// The (1, side*side, 256) positional encoding of the stride-4 grid (spec 2.4).
    fn positional_encoding(&self, side: usize, device: &B::Device) -> Tensor<B, 3> {
        let centre = |i: usize| 2.0 * ((i as f32 + 0.5) / side as f32) - 1.0;
        let mut grid = Vec::with_capacity(side * side * 2);
        for row in 0..side {
            for col in 0..side {
                grid.extend([centre(col), centre(row)]);
            }
        }
        let grid = Tensor::<B, 2>::from_data(TensorData::new(grid, [side * side, 2]), device);
        // A buffer, not a parameter: detached, or burn's optimiser would move it with the rest.
        let gaussian = self.pe_gaussian.value().to_device(device).detach();
        let phases = grid.matmul(gaussian) * (2.0 * std::f64::consts::PI);
        Tensor::cat(vec![phases.clone().sin(), phases.cos()], 1).unsqueeze::<3>()
    }

    /// Fuses the taps into the (B, 256, H0, W0) map (spec 2.3).
    pub fn fuse(&self, taps: [Tensor<B, 4>; 4]) -> Tensor<B, 4> {
        let [_, _, h0, w0] = taps[0].dims();
        let mut projected: Vec<Tensor<B, 4>> = taps
            .into_iter()
            .zip(&self.linear_c)
            .map(|(tap, linear)| {
                let [b, c, h, w] = tap.dims();
                let tokens = tap.reshape([b, c, h * w]).swap_dims(1, 2);
                let map = linear.forward(tokens).swap_dims(1, 2).reshape([b, EMBED_DIM, h, w]);
                if (h, w) == (h0, w0) {
                    map
                } else {
                    let options =
                        InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false);
                    interpolate(map, [h0, w0], options)
                }
            })
            .collect();
        projected.reverse();
        self.linear_fuse.forward(Tensor::cat(projected, 1))
    }

    /// The refined class tokens (B, C, 256) and image tokens (B, H0*W0, 256) from the fused map.
    pub fn transformer(&self, fused: Tensor<B, 4>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let [b, c, h0, w0] = fused.dims();
        let device = fused.device();
        let keys = fused.reshape([b, c, h0 * w0]).swap_dims(1, 2);
        let key_pe = self.positional_encoding(h0, &device).repeat_dim(0, b);
        let tokens: Vec<Tensor<B, 2>> = self.tokens.iter().map(|t| t.val()).collect();
        let query_pe = Tensor::cat(tokens, 0).unsqueeze::<3>().repeat_dim(0, b);
        let (mut queries, mut keys) = (query_pe.clone(), keys);
        for layer in &self.layers {
            (queries, keys) = layer.forward(queries, keys, query_pe.clone(), key_pe.clone());
        }
        let q = queries.clone() + query_pe;
        let k = keys.clone() + key_pe;
        let queries = self
            .norm_final_attn
            .forward(queries + self.final_attn_token_to_image.forward(q, k, keys.clone()));
        (queries, keys)
    }

    /// (B, C, R, R) logits from the refined tokens.
    pub fn predict(&self, queries: Tensor<B, 3>, keys: Tensor<B, 3>, side: usize) -> Tensor<B, 4> {
        let [b, _, c] = keys.dims();
        let map = keys.swap_dims(1, 2).reshape([b, c, side, side]);
        let x = self.upscale0.forward(map);
        let x = gelu(self.upscale_norm.forward_channels(x));
        let upscaled = gelu(self.upscale3.forward(x));
        let [_, channels, r, _] = upscaled.dims();
        let mut h = queries;
        for (i, linear) in self.hypernetwork.iter().enumerate() {
            h = linear.forward(h);
            if i + 1 < self.hypernetwork.len() {
                h = activation::relu(h);
            }
        }
        let classes = h.dims()[1];
        h.matmul(upscaled.reshape([b, channels, r * r])).reshape([b, classes, r, r])
    }

    pub fn forward(&self, taps: [Tensor<B, 4>; 4]) -> Tensor<B, 4> {
        let fused = self.fuse(taps);
        let side = fused.dims()[2];
        let (queries, keys) = self.transformer(fused);
        self.predict(queries, keys, side)
    }
}

impl<B: Backend> NamedWeights<B> for SegFaceHead<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        let at = |name: &str| super::named::join(prefix, name);
        for (i, linear) in self.linear_c.iter_mut().enumerate() {
            linear.visit_named(&at(&format!("linear_c.{i}.proj")), v);
        }
        self.linear_fuse.visit_named(&at("linear_fuse"), v);
        v.state(&at("pe_layer.positional_encoding_gaussian_matrix"), &mut self.pe_gaussian);
        let names = arch::token_names(self.tokens.len());
        for (token, name) in self.tokens.iter_mut().zip(names) {
            v.param(&at(&arch::token_key(&name)), token);
        }
        let t = at("face_decoder.transformer");
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_named(&format!("{t}.layers.{i}"), v);
        }
        self.final_attn_token_to_image.visit_named(&format!("{t}.final_attn_token_to_image"), v);
        self.norm_final_attn.visit_named(&format!("{t}.norm_final_attn"), v);
        let u = at("face_decoder.output_upscaling");
        self.upscale0.visit_named(&format!("{u}.0"), v);
        self.upscale_norm.visit_named(&format!("{u}.1"), v);
        self.upscale3.visit_named(&format!("{u}.3"), v);
        for (i, linear) in self.hypernetwork.iter_mut().enumerate() {
            linear.visit_named(&at(&format!("face_decoder.output_hypernetwork_mlps.layers.{i}")), v);
        }
    }
}
