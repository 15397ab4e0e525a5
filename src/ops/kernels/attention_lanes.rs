//! Attention kernels for a short side: few queries attending to many keys (the class tokens
//! reading the image, L = 16,384 keys at R = 512), or many queries attending to few keys (the
//! image reading the class tokens).
//!
//! The general path multiplies per-head blocks with `matrixmultiply`. With 16 columns per head
//! and 19 class tokens those products are thin (k = 16 or 19): `matrixmultiply` re-packs both
//! operands on every call and its tiles are mostly loads and stores, so the attentions ran
//! far below the f32 peak. Here the short side (padded to a multiple of 8) lies across
//! vector lanes and the long side is walked once:
//! - few queries: each key row's dot products with every query fill one set of lanes, and the
//!   softmax runs online over blocks of keys (a running maximum per query and head; the sums and
//!   outputs so far are rescaled when it grows), so scores never exceed one block;
//! - few keys: each query row's scores for all keys are one set of lanes, and its output is the
//!   weighted sum of the few value rows.
//!
//! The lanes are `super::vector`'s: AVX2 with FMA where the CPU has it (these kernels are then
//! compiled a second time for it and picked at run time; the crate's baseline is SSE2), NEON on
//! arm64.

use std::ops::Range;

use super::vector::{by_width, Native, Vector};
#[cfg(target_arch = "x86_64")]
use super::vector::{has_avx2, Avx2};

use tract_onnx::prelude::TractResult;

/// Queries or keys up to this many count as a short side (4 vectors of 8 lanes).
pub const MAX_SHORT_SIDE: usize = 32;

/// Keys per block in the few-queries kernel: one head's scores of a block (128 x 32 floats at
/// most) and the block's value rows (128 x 64 bytes per head) stay in L1.
pub const KEY_BLOCK: usize = 128;
/// Query rows per block in the few-keys kernel: scores of all heads for 64 rows.
const ROW_BLOCK: usize = 64;

/// The sizes of one attention: `queries` x `keys`, `heads` heads of `head_dim` columns.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub queries: usize,
    pub keys: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Shape {
    fn width(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// Where output element (row, head h, column c) goes: `row * row_stride + (h - first head) *
/// head_stride + c`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub row_stride: usize,
    pub head_stride: usize,
}

/// The element-wise exp, in place (tract's kernel for this CPU).
pub type Exp<'a> = &'a mut dyn FnMut(&mut [f32]) -> TractResult<()>;

/// One call's work: heads `heads` of every query row, written to the output in `layout`. `q` is
/// (queries, width), `k` and `v` (keys, width), all row-major.
#[derive(Clone, Debug)]
pub struct Job<'a> {
    pub shape: Shape,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub heads: Range<usize>,
    pub layout: Layout,
}

/// Where the few-queries kernel reads its key and value rows, a block of at most [`KEY_BLOCK`]
/// rows at a time: stored matrices, or rows projected from the image tokens as they are needed
/// (`super::token_to_image`, which never stores K or V).
pub trait KeyBlocks {
    /// Key rows and value rows `first..first + count`, each row as wide as the job's Q with (at
    /// least) the columns of the job's heads set.
    fn block(&mut self, first: usize, count: usize) -> TractResult<(&[f32], &[f32])>;
}

/// Rows of stored K and V matrices.
struct Stored<'a> {
    k: &'a [f32],
    v: &'a [f32],
    width: usize,
}

impl KeyBlocks for Stored<'_> {
    fn block(&mut self, first: usize, count: usize) -> TractResult<(&[f32], &[f32])> {
        let rows = first * self.width..(first + count) * self.width;
        Ok((&self.k[rows.clone()], &self.v[rows]))
    }
}

/// The attention of few queries (at most [`MAX_SHORT_SIDE`]) over any number of keys.
pub fn few_queries(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
    let mut stored = Stored { k: job.k, v: job.v, width: job.shape.width() };
    few_queries_from(job, &mut stored, out, exp)
}

/// [`few_queries`] with the key and value rows read from `keys` (the job's `k` and `v` are not
/// read).
pub fn few_queries_from(job: &Job, keys: &mut dyn KeyBlocks, out: &mut [f32], exp: Exp) -> TractResult<()> {
    debug_assert!(job.shape.queries <= MAX_SHORT_SIDE && job.shape.queries > 0);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above), all the function requires.
        return unsafe { few_queries_avx2(job, keys, out, exp) };
    }
    by_width!(few_queries_n::<Native>, job.shape.queries, (job, keys, out, exp))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn few_queries_avx2(
    job: &Job,
    keys: &mut dyn KeyBlocks,
    out: &mut [f32],
    exp: Exp,
) -> TractResult<()> {
    by_width!(few_queries_n::<Avx2>, job.shape.queries, (job, keys, out, exp))
}

/// The attention of any number of query rows over few keys (at most [`MAX_SHORT_SIDE`]). The
/// head width must be a multiple of 8.
pub fn few_keys(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
    let s = job.shape;
    debug_assert!(s.keys <= MAX_SHORT_SIDE && s.keys > 0 && s.head_dim.is_multiple_of(8));
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above), all the function requires.
        return unsafe { few_keys_avx2(job, out, exp) };
    }
    by_width!(few_keys_n::<Native>, s.keys, (job, out, exp))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn few_keys_avx2(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
    by_width!(few_keys_n::<Avx2>, job.shape.keys, (job, out, exp))
}

/// Few queries' attention with its heads shared among a multi-threaded session's threads:
/// `part` computes a range of heads of all the query rows into a head-major buffer (heads x
/// queries x head_dim, small) in the layout it is given, which is then interleaved into `out`
/// (queries x width). `work` sizes the job for tract's thread pool.
pub fn share_heads(
    s: Shape,
    work: usize,
    out: &mut [f32],
    part: impl Fn(Range<usize>, Layout, &mut [f32]) -> TractResult<()> + Sync + Send,
) -> TractResult<()> {
    let (width, d) = (s.width(), s.head_dim);
    let per_head = s.queries * d;
    let mut by_head = vec![0f32; s.heads * per_head];
    super::threads::par_chunks(&mut by_head, per_head, work, |first_head, chunk| {
        let heads = first_head..first_head + chunk.len() / per_head;
        part(heads, Layout { row_stride: d, head_stride: per_head }, chunk)
    })?;
    for (h, head) in by_head.chunks_exact(per_head).enumerate() {
        for (row, values) in head.chunks_exact(d).enumerate() {
            out[row * width + h * d..row * width + (h + 1) * d].copy_from_slice(values);
        }
    }
    Ok(())
}

/// The short side's rows as lanes, one `[V; N]` per (head, column) of the heads `heads`: lane i
/// of (h, c) is `scale * rows[i][h * D + c]`, zero beyond the rows.
#[inline(always)]
fn transposed_lanes<V: Vector, const N: usize>(
    s: Shape,
    rows: &[f32],
    heads: Range<usize>,
    scale: f32,
) -> Vec<[V; N]> {
    let (width, d) = (s.width(), s.head_dim);
    let mut lanes = Vec::with_capacity(heads.len() * d);
    for h in heads {
        for c in 0..d {
            let mut column = [[0f32; 8]; N];
            for (i, row) in rows.chunks_exact(width).enumerate() {
                column[i / 8][i % 8] = scale * row[h * d + c];
            }
            lanes.push(column.map(|x| V::load(&x)));
        }
    }
    lanes
}

/// Row `i` of a buffer of rows of 8 N lanes, as N vectors.
#[inline(always)]
fn load<V: Vector, const N: usize>(buffer: &[f32], i: usize) -> [V; N] {
    let (row, _) = buffer[i * 8 * N..][..8 * N].as_chunks::<8>();
    std::array::from_fn(|n| V::load(&row[n]))
}

#[inline(always)]
fn store<V: Vector, const N: usize>(buffer: &mut [f32], i: usize, x: [V; N]) {
    let (row, _) = buffer[i * 8 * N..][..8 * N].as_chunks_mut::<8>();
    for (x, to) in x.into_iter().zip(row) {
        x.store(to);
    }
}

#[inline(always)]
fn lanewise<V: Vector, const N: usize>(a: [V; N], b: [V; N], f: impl Fn(V, V) -> V) -> [V; N] {
    std::array::from_fn(|n| f(a[n], b[n]))
}

/// `sum over terms (a, x) of a * x`, in two interleaved chains so that consecutive additions do
/// not wait for each other.
#[inline(always)]
fn weighted_sum<V: Vector, const N: usize>(mut terms: impl Iterator<Item = (f32, [V; N])>) -> [V; N] {
    let mut even = [V::splat(0.0); N];
    let mut odd = [V::splat(0.0); N];
    while let Some((a, x)) = terms.next() {
        even = lanewise(x, even, |x, acc| V::splat(a).mul_add(x, acc));
        if let Some((a, x)) = terms.next() {
            odd = lanewise(x, odd, |x, acc| V::splat(a).mul_add(x, acc));
        }
    }
    lanewise(even, odd, V::add)
}

#[inline(always)]
fn few_queries_n<V: Vector, const N: usize>(
    job: &Job,
    source: &mut dyn KeyBlocks,
    out: &mut [f32],
    exp: Exp,
) -> TractResult<()> {
    let Job { shape: s, q, ref heads, layout, .. } = *job;
    let (width, d, lanes) = (s.width(), s.head_dim, 8 * N);
    let scale = 1.0 / (d as f32).sqrt();
    // Query lanes of every (head, column), pre-scaled; per head the running maximum and sum of
    // the softmax, and per (head, column) the weighted sum of values.
    let queries = transposed_lanes::<V, N>(s, q, heads.clone(), scale);
    let mut max = vec![[V::splat(f32::NEG_INFINITY); N]; heads.len()];
    let mut sum = vec![[V::splat(0.0); N]; heads.len()];
    let mut acc = vec![[V::splat(0.0); N]; heads.len() * d];
    let mut block = vec![0f32; KEY_BLOCK * lanes];
    for first in (0..s.keys).step_by(KEY_BLOCK) {
        let keys = KEY_BLOCK.min(s.keys - first);
        let (key_rows, value_rows) = source.block(first, keys)?;
        for (hi, h) in heads.clone().enumerate() {
            let head_queries = &queries[hi * d..(hi + 1) * d];
            let mut block_max = [V::splat(f32::NEG_INFINITY); N];
            for (key, row) in key_rows.chunks_exact(width).enumerate() {
                let x = weighted_sum(row[h * d..][..d].iter().copied().zip(head_queries.iter().copied()));
                block_max = lanewise(block_max, x, V::max);
                store(&mut block, key, x);
            }
            // Online softmax: when the running maximum grows, what was summed so far is
            // rescaled to the new one.
            let grown = lanewise(max[hi], block_max, V::max);
            let (mut old, mut new) = ([0f32; MAX_SHORT_SIDE], [0f32; MAX_SHORT_SIDE]);
            store(&mut old, 0, max[hi]);
            store(&mut new, 0, grown);
            if old[..lanes] != new[..lanes] {
                for (o, n) in old.iter_mut().zip(&new) {
                    *o = (*o - n).exp();
                }
                let factor = load::<V, N>(&old, 0);
                sum[hi] = lanewise(sum[hi], factor, V::mul);
                for a in &mut acc[hi * d..(hi + 1) * d] {
                    *a = lanewise(*a, factor, V::mul);
                }
                max[hi] = grown;
            }
            for key in 0..keys {
                let x = load::<V, N>(&block, key);
                store(&mut block, key, lanewise(x, grown, V::sub));
            }
            exp(&mut block[..keys * lanes])?;
            let weights = |key| load::<V, N>(&block, key);
            sum[hi] = lanewise(
                sum[hi],
                (0..keys).fold([V::splat(0.0); N], |t, key| lanewise(t, weights(key), V::add)),
                V::add,
            );
            for (c, a) in acc[hi * d..(hi + 1) * d].iter_mut().enumerate() {
                let values = value_rows[h * d + c..].iter().step_by(width).copied();
                *a = lanewise(*a, weighted_sum(values.zip((0..keys).map(weights))), V::add);
            }
        }
    }
    for (hi, total) in sum.iter().enumerate() {
        let mut totals = [0f32; MAX_SHORT_SIDE];
        store(&mut totals, 0, *total);
        for c in 0..d {
            let mut values = [0f32; MAX_SHORT_SIDE];
            store(&mut values, 0, acc[hi * d + c]);
            for (i, (a, total)) in values.iter().zip(&totals).take(s.queries).enumerate() {
                out[i * layout.row_stride + hi * layout.head_stride + c] = a / total;
            }
        }
    }
    Ok(())
}

#[inline(always)]
fn few_keys_n<V: Vector, const N: usize>(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
    let Job { shape: s, q, k, v, ref heads, layout } = *job;
    let (width, d, lanes) = (s.width(), s.head_dim, 8 * N);
    let scale = 1.0 / (d as f32).sqrt();
    // Key lanes of every (head, column), pre-scaled; lanes beyond the keys get -inf added, so
    // that they weigh nothing.
    let keys = transposed_lanes::<V, N>(s, k, heads.clone(), scale);
    let mut padding = [f32::NEG_INFINITY; MAX_SHORT_SIDE];
    padding[..s.keys].fill(0.0);
    let padding = load::<V, N>(&padding, 0);
    // The value rows as vectors of 8 columns, ordered (head, column / 8, key).
    let mut values = Vec::with_capacity(heads.len() * d / 8 * s.keys);
    for first_column in (heads.start * d..heads.end * d).step_by(8) {
        for j in 0..s.keys {
            values.push(V::load(v[j * width + first_column..][..8].try_into().expect("8 columns")));
        }
    }
    // Item r * heads + hi of a block: row first + r, head heads.start + hi.
    let items = |first: usize, rows: usize| {
        let heads = heads.clone();
        (first..first + rows).flat_map(move |row| heads.clone().enumerate().map(move |(hi, h)| (row, hi, h)))
    };
    let mut block = vec![0f32; ROW_BLOCK * heads.len() * lanes];
    for first in (0..s.queries).step_by(ROW_BLOCK) {
        let rows = ROW_BLOCK.min(s.queries - first);
        for (i, (row, hi, h)) in items(first, rows).enumerate() {
            let query = &q[row * width + h * d..][..d];
            let x = weighted_sum(query.iter().copied().zip(keys[hi * d..(hi + 1) * d].iter().copied()));
            let x = lanewise(x, padding, V::add);
            let m = V::splat(x.iter().fold(V::splat(f32::NEG_INFINITY), |m, &x| m.max(x)).max_lane());
            store(&mut block, i, x.map(|x| x.sub(m)));
        }
        exp(&mut block[..rows * heads.len() * lanes])?;
        for (i, (row, hi, _)) in items(first, rows).enumerate() {
            let w = load::<V, N>(&block, i);
            // Softmax's division, on the head's outputs rather than on its weights.
            let inv = V::splat(1.0 / w.iter().fold(V::splat(0.0), |t, &x| t.add(x)).sum_lanes());
            let weights = &block[i * lanes..][..s.keys];
            let head_values = values[hi * d / 8 * s.keys..(hi + 1) * d / 8 * s.keys].chunks_exact(s.keys);
            let o = &mut out[row * layout.row_stride + hi * layout.head_stride..][..d];
            for (o, column) in o.as_chunks_mut::<8>().0.iter_mut().zip(head_values) {
                let [x] = weighted_sum(weights.iter().copied().zip(column.iter().map(|&x| [x])));
                x.mul(inv).store(o);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::kernels::elementwise::elementwise;
    use tract_linalg::routines::Func;

    /// softmax(q_h k_h^T / sqrt(d)) v_h in f64, (queries, width).
    pub(crate) fn reference(s: Shape, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f64> {
        let (w, d) = (s.width(), s.head_dim);
        let mut out = vec![0f64; s.queries * w];
        for h in 0..s.heads {
            for i in 0..s.queries {
                let scores: Vec<f64> = (0..s.keys)
                    .map(|j| {
                        let dot: f64 =
                            (0..d).map(|c| q[i * w + h * d + c] as f64 * k[j * w + h * d + c] as f64).sum();
                        dot / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    let x: f64 =
                        weights.iter().enumerate().map(|(j, wj)| wj * v[j * w + h * d + c] as f64).sum();
                    out[i * w + h * d + c] = x / total;
                }
            }
        }
        out
    }

    /// Values in about [-amplitude, amplitude], with a drift along the rows (so that later key
    /// blocks raise the running maximum of the few-queries kernel).
    pub(crate) fn values(n: usize, width: usize, seed: usize, amplitude: f32) -> Vec<f32> {
        (0..n * width)
            .map(|i| {
                let wave = ((i * 7919 + seed * 104729) % 1999) as f32 / 999.5 - 1.0;
                amplitude * (0.7 * wave + 0.3 * (i / width) as f32 / n as f32)
            })
            .collect()
    }

    pub(crate) fn assert_close(got: &[f32], want: &[f64], what: &str) {
        let scale = want.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-3);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((*g as f64 - w).abs() <= 2e-5 * scale, "{what}: element {i} is {g}, expected {w}");
        }
    }

    type Kernel = fn(&Job, &mut [f32], Exp) -> TractResult<()>;

    /// The baseline build's kernels (NEON on arm64, plain arrays on x86-64), which the public
    /// functions skip on CPUs with AVX2.
    fn native_few_queries(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
        let mut stored = Stored { k: job.k, v: job.v, width: job.shape.width() };
        by_width!(few_queries_n::<Native>, job.shape.queries, (job, &mut stored, out, exp))
    }

    fn native_few_keys(job: &Job, out: &mut [f32], exp: Exp) -> TractResult<()> {
        by_width!(few_keys_n::<Native>, job.shape.keys, (job, out, exp))
    }

    fn check(kernel: Kernel, s: Shape, amplitude: f32, what: &str) {
        let w = s.width();
        let (q, k, v) =
            (values(s.queries, w, 1, amplitude), values(s.keys, w, 2, amplitude), values(s.keys, w, 3, 1.0));
        let mut out = vec![f32::NAN; s.queries * w];
        let mut exp = elementwise(Func::Exp).unwrap();
        let layout = Layout { row_stride: w, head_stride: s.head_dim };
        let job = Job { shape: s, q: &q, k: &k, v: &v, heads: 0..s.heads, layout };
        kernel(&job, &mut out, &mut exp).unwrap();
        assert_close(&out, &reference(s, &q, &k, &v), &format!("{what} {s:?} amplitude {amplitude}"));
    }

    fn shape(queries: usize, keys: usize, heads: usize, head_dim: usize) -> Shape {
        Shape { queries, keys, heads, head_dim }
    }

    #[test]
    fn few_queries_match_the_definition() {
        // Key counts below, at and across the key blocks; query counts filling 1 to 4 vectors.
        let shapes = [
            shape(1, 1, 1, 4),
            shape(19, 300, 8, 16),
            shape(7, 129, 2, 5),
            shape(32, 1000, 4, 8),
            shape(9, 128, 1, 3),
        ];
        for s in shapes {
            for amplitude in [0.5, 6.0] {
                check(few_queries, s, amplitude, "few queries");
                check(native_few_queries, s, amplitude, "few queries, baseline build");
            }
        }
    }

    #[test]
    fn few_keys_match_the_definition() {
        // Row counts below, at and across the row blocks; key counts filling 1 to 4 vectors.
        let shapes = [shape(1, 1, 1, 8), shape(200, 19, 8, 16), shape(65, 32, 2, 24), shape(130, 9, 4, 8)];
        for s in shapes {
            for amplitude in [0.5, 6.0] {
                check(few_keys, s, amplitude, "few keys");
                check(native_few_keys, s, amplitude, "few keys, baseline build");
            }
        }
    }

    /// A subset of heads, written head-major (as a multi-threaded session splits them), by both
    /// kernels.
    #[test]
    fn a_subset_of_heads_is_written_where_the_layout_says() {
        for (s, kernel) in [(shape(5, 200, 4, 8), "few queries"), (shape(40, 7, 4, 16), "few keys")] {
            let w = s.width();
            let (q, k, v) =
                (values(s.queries, w, 4, 2.0), values(s.keys, w, 5, 2.0), values(s.keys, w, 6, 1.0));
            let want = reference(s, &q, &k, &v);
            let per_head = s.queries * s.head_dim;
            let mut out = vec![f32::NAN; 2 * per_head];
            let mut exp = elementwise(Func::Exp).unwrap();
            let layout = Layout { row_stride: s.head_dim, head_stride: per_head };
            let job = Job { shape: s, q: &q, k: &k, v: &v, heads: 1..3, layout };
            match kernel {
                "few queries" => few_queries(&job, &mut out, &mut exp).unwrap(),
                _ => few_keys(&job, &mut out, &mut exp).unwrap(),
            }
            for (hi, h) in (1..3).enumerate() {
                for i in 0..s.queries {
                    let got = &out[hi * per_head + i * s.head_dim..][..s.head_dim];
                    let expected = &want[i * w + h * s.head_dim..][..s.head_dim];
                    assert_close(got, expected, &format!("{kernel}: head {h} row {i}"));
                }
            }
        }
    }
}
