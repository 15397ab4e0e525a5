//! Swin Transformer v1 with torchvision's semantics (spec 4): patch embedding, shifted-window
//! attention with zero padding after `norm1` (padded tokens take part unmasked), the -100 shift
//! mask built on the padded grid, the relative-position bias, and patch merging. The four stage
//! outputs are SegFace's taps (NCHW, no extra norm). Tensors are channels-last (B, H, W, C)
//! inside, as in torchvision.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{activation, Distribution, Int, Tensor, TensorData};

use super::layers::{gelu, LayerNorm, Linear};
use super::named::{join, NamedWeights, WeightVisitor};
use crate::convert::arch::swin::{
    merge_key, stage_key, SwinConfig, EMBED_CONV_KEY, EMBED_NORM_KEY, FINAL_NORM_KEY, MLP_RATIO,
    SHIFT_MASK_VALUE, SWIN_LN_EPS,
};

/// LayerNorm over the channels of a channels-last map.
fn norm_channels_last<B: Backend>(norm: &LayerNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, w, c] = x.dims();
    norm.forward(x.reshape([b, h * w, c])).reshape([b, h, w, c])
}

/// A channels-last Linear.
fn linear_channels_last<B: Backend>(linear: &Linear<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, w, c] = x.dims();
    let y = linear.forward(x.reshape([b, h * w, c]));
    let out = y.dims()[2];
    y.reshape([b, h, w, out])
}

/// `torch.roll` along one axis.
fn roll<B: Backend>(x: Tensor<B, 4>, shift: isize, dim: usize) -> Tensor<B, 4> {
    let n = x.dims()[dim];
    let s = shift.rem_euclid(n as isize) as usize;
    if s == 0 {
        return x;
    }
    Tensor::cat(vec![x.clone().narrow(dim, n - s, s), x.narrow(dim, 0, n - s)], dim)
}

/// Zero rows and columns appended at the bottom and right up to `height` x `width`.
fn pad_bottom_right<B: Backend>(x: Tensor<B, 4>, height: usize, width: usize) -> Tensor<B, 4> {
    let [b, h, w, c] = x.dims();
    let device = x.device();
    let x =
        if height > h { Tensor::cat(vec![x, Tensor::zeros([b, height - h, w, c], &device)], 1) } else { x };
    if width > w {
        Tensor::cat(vec![x, Tensor::zeros([b, height.max(h), width - w, c], &device)], 2)
    } else {
        x
    }
}

/// torchvision's stochastic depth ("row" mode): while training, drops a sample's residual branch
/// with probability `p` and scales survivors by 1 / (1 - p).
fn drop_path<B: Backend>(x: Tensor<B, 4>, p: f64) -> Tensor<B, 4> {
    if p == 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    let keep = Tensor::<B, 4>::random([x.dims()[0], 1, 1, 1], Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep.div_scalar(1.0 - p)
}

/// Python's `range(len)[start:end]` for the shift-mask slices (negative ends count from the end,
/// and `-0` is 0).
fn python_slice(start: isize, end: Option<isize>, len: usize) -> std::ops::Range<usize> {
    let at = |i: isize| if i < 0 { (len as isize + i).max(0) as usize } else { (i as usize).min(len) };
    let (start, end) = (at(start), end.map_or(len, at));
    start..end.max(start)
}

/// The (windows, N, N) shift mask for a padded `height` x `width` grid: 0 between tokens of the
/// same region, -100 between regions (spec 4.2, step 8).
fn shift_mask(height: usize, width: usize, window: usize, shift: [usize; 2]) -> Vec<f32> {
    let mut region = vec![0u32; height * width];
    let slices = |len: usize, s: usize| {
        let (w, s) = (window as isize, s as isize);
        [python_slice(0, Some(-w), len), python_slice(-w, Some(-s), len), python_slice(-s, None, len)]
    };
    let mut count = 0;
    for rows in slices(height, shift[0]) {
        for cols in slices(width, shift[1]) {
            for y in rows.clone() {
                region[y * width + cols.start..y * width + cols.end].fill(count);
            }
            count += 1;
        }
    }
    let n = window * window;
    let mut mask = Vec::with_capacity(height * width * n);
    for wy in 0..height / window {
        for wx in 0..width / window {
            let token = |i: usize| region[(wy * window + i / window) * width + wx * window + i % window];
            for i in 0..n {
                mask.extend((0..n).map(|j| if token(i) == token(j) { 0.0 } else { SHIFT_MASK_VALUE }));
            }
        }
    }
    mask
}

/// torchvision's `relative_position_index`: (dy + w - 1) * (2w - 1) + (dx + w - 1) for every
/// pair of tokens of a window, row-major.
fn relative_position_index(window: usize) -> Vec<i64> {
    let n = window * window;
    let side = 2 * window as i64 - 1;
    let mut index = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let dy = (i / window) as i64 - (j / window) as i64 + window as i64 - 1;
            let dx = (i % window) as i64 - (j % window) as i64 + window as i64 - 1;
            index.push(dy * side + dx);
        }
    }
    index
}

/// The input-independent tensors of window attention, built once per forward and shared by every
/// block that needs them (the index by all blocks, a shift mask by the shifted blocks of a stage),
/// instead of being rebuilt and uploaded in each block.
pub struct WindowConstants<B: Backend> {
    device: B::Device,
    /// `relative_position_index` per window size.
    indices: Vec<(usize, Tensor<B, 1, Int>)>,
    /// Shift masks per grid.
    masks: Vec<(MaskGrid, Tensor<B, 3>)>,
}

/// Padded height, padded width, window and the shift per axis: what a shift mask depends on.
type MaskGrid = (usize, usize, usize, [usize; 2]);

impl<B: Backend> WindowConstants<B> {
    pub fn new(device: &B::Device) -> Self {
        WindowConstants { device: device.clone(), indices: Vec::new(), masks: Vec::new() }
    }

    fn index(&mut self, window: usize) -> Tensor<B, 1, Int> {
        if let Some((_, t)) = self.indices.iter().find(|(w, _)| *w == window) {
            return t.clone();
        }
        let n = window * window;
        let t = Tensor::from_data(TensorData::new(relative_position_index(window), [n * n]), &self.device);
        self.indices.push((window, t.clone()));
        t
    }

    fn mask(&mut self, height: usize, width: usize, window: usize, shift: [usize; 2]) -> Tensor<B, 3> {
        let key = (height, width, window, shift);
        if let Some((_, t)) = self.masks.iter().find(|(k, _)| *k == key) {
            return t.clone();
        }
        let (windows, n) = ((height / window) * (width / window), window * window);
        let data = TensorData::new(shift_mask(height, width, window, shift), [windows, n, n]);
        let t = Tensor::from_data(data, &self.device);
        self.masks.push((key, t.clone()));
        t
    }
}

/// torchvision's `ShiftedWindowAttention`.
#[derive(Module, Debug)]
pub struct WindowAttention<B: Backend> {
    pub qkv: Linear<B>,
    pub proj: Linear<B>,
    /// (2w - 1)^2 x heads learned biases, indexed by relative position.
    pub relative_position_bias_table: Param<Tensor<B, 2>>,
    pub heads: usize,
    pub window: usize,
    pub shift: usize,
}

impl<B: Backend> WindowAttention<B> {
    fn new(channels: usize, heads: usize, window: usize, shift: usize, device: &B::Device) -> Self {
        let table = (2 * window - 1).pow(2);
        WindowAttention {
            qkv: Linear::new(channels, 3 * channels, device),
            proj: Linear::new(channels, channels, device),
            relative_position_bias_table: Param::from_tensor(Tensor::random(
                [table, heads],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            heads,
            window,
            shift,
        }
    }

    /// (1, heads, N, N) bias of every token pair of a window.
    fn relative_position_bias(&self, constants: &mut WindowConstants<B>) -> Tensor<B, 4> {
        let n = self.window * self.window;
        let index = constants.index(self.window);
        self.relative_position_bias_table
            .val()
            .select(0, index)
            .reshape([n, n, self.heads])
            .permute([2, 0, 1])
            .unsqueeze()
    }

    /// Attention within shifted windows of a normalised (B, H, W, C) map.
    pub fn forward(&self, x: Tensor<B, 4>, constants: &mut WindowConstants<B>) -> Tensor<B, 4> {
        let [b, h, w, c] = x.dims();
        let win = self.window;
        let (hp, wp) = (h.div_ceil(win) * win, w.div_ceil(win) * win);
        let x = pad_bottom_right(x, hp, wp);
        // A window that covers the whole (padded) axis cancels that axis's shift.
        let shift = [hp, wp].map(|len| if win >= len { 0 } else { self.shift });
        let shifted = shift.iter().sum::<usize>() > 0;
        let x = roll(roll(x, -(shift[0] as isize), 1), -(shift[1] as isize), 2);

        let (rows, cols) = (hp / win, wp / win);
        let (windows, n, head_dim) = (rows * cols, win * win, c / self.heads);
        let tokens =
            x.reshape([b, rows, win, cols, win, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b * windows, n, c]);
        let qkv = self
            .qkv
            .forward(tokens)
            .reshape([b * windows, n, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b * windows, self.heads, n, head_dim]);
        // Scaled before q k^T, as torchvision does.
        let q = part(0).mul_scalar((head_dim as f64).powf(-0.5));
        let mut attn = q.matmul(part(1).swap_dims(2, 3)) + self.relative_position_bias(constants);
        if shifted {
            let mask = constants.mask(hp, wp, win, shift);
            attn = (attn.reshape([b, windows, self.heads, n, n]) + mask.reshape([1, windows, 1, n, n]))
                .reshape([b * windows, self.heads, n, n]);
        }
        let out = activation::softmax(attn, 3).matmul(part(2)).swap_dims(1, 2).reshape([b * windows, n, c]);
        let out = self.proj.forward(out);

        let x = out.reshape([b, rows, cols, win, win, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b, hp, wp, c]);
        let x = roll(roll(x, shift[0] as isize, 1), shift[1] as isize, 2);
        x.narrow(1, 0, h).narrow(2, 0, w)
    }
}

impl<B: Backend> NamedWeights<B> for WindowAttention<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        v.param(&format!("{prefix}.relative_position_bias_table"), &mut self.relative_position_bias_table);
        self.qkv.visit_named(&format!("{prefix}.qkv"), v);
        self.proj.visit_named(&format!("{prefix}.proj"), v);
    }
}

/// torchvision's `SwinTransformerBlock`: x += attn(norm1(x)); x += mlp(norm2(x)).
#[derive(Module, Debug)]
pub struct SwinBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: WindowAttention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp_in: Linear<B>,
    pub mlp_out: Linear<B>,
    pub drop_probability: f64,
}

impl<B: Backend> SwinBlock<B> {
    fn new(
        channels: usize,
        heads: usize,
        window: usize,
        shift: usize,
        drop: f64,
        device: &B::Device,
    ) -> Self {
        SwinBlock {
            norm1: LayerNorm::new(channels, SWIN_LN_EPS, device),
            attn: WindowAttention::new(channels, heads, window, shift, device),
            norm2: LayerNorm::new(channels, SWIN_LN_EPS, device),
            mlp_in: Linear::new(channels, MLP_RATIO * channels, device),
            mlp_out: Linear::new(MLP_RATIO * channels, channels, device),
            drop_probability: drop,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>, constants: &mut WindowConstants<B>) -> Tensor<B, 4> {
        let attended = self.attn.forward(norm_channels_last(&self.norm1, x.clone()), constants);
        let x = x + drop_path(attended, self.drop_probability);
        let hidden = gelu(linear_channels_last(&self.mlp_in, norm_channels_last(&self.norm2, x.clone())));
        x.clone() + drop_path(linear_channels_last(&self.mlp_out, hidden), self.drop_probability)
    }
}

impl<B: Backend> NamedWeights<B> for SwinBlock<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.norm1.visit_named(&format!("{prefix}.norm1"), v);
        self.attn.visit_named(&format!("{prefix}.attn"), v);
        self.norm2.visit_named(&format!("{prefix}.norm2"), v);
        self.mlp_in.visit_named(&format!("{prefix}.mlp.0"), v);
        self.mlp_out.visit_named(&format!("{prefix}.mlp.3"), v);
    }
}

/// torchvision's `PatchMerging` (v1): 2 x 2 neighbours concatenated in the order (0,0), (1,0),
/// (0,1), (1,1) as (row, col), LayerNorm(4C), Linear 4C -> 2C without bias.
#[derive(Module, Debug)]
pub struct PatchMerging<B: Backend> {
    pub reduction: Linear<B>,
    pub norm: LayerNorm<B>,
}

impl<B: Backend> PatchMerging<B> {
    fn new(channels: usize, device: &B::Device) -> Self {
        PatchMerging {
            reduction: Linear::without_bias(4 * channels, 2 * channels, device),
            norm: LayerNorm::new(4 * channels, SWIN_LN_EPS, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, w, c] = x.dims();
        let x = pad_bottom_right(x, h + h % 2, w + w % 2);
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        let grid = x.reshape([b, h2, 2, w2, 2, c]);
        let pick =
            |row: usize, col: usize| grid.clone().narrow(2, row, 1).narrow(4, col, 1).reshape([b, h2, w2, c]);
        let merged = Tensor::cat(vec![pick(0, 0), pick(1, 0), pick(0, 1), pick(1, 1)], 3);
        linear_channels_last(&self.reduction, norm_channels_last(&self.norm, merged))
    }
}

impl<B: Backend> NamedWeights<B> for PatchMerging<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        self.reduction.visit_named(&format!("{prefix}.reduction"), v);
        self.norm.visit_named(&format!("{prefix}.norm"), v);
    }
}

/// The blocks of one stage.
#[derive(Module, Debug)]
pub struct Stage<B: Backend> {
    pub blocks: Vec<SwinBlock<B>>,
}

/// Swin v1 up to its last stage, tapped after each stage.
#[derive(Module, Debug)]
pub struct Swin<B: Backend> {
    /// Patch-embedding convolution (kernel = stride = patch, with bias).
    pub embed_weight: Param<Tensor<B, 4>>,
    pub embed_bias: Param<Tensor<B, 1>>,
    pub embed_norm: LayerNorm<B>,
    pub stages: Vec<Stage<B>>,
    pub merges: Vec<PatchMerging<B>>,
    /// torchvision's final LayerNorm: kept so checkpoints load and save whole; SegFace taps the
    /// stages before it.
    pub final_norm: LayerNorm<B>,
}

impl<B: Backend> Swin<B> {
    pub fn new(config: &SwinConfig, device: &B::Device) -> Self {
        let channels = config.stage_channels();
        let (embed, patch) = (config.embed_dim, config.patch);
        let fan_in = 3 * patch * patch;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut drops = config.drop_probabilities().into_iter();
        let stages = (0..4)
            .map(|s| Stage {
                blocks: (0..config.depths[s])
                    .map(|i| {
                        // Odd blocks shift by half a window.
                        let shift = if i % 2 == 1 { config.window / 2 } else { 0 };
                        let drop = drops.next().expect("one probability per block");
                        SwinBlock::new(channels[s], config.heads[s], config.window, shift, drop, device)
                    })
                    .collect(),
            })
            .collect();
        Swin {
            embed_weight: Param::from_tensor(Tensor::random(
                [embed, 3, patch, patch],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            embed_bias: Param::from_tensor(Tensor::random(
                [embed],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            embed_norm: LayerNorm::new(embed, SWIN_LN_EPS, device),
            stages,
            merges: channels[..3].iter().map(|&c| PatchMerging::new(c, device)).collect(),
            final_norm: LayerNorm::new(channels[3], SWIN_LN_EPS, device),
        }
    }

    /// The four stage outputs (NCHW), strides 4, 8, 16 and 32 for patch 4.
    pub fn forward(&self, images: Tensor<B, 4>) -> [Tensor<B, 4>; 4] {
        let patch = self.embed_weight.dims()[2];
        let options = ConvOptions::new([patch; 2], [0, 0], [1, 1], 1);
        let x = conv2d(images, self.embed_weight.val(), Some(self.embed_bias.val()), options);
        let mut x = norm_channels_last(&self.embed_norm, x.permute([0, 2, 3, 1]));
        let mut constants = WindowConstants::new(&x.device());
        let mut taps = Vec::with_capacity(4);
        for (s, stage) in self.stages.iter().enumerate() {
            for block in &stage.blocks {
                x = block.forward(x, &mut constants);
            }
            taps.push(x.clone().permute([0, 3, 1, 2]));
            if let Some(merge) = self.merges.get(s) {
                x = merge.forward(x);
            }
        }
        taps.try_into().expect("four stages")
    }
}

impl<B: Backend> NamedWeights<B> for Swin<B> {
    fn visit_named<V: WeightVisitor<B>>(&mut self, prefix: &str, v: &mut V) {
        let at = |key: &str| join(prefix, key);
        v.param(&format!("{}.weight", at(EMBED_CONV_KEY)), &mut self.embed_weight);
        v.param(&format!("{}.bias", at(EMBED_CONV_KEY)), &mut self.embed_bias);
        self.embed_norm.visit_named(&at(EMBED_NORM_KEY), v);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (i, block) in stage.blocks.iter_mut().enumerate() {
                block.visit_named(&format!("{}.{i}", at(&stage_key(s))), v);
            }
            if let Some(merge) = self.merges.get_mut(s) {
                merge.visit_named(&at(&merge_key(s)), v);
            }
        }
        self.final_norm.visit_named(&at(FINAL_NORM_KEY), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_index_spans_the_table_symmetrically() {
        let index = relative_position_index(7);
        assert_eq!(index.len(), 2401);
        assert_eq!(index[0], 6 * 13 + 6); // a token and itself
        assert_eq!(*index.iter().max().unwrap(), 168);
        assert_eq!(*index.iter().min().unwrap(), 0);
    }

    #[test]
    fn shift_mask_separates_the_wrapped_regions() {
        // 14 x 14 grid, window 7, shift 3: window 0 lies in one region, the last window spans
        // four.
        let mask = shift_mask(14, 14, 7, [3, 3]);
        let n = 49;
        assert_eq!(mask.len(), 4 * n * n);
        assert!(mask[..n * n].iter().all(|&m| m == 0.0));
        let last = &mask[3 * n * n..];
        // Token (0, 0) of the last window sits in rows 7..11 / cols 7..11, token (6, 6) in the
        // wrapped corner.
        assert_eq!(last[48], SHIFT_MASK_VALUE);
        assert_eq!(last[1], 0.0);
    }

    #[test]
    fn python_slices_follow_python() {
        assert_eq!(python_slice(0, Some(-7), 14), 0..7);
        assert_eq!(python_slice(-7, Some(-3), 14), 7..11);
        assert_eq!(python_slice(-3, None, 14), 11..14);
        // A zero shift: `[-7:-0]` is empty and `[-0:]` is everything.
        assert_eq!(python_slice(-7, Some(0), 14).len(), 0);
        assert_eq!(python_slice(0, None, 14), 0..14);
    }
}
