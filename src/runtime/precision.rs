//! The arithmetic a loaded model runs in: float32 everywhere, or half precision (f16) for tract's
//! operators on CPUs that compute f16 natively (ARMv8.2-A's FEAT_FP16: most phones since 2017).
//! f16 halves the weights' and activations' memory traffic and doubles the lanes of each vector
//! instruction; segface's own operators (attention cores, upsampled sum, the tail) stay float32,
//! with conversions at their edges: accumulating the attentions' long sums in f16 (as ARM's f16
//! kernels do) changes far more labels than keeping them in float32 (docs/performance.md).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::floats::FloatPrecisionTranslator;
use tract_onnx::tract_core::ops::cast::cast;

use crate::error::{Error, Result};

/// Which float type tract's operators compute in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// float32 throughout (the default; the parity tests' precision).
    #[default]
    F32,
    /// f16 for tract's operators where the CPU computes f16 natively; refused elsewhere (an
    /// emulated f16 is several times slower than float32), unless emulation is asked for
    /// ([`crate::LoadOptions::emulate_f16`]). See [`f16_available`].
    F16,
}

impl Precision {
    /// The precision's number in the C ABI (`SEGFACE_PRECISION_*`) and Java's
    /// `Precision.ordinal()`: 0 float32, 1 f16.
    pub(crate) fn code(self) -> u32 {
        match self {
            Precision::F32 => 0,
            Precision::F16 => 1,
        }
    }

    /// The precision numbered `code` (see [`Precision::code`]); an unknown number is an error.
    pub(crate) fn from_code(code: i64) -> Result<Precision> {
        match code {
            0 => Ok(Precision::F32),
            1 => Ok(Precision::F16),
            other => Err(Error::invalid_argument(format!("unknown precision {other}"))),
        }
    }

    /// `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Precision> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            other => Err(Error::invalid_argument(format!("precision `{other}`: f32 or f16"))),
        }
    }
}

/// Whether this CPU computes f16 natively and this build holds tract's native f16 kernels, so
/// that [`Precision::F16`] may be asked for.
pub fn f16_available() -> bool {
    // tract reads the CPU's features (the `asimdhp` flag on Linux and Android, the model on iOS).
    tract_linalg::has_fp16() && f16_kernels().any(|name| !name.contains("generic"))
}

/// The names of the f16 matrix-product kernels this build holds for this CPU. tract registers
/// its kernels at program start-up from the objects linked in: a static library linked without
/// `--whole-archive` (GNU ld) or `-force_load` (Apple ld) may leave some out.
fn f16_kernels() -> impl Iterator<Item = &'static str> {
    tract_linalg::MmmDispatch::native()
        .runnable()
        .iter()
        .filter(|kernel| kernel.internal_type() == f16::datum_type())
        .map(|kernel| kernel.name())
}

/// Refuses f16 where the CPU lacks it, unless `emulate` says a slow f16 is wanted: callers learn
/// it at load rather than by a model several times slower than float32. Either way tract's f16
/// kernels must have been linked in.
pub(crate) fn check_available(precision: Precision, emulate: bool) -> Result<()> {
    if precision != Precision::F16 {
        return Ok(());
    }
    if f16_kernels().next().is_none() {
        return Err(Error::invalid_argument(
            "f16 precision: this build of segface holds none of tract's f16 kernels (a static \
             library must be linked whole: -Wl,--whole-archive with GNU ld, -force_load with Apple's)",
        ));
    }
    if !emulate && !f16_available() {
        return Err(Error::invalid_argument(
            "f16 precision needs native f16 arithmetic (ARMv8.2-A FEAT_FP16, and tract's kernels for it \
             linked in), which this CPU or build lacks; load with f32 (or emulate f16 to preview its \
             results, several times slower)",
        ));
    }
    Ok(())
}

/// Rewrites a decluttered float32 model so that tract's operators compute in f16. The logits
/// stay float32: the tail (segface's `UpscaleHead`) produces them in float32 already; a graph
/// whose last operator is tract's gets a final conversion.
pub(crate) fn into_f16(mut model: TypedModel) -> TractResult<TypedModel> {
    let translator = FloatPrecisionTranslator::with_filter(f32::datum_type(), f16::datum_type(), |node| {
        !crate::ops::is_segface_op(node)
    });
    model.transform(&translator)?;
    let Some(&output) = model.output_outlets()?.first() else {
        return Err(TractError::msg("the graph has no output"));
    };
    let node = model.node(output.node);
    // The translator converts every float32 output to f16; undo that for a float32 producer.
    let output = match node.op_as::<tract_onnx::tract_core::ops::cast::Cast>() {
        Some(c)
            if c.to == f16::datum_type()
                && model.outlet_fact(node.inputs[0])?.datum_type == f32::datum_type() =>
        {
            node.inputs[0]
        }
        _ if model.outlet_fact(output)?.datum_type == f16::datum_type() => {
            model.wire_node("segface.logits_f32", cast(f32::datum_type()), &[output])?[0]
        }
        _ => output,
    };
    model.select_output_outlets(&[output])?;
    // The input becomes f16 too: the session converts its float32 pixels before each run.
    model.into_decluttered()
}

/// The engine's input from the session's float32 pixels: converted for an f16 model (3 x R x R
/// values, negligible beside the network).
pub(crate) fn engine_input(pixels: Arc<Tensor>, precision: Precision) -> TractResult<TValue> {
    Ok(match precision {
        Precision::F32 => TValue::from_const(pixels),
        Precision::F16 => pixels.cast_to::<f16>()?.into_owned().into_tvalue(),
    })
}
