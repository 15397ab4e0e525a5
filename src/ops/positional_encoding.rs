//! The image tokens plus their positional encoding, without the encoding stored.
//!
//! SAM's random-Fourier encoding of grid cell (row, col) is [sin(p), cos(p)] with phases
//! p_j = x G[0, j] + y G[1, j], where x and y are the cell centre's coordinates in [-1, 1] times
//! 2 pi. As a constant it is a (rows x cols, 2F) matrix: 16 MB at R = 512, held for the plan's
//! lifetime and read by each of the three adds of the keys. The phase is a sum of a column term
//! a and a row term b, so sin(a + b) = sin a cos b + cos a sin b and cos(a + b) = cos a cos b -
//! sin a sin b: four small tables (cols x F and rows x F, 256 KB at R = 512, computed in f64 at
//! load) give every element with two products and a sum. That is closer to the exact encoding
//! than evaluating it in float32 (where the phase itself, up to about 40, is rounded to 4e-6).
//!
//! Inputs: X (rows x cols, 2F) float32, G (2, F) float32, a constant. Attributes `rows`, `cols`
//! (the grid, X's rows in row-major order over it). Output: X + encoding, X's shape; X's buffer
//! when nothing else holds it.
//!
//! The runtime graphs segface converts now add the encoding inside their cross-attention
//! operators (`token_to_image`, `image_to_token`), a block of tokens at a time with these tables
//! (`AddPositionalEncoding::tokens`), and read G the same way (`TakesEncoding`); as a node
//! of its own it is read in early converters' files (docs/model-format.md).

use std::f64::consts::PI;
use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::kernels::threads::par_chunks;
use super::tensors::{f32_shapes, f32_slice_mut, output_buffer, remaining_data};

/// The operator's name in ONNX files (domain [`super::DOMAIN`]).
pub const OP_TYPE: &str = "AddPositionalEncoding";

/// Its name in tract's graph, read or typed (profiles list operators by it).
const NAME: &str = "SegFaceAddPositionalEncoding";

/// The largest grid side: R / 4 with R up to `crate::runtime::screen::MAX_RESOLUTION` fits well.
const MAX_SIDE: usize = 4096;
/// The most table entries (grid cells along both axes times F): the tables are built when the
/// graph is wired, before any tensor shape is checked against them, so a hostile G must not make
/// them huge. SAM at the largest resolution needs (512 + 512) x 128 = 131,072; this allows 128
/// times as many (64 MB of tables).
const MAX_TABLE_ENTRIES: usize = 1 << 24;

/// sin and cos of one axis' phase term, (cells, F) row-major.
#[derive(Clone, Debug, PartialEq)]
struct AxisTable {
    sin: Vec<f32>,
    cos: Vec<f32>,
}

impl AxisTable {
    /// The terms `centre(cell) * frequencies[j]` for `cells` cells along one axis.
    fn new(cells: usize, frequencies: &[f32]) -> AxisTable {
        let mut sin = Vec::with_capacity(cells * frequencies.len());
        let mut cos = Vec::with_capacity(cells * frequencies.len());
        for cell in 0..cells {
            let centre = 2.0 * PI * (2.0 * ((cell as f64 + 0.5) / cells as f64) - 1.0);
            for &f in frequencies {
                let (s, c) = (centre * f as f64).sin_cos();
                sin.push(s as f32);
                cos.push(c as f32);
            }
        }
        AxisTable { sin, cos }
    }
}

/// The operator, with the tables of its constant Gaussian matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct AddPositionalEncoding {
    rows: usize,
    cols: usize,
    /// F: the encoding has 2F channels.
    frequencies: usize,
    /// Column terms from G's first row (x), row terms from its second (y).
    by_col: Arc<AxisTable>,
    by_row: Arc<AxisTable>,
}

impl Eq for AddPositionalEncoding {}

impl AddPositionalEncoding {
    /// The operator for a `rows x cols` grid and the (2, F) Gaussian matrix `gaussian`.
    pub fn new(rows: usize, cols: usize, gaussian: &[f32]) -> TractResult<AddPositionalEncoding> {
        ensure!(
            (1..=MAX_SIDE).contains(&rows) && (1..=MAX_SIDE).contains(&cols),
            "AddPositionalEncoding: the grid must be 1 to {MAX_SIDE} cells a side, got {rows} x {cols}"
        );
        ensure!(
            !gaussian.is_empty() && gaussian.len().is_multiple_of(2),
            "AddPositionalEncoding: G must be (2, F) with F > 0, got {} values",
            gaussian.len()
        );
        ensure!(gaussian.iter().all(|g| g.is_finite()), "AddPositionalEncoding: G is not finite");
        let frequencies = gaussian.len() / 2;
        ensure!(
            (rows + cols).saturating_mul(frequencies) <= MAX_TABLE_ENTRIES,
            "AddPositionalEncoding: G's {frequencies} frequencies on a {rows} x {cols} grid exceed {MAX_TABLE_ENTRIES} table entries"
        );
        let (x, y) = gaussian.split_at(frequencies);
        Ok(AddPositionalEncoding {
            rows,
            cols,
            frequencies,
            by_col: Arc::new(AxisTable::new(cols, x)),
            by_row: Arc::new(AxisTable::new(rows, y)),
        })
    }

    /// Checks X's shape against the grid and the encoding's width; `op` names the operator in the
    /// error.
    pub(crate) fn check(&self, op: &str, x: &[usize]) -> TractResult<()> {
        let expected = [self.rows * self.cols, 2 * self.frequencies];
        ensure!(x == expected, "{op}: X must be {expected:?}, got {x:?}");
        Ok(())
    }

    /// Adds the encoding of tokens `first..` to `out`, one token (2F channels) per row, after
    /// setting the rows to `copy` where the output is a fresh buffer.
    pub(crate) fn tokens(&self, first: usize, out: &mut [f32], copy: Option<&[f32]>) {
        let f = self.frequencies;
        for (i, token) in out.chunks_exact_mut(2 * f).enumerate() {
            let n = first + i;
            if let Some(x) = copy {
                token.copy_from_slice(&x[i * 2 * f..(i + 1) * 2 * f]);
            }
            let (row, col) = (n / self.cols, n % self.cols);
            let span = |cell: usize| cell * f..(cell + 1) * f;
            let (sa, ca) = (&self.by_col.sin[span(col)], &self.by_col.cos[span(col)]);
            let (sb, cb) = (&self.by_row.sin[span(row)], &self.by_row.cos[span(row)]);
            let (sin_half, cos_half) = token.split_at_mut(f);
            for j in 0..f {
                sin_half[j] += sa[j] * cb[j] + ca[j] * sb[j];
                cos_half[j] += ca[j] * cb[j] - sa[j] * sb[j];
            }
        }
    }

    /// X + encoding, in X's buffer when nothing else holds X.
    fn run(&self, inputs: TVec<TValue>) -> TractResult<Tensor> {
        ensure!(inputs.len() == 1, "AddPositionalEncoding takes X alone once typed");
        let shape = inputs[0].shape().to_vec();
        self.check(OP_TYPE, &shape)?;
        let mut inputs: Vec<Option<TValue>> = inputs.into_iter().map(Some).collect();
        let (mut out, fresh) = output_buffer(&mut inputs, &[0], &shape)?;
        let data = remaining_data("AddPositionalEncoding", &inputs)?;
        let copy = if fresh { data[0] } else { None };
        let width = 2 * self.frequencies;
        par_chunks(f32_slice_mut(&mut out)?, width, shape.iter().product(), |first, rows| {
            let copy = copy.map(|x| &x[first * width..first * width + rows.len()]);
            self.tokens(first, rows, copy);
            Ok(())
        })?;
        Ok(out)
    }
}

impl Op for AddPositionalEncoding {
    fn name(&self) -> StaticName {
        NAME.into()
    }

    op_as_typed_op!();
}

impl EvalOp for AddPositionalEncoding {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(inputs)?.into_tvalue()))
    }
}

impl TypedOp for AddPositionalEncoding {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1, "AddPositionalEncoding takes X alone once typed");
        let shapes = f32_shapes("AddPositionalEncoding", inputs)?;
        self.check(OP_TYPE, &shapes[0])?;
        Ok(tvec!(f32::fact(&shapes[0])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let shapes = f32_shapes("AddPositionalEncoding", inputs)?;
        self.check(OP_TYPE, &shapes[0])?;
        // Two products and two sums per element.
        let elements: usize = shapes[0].iter().product();
        Ok(tvec!((Cost::FMA(f32::datum_type()), (2 * elements).to_dim())))
    }
}

/// An operator whose last ONNX input is SAM's Gaussian matrix G, a constant: its typed form
/// holds G's tables (an [`AddPositionalEncoding`]) instead of that input.
pub(crate) trait TakesEncoding: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The operator's name in ONNX files, for messages.
    const OP_TYPE: &'static str;
    /// Its name in tract's graph.
    const NAME: &'static str;
    /// Its ONNX inputs, G included. Its one output has the first input's shape.
    const INPUTS: usize;

    /// The typed operator, given G's tables.
    fn typed(&self, encoding: AddPositionalEncoding) -> TractResult<Box<dyn TypedOp>>;
}

/// The node as read, before its Gaussian matrix is known: G is its last input.
#[derive(Clone, Debug)]
struct WithEncoding<O> {
    op: O,
    rows: usize,
    cols: usize,
}

impl<O: TakesEncoding> Expansion for WithEncoding<O> {
    fn name(&self) -> StaticName {
        O::NAME.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, O::INPUTS)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)
    }

    /// The typed operator holds the tables of G, which must therefore be a constant.
    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let op = O::OP_TYPE;
        let (&g, rest) = inputs.split_last().with_context(|| format!("{op}: no G"))?;
        let g = model.outlet_fact(g)?;
        ensure!(g.datum_type == f32::datum_type(), "{op}: G must be float32");
        let Some(values) = g.konst.clone() else { bail!("{op}: G must be a constant (an initializer)") };
        ensure!(values.rank() == 2 && values.shape()[0] == 2, "{op}: G must be (2, F)");
        let gaussian: Vec<f32> = values.to_plain_array_view::<f32>()?.iter().copied().collect();
        let encoding = AddPositionalEncoding::new(self.rows, self.cols, &gaussian)
            .with_context(|| format!("{op}: its positional encoding"))?;
        model.wire_node(prefix, self.op.typed(encoding)?, rest)
    }
}

/// Reads a node of `op`, whose grid is its attributes `rows` and `cols`.
pub(crate) fn read_with_encoding<O: TakesEncoding>(
    node: &NodeProto,
    op: O,
) -> TractResult<Box<dyn InferenceOp>> {
    let side = |name: &str| -> TractResult<usize> {
        let v: i64 = node.get_attr(name)?;
        ensure!(
            (1..=MAX_SIDE as i64).contains(&v),
            "{}: `{name}` must be 1 to {MAX_SIDE}, got {v}",
            O::OP_TYPE
        );
        Ok(v as usize)
    };
    Ok(expand(WithEncoding { rows: side("rows")?, cols: side("cols")?, op }))
}

/// The read form of this operator: X and G.
#[derive(Clone, Debug)]
struct Read;

impl TakesEncoding for Read {
    const OP_TYPE: &'static str = OP_TYPE;
    const NAME: &'static str = NAME;
    const INPUTS: usize = 2;

    fn typed(&self, encoding: AddPositionalEncoding) -> TractResult<Box<dyn TypedOp>> {
        Ok(Box::new(encoding))
    }
}

/// Reads the ONNX node.
pub fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((read_with_encoding(node, Read)?, vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::{multithread_tract_scope, Executor};

    fn gaussian(frequencies: usize) -> Vec<f32> {
        (0..2 * frequencies).map(|i| ((i * 7919 % 31) as f32 / 15.0 - 1.0) * 2.5).collect()
    }

    /// The encoding by its definition, in f64: [sin(p), cos(p)], p = x G0 + y G1.
    fn encoding(rows: usize, cols: usize, g: &[f32]) -> Vec<f64> {
        let f = g.len() / 2;
        let centre = |i: usize, n: usize| 2.0 * PI * (2.0 * ((i as f64 + 0.5) / n as f64) - 1.0);
        let mut out = vec![0.0; rows * cols * 2 * f];
        for r in 0..rows {
            for c in 0..cols {
                let token = &mut out[(r * cols + c) * 2 * f..][..2 * f];
                for j in 0..f {
                    let p = centre(c, cols) * g[j] as f64 + centre(r, rows) * g[f + j] as f64;
                    token[j] = p.sin();
                    token[f + j] = p.cos();
                }
            }
        }
        out
    }

    fn tokens(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 23) as f32 / 11.0 - 1.0) * 3.0).collect()
    }

    /// X + encoding with X exclusive (written over) or held by another reference (left alone).
    fn run(op: &AddPositionalEncoding, x: &Tensor, held: bool) -> Vec<f32> {
        let value = x.clone().into_tvalue();
        let kept = held.then(|| value.clone());
        let out = crate::ops::tensors::f32_values(&op.run(tvec![value]).unwrap());
        if let Some(kept) = kept {
            assert_eq!(&*kept, x, "a held X was written over");
        }
        out
    }

    fn check(x: &[f32], got: &[f32], expected_encoding: &[f64]) {
        for (i, ((&x, &got), &e)) in x.iter().zip(got).zip(expected_encoding).enumerate() {
            let want = x as f64 + e;
            assert!((got as f64 - want).abs() < 1e-6 * (1.0 + want.abs()), "element {i}: {got} vs {want}");
        }
    }

    #[test]
    fn adds_the_encoding_by_its_definition_in_any_buffer() {
        for (rows, cols, f) in [(4, 4, 8), (3, 5, 6), (1, 7, 1), (16, 16, 128)] {
            let g = gaussian(f);
            let op = AddPositionalEncoding::new(rows, cols, &g).unwrap();
            let x = tokens(rows * cols * 2 * f);
            let tensor = Tensor::from_shape(&[rows * cols, 2 * f], &x).unwrap();
            let expected = encoding(rows, cols, &g);
            for held in [true, false] {
                check(&x, &run(&op, &tensor, held), &expected);
            }
        }
    }

    /// A session's pool shares the tokens among its threads: the same values as one thread.
    #[test]
    fn a_pool_computes_what_one_thread_does() {
        let (rows, cols, f) = (32, 24, 64);
        let op = AddPositionalEncoding::new(rows, cols, &gaussian(f)).unwrap();
        // Over tract's threading threshold of 32768 elements.
        let x = Tensor::from_shape(&[rows * cols, 2 * f], &tokens(rows * cols * 2 * f)).unwrap();
        let single = run(&op, &x, true);
        let pooled = multithread_tract_scope(Executor::multithread(3), || run(&op, &x, true));
        assert_eq!(single, pooled);
    }

    #[test]
    fn shapes_and_matrices_are_checked() {
        let op = AddPositionalEncoding::new(4, 3, &gaussian(8)).unwrap();
        assert!(op.check(OP_TYPE, &[12, 16]).is_ok());
        assert!(op.check(OP_TYPE, &[12, 15]).is_err());
        assert!(op.check(OP_TYPE, &[11, 16]).is_err());
        assert!(op.check(OP_TYPE, &[1, 12, 16]).is_err());
        assert!(AddPositionalEncoding::new(0, 3, &gaussian(8)).is_err());
        assert!(AddPositionalEncoding::new(4, MAX_SIDE + 1, &gaussian(8)).is_err());
        assert!(AddPositionalEncoding::new(4, 3, &[]).is_err());
        assert!(AddPositionalEncoding::new(4, 3, &[1.0, 2.0, 3.0]).is_err());
        assert!(AddPositionalEncoding::new(4, 3, &[1.0, f32::NAN]).is_err());
        // Tables past their bound: G's frequencies times the grid's cells along both axes.
        let wide = vec![0.5f32; 2 * (MAX_TABLE_ENTRIES / 128)];
        assert!(AddPositionalEncoding::new(64, 65, &wide).is_err());
        assert!(AddPositionalEncoding::new(MAX_SIDE, MAX_SIDE, &gaussian(4096)).is_err());
    }
}
