//! Adapter files in the Hugging Face PEFT layout: `adapter_config.json` +
//! `adapter_model.safetensors`, readable by `PeftModel.from_pretrained`.
//!
//! Keys are PEFT's saved names (the adapter name `default` stripped):
//! `base_model.model.bert.encoder.layer.{i}.attention.self.Wqkv.lora_A.weight` `[r, d_in]` and
//! `...lora_B.weight` `[d_out, r]`; a trained head is saved as PEFT `modules_to_save`
//! under `base_model.model.classifier.{weight,bias}` and
//! `base_model.model.bert.pooler.dense.{weight,bias}` (PyTorch `[out, in]` layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use dnabert2_model::checkpoint::{TensorMap, Weights, atomic_write, write_safetensors};
use dnabert2_model::{BertForSequenceClassification, BertPooler};
use serde::{Deserialize, Serialize};

use crate::apply::{LoraClassifier, apply_lora, mark_trainable};
use crate::config::{LoraConfig, LoraTarget};
use crate::error::{LoraError, Result};
use crate::layer::LoraLinear;

/// File name of the PEFT adapter config.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File name of the PEFT adapter weights.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// Prefix PEFT puts before the wrapped model's own module paths.
pub const PEFT_PREFIX: &str = "base_model.model.";
/// `modules_to_save` written when the head is trained (PEFT matches them as name suffixes:
/// `classifier` and `bert.pooler`).
pub const HEAD_MODULES: [&str; 2] = ["classifier", "pooler"];

/// PEFT's `LoraConfig` as saved in `adapter_config.json` (keys sorted, as PEFT writes them).
///
/// Fields this crate does not implement (`use_dora`, `rank_pattern`, `layers_to_transform`,
/// ...) are written with PEFT's defaults; on load, non-default values are rejected by
/// [`AdapterConfig::to_lora_config`]. Unknown keys from newer PEFT versions are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Per-module alpha overrides (must be empty).
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, serde_json::Value>,
    /// PEFT `auto_mapping` (null).
    #[serde(default)]
    pub auto_mapping: Option<serde_json::Value>,
    /// The base model the adapter was trained on (path or hub id).
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Which biases train: only `"none"` is supported.
    #[serde(default = "default_bias")]
    pub bias: String,
    /// Whether the base stores weights as `[in, out]` (false for `nn.Linear`).
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Whether the adapter was saved for inference.
    #[serde(default)]
    pub inference_mode: bool,
    /// PEFT init scheme; `true` = kaiming-uniform A, zero B.
    #[serde(default = "default_init")]
    pub init_lora_weights: serde_json::Value,
    /// PEFT `layer_replication` (null).
    #[serde(default)]
    pub layer_replication: Option<serde_json::Value>,
    /// PEFT `layers_pattern` (null).
    #[serde(default)]
    pub layers_pattern: Option<serde_json::Value>,
    /// Restrict adapters to some layers (must be null).
    #[serde(default)]
    pub layers_to_transform: Option<serde_json::Value>,
    /// PEFT `loftq_config` (empty).
    #[serde(default)]
    pub loftq_config: BTreeMap<String, serde_json::Value>,
    /// `lora_alpha`.
    pub lora_alpha: serde_json::Number,
    /// `lora_dropout`.
    #[serde(default)]
    pub lora_dropout: f64,
    /// PEFT `megatron_config` (null).
    #[serde(default)]
    pub megatron_config: Option<serde_json::Value>,
    /// PEFT `megatron_core`.
    #[serde(default = "default_megatron_core")]
    pub megatron_core: Option<String>,
    /// Modules trained in full and saved with the adapter (`["classifier", "pooler"]`).
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// Always `"LORA"`.
    pub peft_type: String,
    /// Rank r.
    pub r: usize,
    /// Per-module rank overrides (must be empty).
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, serde_json::Value>,
    /// Hub revision of the base (null).
    #[serde(default)]
    pub revision: Option<String>,
    /// Targeted module name suffixes, e.g. `attention.self.Wqkv`.
    pub target_modules: serde_json::Value,
    /// PEFT task type: `"SEQ_CLS"`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// DoRA (unsupported; must be false).
    #[serde(default)]
    pub use_dora: bool,
    /// rsLoRA scaling `alpha / sqrt(r)`.
    #[serde(default)]
    pub use_rslora: bool,
}

fn default_bias() -> String {
    "none".into()
}
fn default_init() -> serde_json::Value {
    serde_json::Value::Bool(true)
}
fn default_megatron_core() -> Option<String> {
    Some("megatron.core".into())
}

fn alpha_number(alpha: f64) -> serde_json::Number {
    if alpha.fract() == 0.0 && alpha.abs() < 1e15 {
        serde_json::Number::from(alpha as i64)
    } else {
        serde_json::Number::from_f64(alpha).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

impl AdapterConfig {
    /// The PEFT config for `cfg`, trained on `base_model` (a path or hub id).
    pub fn from_lora(cfg: &LoraConfig, base_model: Option<&str>) -> Self {
        Self {
            alpha_pattern: BTreeMap::new(),
            auto_mapping: None,
            base_model_name_or_path: base_model.map(str::to_string),
            bias: default_bias(),
            fan_in_fan_out: false,
            inference_mode: true,
            init_lora_weights: default_init(),
            layer_replication: None,
            layers_pattern: None,
            layers_to_transform: None,
            loftq_config: BTreeMap::new(),
            lora_alpha: alpha_number(cfg.alpha),
            lora_dropout: cfg.dropout,
            megatron_config: None,
            megatron_core: default_megatron_core(),
            modules_to_save: cfg
                .train_head
                .then(|| HEAD_MODULES.iter().map(|s| s.to_string()).collect()),
            peft_type: "LORA".into(),
            r: cfg.r,
            rank_pattern: BTreeMap::new(),
            revision: None,
            target_modules: serde_json::Value::Array(
                cfg.targets
                    .iter()
                    .map(|t| serde_json::Value::String(t.peft_suffix().into()))
                    .collect(),
            ),
            task_type: Some("SEQ_CLS".into()),
            use_dora: false,
            use_rslora: cfg.use_rslora,
        }
    }

    /// The [`LoraConfig`] this file describes; errors (naming `path`) on PEFT features this
    /// crate does not implement or on unknown targets.
    pub fn to_lora_config(&self, path: &Path) -> Result<LoraConfig> {
        let bad = |m: String| LoraError::AdapterConfig {
            path: path.to_path_buf(),
            message: m,
        };
        if self.peft_type != "LORA" {
            return Err(bad(format!(
                "peft_type is `{}`, expected `LORA`",
                self.peft_type
            )));
        }
        if self.bias != "none" {
            return Err(bad(format!(
                "bias `{}` is not supported (only `none`)",
                self.bias
            )));
        }
        if self.fan_in_fan_out || self.use_dora {
            return Err(bad("fan_in_fan_out / use_dora are not supported".into()));
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return Err(bad("rank_pattern / alpha_pattern are not supported".into()));
        }
        if self
            .layers_to_transform
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            return Err(bad("layers_to_transform is not supported".into()));
        }
        let names: Vec<&str> = match &self.target_modules {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| bad(format!("target_modules entry {v} is not a string")))
                })
                .collect::<Result<_>>()?,
            serde_json::Value::String(s) => {
                return Err(bad(format!(
                    "target_modules is the regex `{s}`; only a list of module names is supported"
                )));
            }
            other => return Err(bad(format!("target_modules {other} is not a list"))),
        };
        let mut targets = names
            .iter()
            .map(|n| n.parse::<LoraTarget>())
            .collect::<Result<Vec<_>>>()?;
        targets.sort();
        targets.dedup();
        let head = self.modules_to_save.as_deref().unwrap_or_default();
        let train_head = !head.is_empty();
        if let Some(m) = head.iter().find(|m| !HEAD_MODULES.contains(&m.as_str())) {
            return Err(bad(format!(
                "modules_to_save `{m}` is not supported (only classifier and pooler)"
            )));
        }
        let cfg = LoraConfig {
            r: self.r,
            alpha: self.lora_alpha.as_f64().unwrap_or(f64::NAN),
            dropout: self.lora_dropout,
            targets,
            use_rslora: self.use_rslora,
            train_head,
        };
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        Ok(cfg)
    }

    /// Reads `adapter_config.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| LoraError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| LoraError::AdapterConfig {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Pretty JSON with sorted keys and 2-space indent, as PEFT writes it.
    pub fn to_json_string(&self) -> String {
        // Field order above is alphabetical, matching PEFT's `sort_keys=True`.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// PEFT key prefix of the adapter on the linear at HF path `hf_name`.
///
/// ```
/// assert_eq!(
///     dnabert2_lora::peft::lora_key("bert.encoder.layer.0.mlp.wo", 'A'),
///     "base_model.model.bert.encoder.layer.0.mlp.wo.lora_A.weight"
/// );
/// ```
pub fn lora_key(hf_name: &str, which: char) -> String {
    format!("{PEFT_PREFIX}{hf_name}.lora_{which}.weight")
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
    let data = t.into_data().convert::<f32>();
    let shape = data.shape.to_vec();
    (shape, data.into_vec::<f32>().unwrap_or_default())
}

/// `[in, out]` burn matrix -> PyTorch `[out, in]` entry.
fn torch_matrix<B: Backend>(t: Tensor<B, 2>) -> (Vec<usize>, Vec<f32>) {
    let (s, d) = to_vec(t);
    (vec![s[1], s[0]], transpose(&d, s[0], s[1]))
}

fn put_torch_linear<B: Backend>(out: &mut TensorMap, prefix: &str, l: &Linear<B>) {
    out.insert(format!("{prefix}.weight"), torch_matrix(l.weight.val()));
    if let Some(b) = &l.bias {
        out.insert(format!("{prefix}.bias"), to_vec(b.val()));
    }
}

/// The adapter's tensors under PEFT keys (adapters, plus the head when `train_head`).
pub fn adapter_tensors<B: Backend>(model: &LoraClassifier<B>, train_head: bool) -> TensorMap {
    let mut out = TensorMap::new();
    for (name, lin) in model.bert.linears() {
        if let Some(ad) = &lin.adapter {
            out.insert(lora_key(&name, 'A'), torch_matrix(ad.a.val()));
            out.insert(lora_key(&name, 'B'), torch_matrix(ad.b.val()));
        }
    }
    if train_head {
        put_torch_linear(
            &mut out,
            &format!("{PEFT_PREFIX}classifier"),
            &model.classifier,
        );
        if let Some(p) = &model.bert.pooler {
            put_torch_linear(
                &mut out,
                &format!("{PEFT_PREFIX}bert.pooler.dense"),
                &p.dense,
            );
        }
    }
    out
}

/// Saves the adapter (not the base) to `dir` in the PEFT layout: `adapter_config.json` and
/// `adapter_model.safetensors`, both written atomically. `base_model` is recorded as
/// `base_model_name_or_path`.
pub fn save_adapter<B: Backend>(
    model: &LoraClassifier<B>,
    cfg: &LoraConfig,
    base_model: Option<&str>,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let dir = dir.as_ref();
    let tensors = adapter_tensors(model, cfg.train_head);
    write_safetensors(&tensors, dir.join(ADAPTER_WEIGHTS))?;
    let json = AdapterConfig::from_lora(cfg, base_model).to_json_string();
    atomic_write(&dir.join(ADAPTER_CONFIG), json.as_bytes())?;
    Ok(())
}

/// Loader state: the adapter weights and which keys were used.
struct AdapterWeights {
    path: PathBuf,
    weights: Weights,
    used: Vec<String>,
}

impl AdapterWeights {
    /// The data of `key`, checking it exists with shape `expected`; marks it used.
    fn take(&mut self, key: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (shape, data) = self
            .weights
            .get(key)
            .ok_or_else(|| LoraError::MissingTensor {
                path: self.path.clone(),
                key: key.to_string(),
            })?;
        if shape.as_slice() != expected {
            return Err(LoraError::ShapeMismatch {
                path: self.path.clone(),
                key: key.to_string(),
                found: shape.clone(),
                expected: expected.to_vec(),
            });
        }
        let data = data.clone();
        self.used.push(key.to_string());
        Ok(data)
    }

    /// Takes a PyTorch `[out, in]` matrix as burn `[in, out]` data, checking the shape.
    fn matrix<B: Backend>(
        &mut self,
        key: &str,
        out_dim: usize,
        in_dim: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 2>> {
        let data = self.take(key, &[out_dim, in_dim])?;
        let t = transpose(&data, out_dim, in_dim);
        Ok(Tensor::from_data(
            TensorData::new(t, [in_dim, out_dim]),
            device,
        ))
    }

    fn vector<B: Backend>(
        &mut self,
        key: &str,
        n: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 1>> {
        let data = self.take(key, &[n])?;
        Ok(Tensor::from_data(TensorData::new(data, [n]), device))
    }

    fn linear<B: Backend>(&mut self, prefix: &str, like: &Linear<B>) -> Result<Linear<B>> {
        let [d_in, d_out] = like.weight.dims();
        let device = like.weight.device();
        let weight = self.matrix::<B>(&format!("{prefix}.weight"), d_out, d_in, &device)?;
        let bias = match &like.bias {
            Some(_) => Some(Param::from_tensor(self.vector::<B>(
                &format!("{prefix}.bias"),
                d_out,
                &device,
            )?)),
            None => None,
        };
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias,
        })
    }
}

/// Sets the adapter of one linear (if it has one) from the file.
fn load_one<B: Backend>(w: &mut AdapterWeights, name: &str, lin: &mut LoraLinear<B>) -> Result<()> {
    let [d_in, d_out] = lin.base.weight.dims();
    let Some(ad) = lin.adapter.as_mut() else {
        return Ok(());
    };
    let r = ad.rank();
    let device = ad.a.device();
    let a = w.matrix::<B>(&lora_key(name, 'A'), r, d_in, &device)?;
    let b = w.matrix::<B>(&lora_key(name, 'B'), d_out, r, &device)?;
    ad.a = Param::from_tensor(a);
    ad.b = Param::from_tensor(b);
    Ok(())
}

/// Loads a PEFT LoRA adapter from `dir` onto `model` (the base classifier, e.g. from
/// `dnabert2_model::checkpoint::load_classifier`): applies LoRA with the saved config, then
/// sets every `lora_A` / `lora_B` and, if saved, the pooler and classifier.
///
/// Missing, mis-shaped and unexpected tensors are errors naming the key. Returns the model
/// (trainable marks as after [`apply_lora`]) and the parsed config.
pub fn load_adapter<B: Backend>(
    model: BertForSequenceClassification<B>,
    dir: impl AsRef<Path>,
) -> Result<(LoraClassifier<B>, AdapterConfig)> {
    let dir = dir.as_ref();
    let cfg_path = dir.join(ADAPTER_CONFIG);
    let adapter_cfg = AdapterConfig::read(&cfg_path)?;
    let cfg = adapter_cfg.to_lora_config(&cfg_path)?;
    let path = dir.join(ADAPTER_WEIGHTS);
    let weights = Weights::read(&path)?;
    let mut w = AdapterWeights {
        path: path.clone(),
        weights,
        used: Vec::new(),
    };
    let model = apply_lora(model, &cfg)?;
    let mut failure: Option<LoraError> = None;
    let mut model = model.map_linears(|name, mut lin| {
        if failure.is_none()
            && let Err(e) = load_one(&mut w, name, &mut lin)
        {
            failure = Some(e);
        }
        lin
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if cfg.train_head {
        model.classifier = w.linear(&format!("{PEFT_PREFIX}classifier"), &model.classifier)?;
        if let Some(p) = model.bert.pooler.take() {
            model.bert.pooler = Some(BertPooler {
                dense: w.linear(&format!("{PEFT_PREFIX}bert.pooler.dense"), &p.dense)?,
            });
        }
    }
    let unexpected: Vec<String> = w
        .weights
        .shapes()
        .into_keys()
        .filter(|k| !w.used.contains(k))
        .collect();
    if !unexpected.is_empty() {
        return Err(LoraError::UnexpectedTensors {
            path,
            keys: unexpected,
        });
    }
    Ok((mark_trainable(model, cfg.train_head), adapter_cfg))
}
