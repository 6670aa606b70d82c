//! Reduced-precision inference: cast a model's float parameters to f16 / bf16.
//!
//! The forward follows the dtype of its parameters (masks and the attention bias are cast
//! to it), so a cast model runs end to end in that dtype on any backend that implements
//! it. burn-flex computes f16 / bf16 matmuls through f32 conversion (no speed gain on CPU;
//! useful to check what a GPU half-precision run will produce), and the CPU attention kernel
//! is f32-only, so cast models take burn's attention op. Measured error against the fp32
//! upstream fixtures (tiny12, `tests/precision.rs`) is documented in docs/PERFORMANCE.md.
//!
//! ```
//! use dnabert2_model::backend::CpuBackend as B;
//! use dnabert2_model::precision::{Precision, cast_module};
//! use dnabert2_model::{BertConfig, BertModel};
//!
//! let device = Default::default();
//! let cfg = BertConfig::preset("tiny").unwrap();
//! let model = cast_module(BertModel::<B>::init(&cfg, false, &device), Precision::Bf16);
//! let w = model.embeddings.word_embeddings.weight.val();
//! assert_eq!(w.dtype(), burn::tensor::DType::BF16);
//! assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
//! ```

use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::DType;

/// Floating-point precision of a model's parameters and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit IEEE float (the default; parity with upstream <= 1e-4).
    #[default]
    F32,
    /// 16-bit IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    /// The burn dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
            Precision::Bf16 => DType::BF16,
        }
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(format!(
                "unknown precision `{other}` (expected f32, f16 or bf16)"
            )),
        }
    }
}

/// `t` in `dtype`, untouched when it already is (not every backend's cast is a no-op then).
pub fn cast_to<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// Casts every float parameter of `module` to `precision`.
pub fn cast_module<B: Backend, M: Module<B>>(module: M, precision: Precision) -> M {
    struct Caster(DType);
    impl<B: Backend> ModuleMapper<B> for Caster {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, cast_to(tensor, self.0), mapper)
        }
    }
    module.map(&mut Caster(precision.dtype()))
}
