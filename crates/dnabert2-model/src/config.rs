//! [`BertConfig`]: the Hugging Face `config.json` of DNABERT-2, with validation and presets.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Model hyper-parameters, read from a Hugging Face `config.json`.
///
/// Unknown keys (`auto_map`, `architectures`, ...) are ignored. Every size of the model
/// comes from here. Call [`BertConfig::validate`] (done by every loader) before building.
///
/// ```
/// use dnabert2_model::BertConfig;
/// let cfg = BertConfig::preset("base").unwrap();
/// assert_eq!(cfg.hidden_size, 768);
/// assert_eq!(cfg.head_dim(), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size (4096 for DNABERT-2).
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Hidden width D.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads H (must divide `hidden_size`).
    pub num_attention_heads: usize,
    /// GEGLU inner width I (`gated_layers` has 2I outputs).
    pub intermediate_size: usize,
    /// Activation name; only `"gelu"` (exact erf GELU) is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout after embeddings, attention output and MLP.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (0.0 in DNABERT-2).
    #[serde(default)]
    pub attention_probs_dropout_prob: f64,
    /// Unused by the model (ALiBi has no length cap); kept for round-trips.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Number of token types (2).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Std of the normal init of Linear/Embedding weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Embedding `padding_idx` (0 = `[UNK]` in DNABERT-2; NOT the tokenizer pad id 3).
    #[serde(default)]
    pub pad_token_id: usize,
    /// Upstream's initial ALiBi table size; informational only.
    #[serde(default = "default_alibi")]
    pub alibi_starting_size: usize,
    /// Classifier dropout; `None` means `hidden_dropout_prob`.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// Number of classification labels (else derived from `id2label`, else 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Label names by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    /// HF `problem_type`: `regression`, `single_label_classification` or
    /// `multi_label_classification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// HF `tie_word_embeddings`: the MLM decoder shares the word embeddings (the default,
    /// and DNABERT-2's). When false the checkpoint's `cls.predictions.decoder.weight` is
    /// loaded as a separate matrix.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
}

fn default_true() -> bool {
    true
}
fn default_vocab() -> usize {
    4096
}
fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_alibi() -> usize {
    512
}

impl BertConfig {
    /// A config with the given sizes and DNABERT-2 defaults for everything else.
    pub fn new(hidden: usize, layers: usize, heads: usize, intermediate: usize) -> Self {
        Self {
            vocab_size: default_vocab(),
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: intermediate,
            hidden_act: default_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: 0.0,
            max_position_embeddings: default_max_pos(),
            type_vocab_size: default_type_vocab(),
            initializer_range: default_init_range(),
            layer_norm_eps: default_eps(),
            pad_token_id: 0,
            alibi_starting_size: default_alibi(),
            classifier_dropout: None,
            num_labels: None,
            id2label: None,
            label2id: None,
            problem_type: None,
            tie_word_embeddings: true,
        }
    }

    /// Named presets used by pretraining:
    /// - `"base"`: the DNABERT-2-117M config (D 768, 12 layers, 12 heads, I 3072);
    /// - `"small"`: D 256, 4 layers, 4 heads, I 1024 (~7.3M parameters);
    /// - `"tiny"`: D 128, 2 layers, 4 heads, I 512 (~1.4M parameters).
    ///
    /// All use vocab 4096, eps 1e-12, dropout 0.1, init range 0.02.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "base" => Ok(Self::new(768, 12, 12, 3072)),
            "small" => Ok(Self::new(256, 4, 4, 1024)),
            "tiny" => Ok(Self::new(128, 2, 4, 512)),
            other => Err(ModelError::InvalidConfig(format!(
                "unknown preset `{other}` (expected tiny, small or base)"
            ))),
        }
    }

    /// Parses and validates a config from JSON text.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(json).map_err(|source| ModelError::ConfigParse {
            path: Default::default(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::ConfigIo {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: Self = serde_json::from_str(&text).map_err(|source| ModelError::ConfigParse {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Serialises to pretty JSON (HF key names).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The `config.json` of an exported model whose top class is `architecture`
    /// (`BertForMaskedLM`, `BertForSequenceClassification` or `BertModel`): every field,
    /// plus `model_type` and the released model's `auto_map` pointing at its remote code on
    /// the hub (`zhihan1996/DNABERT-2-117M--bert_layers.*`), so
    /// `transformers.AutoModel.from_pretrained(dir, trust_remote_code=True)` finds the classes.
    ///
    /// ```
    /// let json = dnabert2_model::BertConfig::new(32, 1, 4, 64).to_hf_json("BertForMaskedLM");
    /// let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    /// assert_eq!(v["model_type"], "bert");
    /// assert_eq!(v["architectures"][0], "BertForMaskedLM");
    /// assert_eq!(v["auto_map"]["AutoModel"], "zhihan1996/DNABERT-2-117M--bert_layers.BertModel");
    /// ```
    pub fn to_hf_json(&self, architecture: &str) -> String {
        const CODE: &str = "zhihan1996/DNABERT-2-117M--";
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.insert("model_type".into(), "bert".into());
            map.insert("architectures".into(), serde_json::json!([architecture]));
            map.insert(
                "auto_map".into(),
                serde_json::json!({
                    "AutoConfig": format!("{CODE}configuration_bert.BertConfig"),
                    "AutoModel": format!("{CODE}bert_layers.BertModel"),
                    "AutoModelForMaskedLM": format!("{CODE}bert_layers.BertForMaskedLM"),
                    "AutoModelForSequenceClassification":
                        format!("{CODE}bert_layers.BertForSequenceClassification"),
                }),
            );
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Checks the config describes a buildable model.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if self.hidden_size == 0
            || self.num_hidden_layers == 0
            || self.num_attention_heads == 0
            || self.intermediate_size == 0
            || self.vocab_size == 0
            || self.type_vocab_size == 0
        {
            return bad(format!(
                "sizes must be positive (hidden {}, layers {}, heads {}, intermediate {}, vocab {}, type vocab {})",
                self.hidden_size,
                self.num_hidden_layers,
                self.num_attention_heads,
                self.intermediate_size,
                self.vocab_size,
                self.type_vocab_size
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act `{}` is not supported (only exact `gelu`)",
                self.hidden_act
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return bad(format!(
                "pad_token_id {} >= vocab_size {}",
                self.pad_token_id, self.vocab_size
            ));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            ("classifier_dropout", self.classifier_dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} {p} is not in [0, 1)"));
            }
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return bad(format!(
                "layer_norm_eps {} must be > 0",
                self.layer_norm_eps
            ));
        }
        if self.labels() == 0 {
            return bad("num_labels must be >= 1".into());
        }
        if let Some(pt) = &self.problem_type
            && !matches!(
                pt.as_str(),
                "regression" | "single_label_classification" | "multi_label_classification"
            )
        {
            return bad(format!("unknown problem_type `{pt}`"));
        }
        Ok(())
    }

    /// Per-head width d = D / H.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of classifier outputs: `num_labels`, else `id2label.len()`, else 2 (HF default).
    pub fn labels(&self) -> usize {
        self.num_labels
            .or_else(|| self.id2label.as_ref().map(|m| m.len()))
            .unwrap_or(2)
    }

    /// Sets the number of labels (and clears stale label maps of another size).
    pub fn with_num_labels(mut self, n: usize) -> Self {
        self.num_labels = Some(n);
        if self.id2label.as_ref().is_some_and(|m| m.len() != n) {
            self.id2label = None;
            self.label2id = None;
        }
        self
    }

    /// Dropout used before the classifier.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// Sets every dropout probability to `p` (e.g. 0.0 for deterministic training tests).
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.hidden_dropout_prob = p;
        self.attention_probs_dropout_prob = p;
        self.classifier_dropout = Some(p);
        self
    }
}
