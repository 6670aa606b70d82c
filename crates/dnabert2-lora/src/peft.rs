//! Adapter files in the Hugging Face PEFT layout: `adapter_config.json` +
//! `adapter_model.safetensors`, readable by `PeftModel.from_pretrained`.
//!
//! Keys are PEFT's saved names (the adapter name `default` stripped):
//! `base_model.model.bert.encoder.layer.{i}.attention.self.Wqkv.lora_A.weight` `[r, d_in]` and
//! `...lora_B.weight` `[d_out, r]`; a trained head is saved as PEFT `modules_to_save`
//! under `base_model.model.classifier.{weight,bias}` and
//! `base_model.model.bert.pooler.dense.{weight,bias}` (PyTorch `[out, in]` layout).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use dnabert2_model::checkpoint::{TensorMap, Weights, atomic_write, named_tensors, write_module};
use dnabert2_model::hf_names::KeyTable;
use dnabert2_model::{BertForSequenceClassification, ModelError};
use serde::{Deserialize, Serialize};

use crate::apply::{LoraClassifier, apply_lora, mark_trainable};
use crate::config::{LoraConfig, LoraTarget};
use crate::error::{LoraError, Result};

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

/// PEFT file keys <-> module paths of a [`LoraClassifier`]: the model's one HF table
/// ([`KeyTable::dnabert2`]) inside PEFT's `base_model.model.` prefix, with `lora_A` /
/// `lora_B` as the adapter's `a` / `b` (stored `[r, in]` / `[out, r]`, i.e. transposed).
///
/// ```
/// let t = dnabert2_lora::peft::peft_table();
/// let k = "base_model.model.bert.encoder.layer.0.attention.self.Wqkv.lora_A.weight";
/// assert_eq!(t.module_key(k), "bert.encoder.layer.0.attention.wqkv.adapter.a");
/// assert_eq!(t.file_key(&t.module_key(k)), k);
/// ```
pub fn peft_table() -> KeyTable {
    KeyTable::dnabert2()
        .with_outer_rule(r"^base_model\.model\.", "", r"^", PEFT_PREFIX)
        .with_rule(
            r"\.lora_A\.weight$",
            ".adapter.a",
            r"\.adapter\.a$",
            ".lora_A.weight",
        )
        .with_rule(
            r"\.lora_B\.weight$",
            ".adapter.b",
            r"\.adapter\.b$",
            ".lora_B.weight",
        )
        .with_transposed("Struct:LoraAdapter", "a")
        .with_transposed("Struct:LoraAdapter", "b")
}

/// Whether PEFT key `key` belongs in an adapter file (adapters, plus the head when `train_head`).
fn saved_key(key: &str, train_head: bool) -> bool {
    let head = |m: &str| key.starts_with(&format!("{PEFT_PREFIX}{m}."));
    key.contains(".lora_A.")
        || key.contains(".lora_B.")
        || (train_head && (head("classifier") || head("bert.pooler")))
}

/// The adapter's tensors under PEFT keys (adapters, plus the head when `train_head`).
pub fn adapter_tensors<B: Backend>(model: &LoraClassifier<B>, train_head: bool) -> TensorMap {
    let mut all = named_tensors(model, &peft_table());
    all.retain(|k, _| saved_key(k, train_head));
    all
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
    let head = cfg.train_head;
    write_module(model, &peft_table(), &dir.join(ADAPTER_WEIGHTS), &[], |k| {
        saved_key(k, head)
    })?;
    let json = AdapterConfig::from_lora(cfg, base_model).to_json_string();
    atomic_write(&dir.join(ADAPTER_CONFIG), json.as_bytes())?;
    Ok(())
}

/// The model crate's checkpoint errors as this crate's (same fields, PEFT keys).
fn peft_err(e: ModelError) -> LoraError {
    match e {
        ModelError::MissingTensor { path, key } => LoraError::MissingTensor { path, key },
        ModelError::ShapeMismatch {
            path,
            key,
            found,
            expected,
        } => LoraError::ShapeMismatch {
            path,
            key,
            found,
            expected,
        },
        ModelError::UnexpectedTensors { path, keys } => LoraError::UnexpectedTensors { path, keys },
        other => LoraError::Model(other),
    }
}

/// Loads a PEFT LoRA adapter from `dir` onto `model` (the base classifier, e.g. from
/// `dnabert2_model::checkpoint::load_classifier`): applies LoRA with the saved config, then
/// sets every `lora_A` / `lora_B` and, if saved, the pooler and classifier, through the
/// model crate's burn-store loader and [`peft_table`].
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
    // Tensors that have no business in this adapter (a head without `modules_to_save`).
    let stray: Vec<String> = weights
        .shapes()
        .into_keys()
        .filter(|k| !saved_key(k, cfg.train_head))
        .collect();
    if !stray.is_empty() {
        return Err(LoraError::UnexpectedTensors { path, keys: stray });
    }
    let mut model = apply_lora(model, &cfg)?;
    let table = peft_table();
    let left = weights.apply_to(&mut model, &table).map_err(peft_err)?;
    let head = cfg.train_head;
    left.require(&path, |k| !saved_key(k, head))
        .map_err(peft_err)?;
    left.reject_unused(&path, |_| false).map_err(peft_err)?;
    Ok((mark_trainable(model, cfg.train_head), adapter_cfg))
}
