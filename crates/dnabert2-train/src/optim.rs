//! The optimizer of pretraining and fine-tuning, with Hugging Face Trainer's semantics
//! (the protocol GUE's published numbers were produced with):
//!
//! - AdamW as `torch.optim.AdamW`: `p <- p (1 - lr wd)` then the bias-corrected Adam update
//!   `p <- p - lr m_hat / (sqrt(v_hat) + eps)`;
//! - weight decay on every trained parameter **except biases and LayerNorm weights**
//!   (HF `get_decay_parameter_names`: not inside a LayerNorm, no `bias` in the name; our
//!   MLM `decoder_bias` counts as a bias);
//! - gradient clipping by the **global** L2 norm over all parameters before the step
//!   (`torch.nn.utils.clip_grad_norm_(params, max_norm)`: scale by
//!   `max_norm / (norm + 1e-6)` when that is below 1), not burn's per-parameter clip.
//!
//! [`HfAdamW`] implements burn's [`Optimizer`], so checkpoints store its state as the
//! record of the burn AdamW it wraps (weight decay 0 inside; the decay is applied here,
//! where the parameter names are known). `tests/optimizer_hf.rs` checks two steps on the
//! tiny8 fixture against `torch.optim.AdamW` + `clip_grad_norm_` within 1e-6.

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, MultiGradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters and the gradient clip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWSettings {
    /// `(beta1, beta2)`.
    pub betas: (f32, f32),
    /// Epsilon added to `sqrt(v_hat)`.
    pub eps: f32,
    /// Decoupled weight decay (not applied to biases and LayerNorm weights).
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value; `None` disables clipping.
    pub max_grad_norm: Option<f32>,
}

impl AdamWSettings {
    /// HF Trainer's defaults: betas (0.9, 0.999), eps 1e-8, clip 1.0, with `weight_decay`.
    pub fn hf(weight_decay: f32) -> Self {
        Self {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            max_grad_norm: Some(1.0),
        }
    }
}

/// AdamW with HF parameter groups and global-norm clipping (see the module docs).
#[derive(Clone)]
pub struct HfAdamW<B: AutodiffBackend, M: AutodiffModule<B>> {
    adam: OptimizerAdaptor<AdamW, M, B>,
    settings: AdamWSettings,
    last_grad_norm: f64,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> HfAdamW<B, M> {
    /// An optimizer with `settings`.
    pub fn new(settings: AdamWSettings) -> Self {
        let adam = AdamWConfig::new()
            .with_beta_1(settings.betas.0)
            .with_beta_2(settings.betas.1)
            .with_epsilon(settings.eps)
            .with_weight_decay(0.0)
            .init::<B, M>();
        Self {
            adam,
            settings,
            last_grad_norm: f64::NAN,
        }
    }

    /// The settings.
    pub fn settings(&self) -> AdamWSettings {
        self.settings
    }

    /// Global L2 norm of the gradients of the last step, before clipping (NaN before the first).
    pub fn last_grad_norm(&self) -> f64 {
        self.last_grad_norm
    }
}

/// Whether HF would decay the parameter at `path` inside a module of type `container`.
pub fn decays(path: &[String], container: Option<&str>) -> bool {
    let in_layer_norm = container == Some("Struct:LayerNorm");
    let is_bias = path.last().is_some_and(|p| p.contains("bias"));
    !in_layer_norm && !is_bias
}

/// Squared-norm sum over the gradients of `module`'s parameters.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let sq = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => {
                    let device = t.device();
                    t + sq.to_device(&device)
                }
                None => sq,
            });
        }
    }
}

/// Multiplies every gradient of `module`'s parameters by `factor`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Decoupled weight decay `p <- p (1 - lr wd)` on the parameters HF decays that have a
/// gradient this step (frozen parameters, e.g. a LoRA base, are left alone).
struct Decay<'a> {
    grads: &'a GradientsParams,
    factor: f64,
    path: Vec<String>,
    containers: Vec<String>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Decay<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        // Entering a field pushes the type of the struct that owns it, so the last struct
        // entry is the module the parameter belongs to (e.g. `Struct:LayerNorm` for `gamma`).
        let module = self
            .containers
            .iter()
            .rev()
            .find(|c| c.starts_with("Struct:"))
            .map(String::as_str);
        let has_grad = self.grads.get::<B::InnerBackend, D>(param.id).is_some();
        if !has_grad || !decays(&self.path, module) {
            return param;
        }
        let factor = self.factor;
        param.map(|t| {
            let require_grad = t.is_require_grad();
            let t = Tensor::from_inner(t.inner().mul_scalar(factor));
            if require_grad { t.require_grad() } else { t }
        })
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> HfAdamW<B, M> {
    /// Clips `grads` to the global norm and applies the decay to `module`; returns the
    /// module and the norm before clipping.
    fn prepare(&mut self, lr: f64, module: M, grads: &mut GradientsParams) -> M {
        let mut norm = SquaredNorm::<B> { grads, total: None };
        module.visit(&mut norm);
        let total = norm
            .total
            .map_or(0.0, |t| t.into_scalar().elem::<f64>().sqrt());
        self.last_grad_norm = total;
        if let Some(max) = self.settings.max_grad_norm {
            let factor = max as f64 / (total + 1e-6);
            if factor < 1.0 {
                module.visit(&mut Scale { grads, factor });
            }
        }
        let wd = self.settings.weight_decay as f64;
        if wd == 0.0 || lr == 0.0 {
            return module;
        }
        module.map(&mut Decay {
            grads,
            factor: 1.0 - lr * wd,
            path: Vec::new(),
            containers: Vec::new(),
        })
    }
}

/// Collects the summed per-device gradients of `module`'s parameters into one set.
struct Gather<'a, B: AutodiffBackend> {
    multi: &'a mut MultiGradientsParams,
    out: GradientsParams,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gather<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let id: ParamId = param.id;
        if let Some((g, _)) = self.multi.remove::<B::InnerBackend, D>(id) {
            self.out
                .register(id, g.to_device(&param.val().inner().device()));
        }
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Optimizer<M, B> for HfAdamW<B, M> {
    type Record = <OptimizerAdaptor<AdamW, M, B> as Optimizer<M, B>>::Record;

    fn step(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        let module = self.prepare(lr, module, &mut grads);
        self.adam.step(lr, module, grads)
    }

    fn step_multi(&mut self, lr: f64, module: M, mut grads: MultiGradientsParams) -> M {
        let mut gather = Gather::<B> {
            multi: &mut grads,
            out: GradientsParams::new(),
            _b: std::marker::PhantomData,
        };
        module.visit(&mut gather);
        let one = gather.out;
        self.step(lr, module, one)
    }

    fn to_record(&self) -> Self::Record {
        self.adam.to_record()
    }

    fn load_record(mut self, record: Self::Record) -> Self {
        self.adam = self.adam.load_record(record);
        self
    }
}
