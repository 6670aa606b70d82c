//! One call from a model directory or a Hugging Face hub id to the model, its tokenizer and
//! its config: [`load`].
//!
//! Accepted sources ([`resolve`]):
//! - a directory with `config.json` and `model.safetensors` or `pytorch_model.bin`: the
//!   Hugging Face download of `zhihan1996/DNABERT-2-117M` (remote-code config with
//!   `auto_map`, no pooler), a `cargo xtask pretrain` checkpoint, a fine-tuned directory
//!   (with `classifier.*`);
//! - a `cargo xtask pretrain` run directory (or its `checkpoints/`): its best checkpoint, else
//!   its newest, as named by `checkpoints/index.json` ([`run_checkpoint`]);
//! - a Hugging Face cache entry, `.../hub/models--ORG--NAME` (its `refs/main` snapshot) or a
//!   snapshot directory itself (`snapshots/REV/`, files symlinked into `blobs/`);
//! - a hub id `ORG/NAME` (optionally `ORG/NAME@REV`), looked up **offline** in the local
//!   cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. Nothing is
//!   downloaded; a missing model is an error saying where it looked and how to download it.
//!
//! The tokenizer is the directory's `tokenizer.json` when present, else the embedded
//! DNABERT-2 tokenizer (with a log notice). Which model is built follows the weights: a
//! classifier when the file has `classifier.weight`, else a masked LM when it has the MLM
//! head, else the bare encoder.
//!
//! ```
//! use dnabert2_model::{BertConfig, BertForMaskedLM, backend::CpuBackend as B, checkpoint, pretrained};
//! let dir = tempfile::tempdir().unwrap();
//! let cfg = BertConfig::new(32, 1, 4, 64);
//! checkpoint::save_mlm(&BertForMaskedLM::<B>::init(&cfg, &Default::default()), &cfg, dir.path()).unwrap();
//! let p = pretrained::load::<B>(dir.path().to_str().unwrap(), &Default::default()).unwrap();
//! assert!(matches!(p.model, pretrained::Model::MaskedLm(_)));
//! assert_eq!(p.encoder().embeddings.word_embeddings.weight.dims(), [4096, 32]);
//! ```

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dna_bpe::Tokenizer;

use crate::checkpoint::{self, Weights};
use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::heads::{BertForMaskedLM, BertForSequenceClassification};
use crate::model::BertModel;

/// The model a directory holds.
// One value per loaded model: the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Model<B: Backend> {
    /// Encoder + MLM head (released DNABERT-2, pretraining outputs).
    MaskedLm(BertForMaskedLM<B>),
    /// Encoder + pooler + classifier (fine-tuned directories).
    Classifier(BertForSequenceClassification<B>),
    /// The encoder alone (with the pooler when the file has one).
    Encoder(BertModel<B>),
}

/// A loaded model directory.
#[derive(Debug)]
pub struct Pretrained<B: Backend> {
    /// The directory the files came from (a snapshot directory for hub ids).
    pub dir: PathBuf,
    /// Its `config.json`.
    pub config: BertConfig,
    /// Its `tokenizer.json`, or the embedded DNABERT-2 tokenizer.
    pub tokenizer: Tokenizer,
    /// Whether the tokenizer came from the directory.
    pub tokenizer_from_dir: bool,
    /// The model.
    pub model: Model<B>,
}

impl<B: Backend> Pretrained<B> {
    /// The encoder, whatever head the model has.
    pub fn encoder(&self) -> &BertModel<B> {
        match &self.model {
            Model::MaskedLm(m) => &m.bert,
            Model::Classifier(m) => &m.bert,
            Model::Encoder(m) => m,
        }
    }

    /// A short description of the heads present (`MLM head`, `classifier (3 labels)`, ...).
    pub fn heads(&self) -> String {
        match &self.model {
            Model::MaskedLm(_) => "MLM head".into(),
            Model::Classifier(m) => format!("pooler + classifier ({} outputs)", m.num_labels),
            Model::Encoder(m) if m.pooler.is_some() => "encoder + pooler".into(),
            Model::Encoder(_) => "encoder only".into(),
        }
    }
}

/// Loads the model, tokenizer and config of `source` (a directory or a hub id; see the
/// module docs) on `device`.
pub fn load<B: Backend>(source: &str, device: &B::Device) -> Result<Pretrained<B>> {
    let dir = resolve(source)?;
    let config = BertConfig::from_file(dir.join("config.json"))?;
    let mut weights = Weights::read(checkpoint::find_weights(&dir)?)?;
    let model = if weights.contains("classifier.weight") {
        let n = weights
            .shape("classifier.weight")
            .and_then(|s| s.first().copied())
            .unwrap_or(config.labels());
        let cfg = config.clone().with_num_labels(n);
        Model::Classifier(checkpoint::classifier_from_weights(
            &mut weights,
            &cfg,
            device,
        )?)
    } else if weights.contains("cls.predictions.decoder.bias") {
        Model::MaskedLm(checkpoint::mlm_from_weights(&mut weights, &config, device)?)
    } else {
        Model::Encoder(checkpoint::encoder_from_weights(
            &mut weights,
            &config,
            device,
        )?)
    };
    let (tokenizer, tokenizer_from_dir) = tokenizer_of(&dir)?;
    Ok(Pretrained {
        dir,
        config,
        tokenizer,
        tokenizer_from_dir,
        model,
    })
}

/// The tokenizer of model directory `dir`: its `tokenizer.json` (`true`), else the embedded
/// DNABERT-2 tokenizer (`false`, with a log notice).
pub fn tokenizer_of(dir: &Path) -> Result<(Tokenizer, bool)> {
    let path = dir.join("tokenizer.json");
    if path.is_file() {
        let tok = Tokenizer::from_file(&path).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        return Ok((tok, true));
    }
    log::info!(
        "{} has no tokenizer.json: using the embedded DNABERT-2 tokenizer",
        dir.display()
    );
    Ok((Tokenizer::dnabert2(), false))
}

/// The masked-LM of `source` (any directory whose weights hold the MLM head, classifier or
/// not) with its tokenizer and directory; a clear error when the head is absent.
pub fn load_masked_lm<B: Backend>(
    source: &str,
    device: &B::Device,
) -> Result<(BertForMaskedLM<B>, Tokenizer, PathBuf)> {
    let dir = resolve(source)?;
    let (model, _) = checkpoint::load_mlm::<B>(&dir, device).map_err(|e| match e {
        ModelError::MissingTensor { path, key } if key.starts_with("cls.") => ModelError::MissingTensor {
            path,
            key: format!("{key} (this model has no MLM head; scoring needs one, e.g. the released DNABERT-2-117M)"),
        },
        other => other,
    })?;
    let (tok, _) = tokenizer_of(&dir)?;
    Ok((model, tok, dir))
}

/// The checkpoint a pretraining run directory stands for: `best`, else `latest`, of the
/// `index.json` in `path` or `path/checkpoints`; `None` when `path` holds a model itself
/// (`config.json`) or is no run directory.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let root = dir.path().join("checkpoints");
/// std::fs::create_dir_all(root.join("step-00000010")).unwrap();
/// std::fs::write(root.join("index.json"), r#"{"latest":"step-00000010","best":null}"#).unwrap();
/// let got = dnabert2_model::pretrained::run_checkpoint(dir.path());
/// assert_eq!(got, Some(root.join("step-00000010")));
/// ```
pub fn run_checkpoint(path: &Path) -> Option<PathBuf> {
    if path.join("config.json").is_file() {
        return None;
    }
    for root in [path.to_path_buf(), path.join("checkpoints")] {
        let Ok(text) = std::fs::read_to_string(root.join("index.json")) else {
            continue;
        };
        let Ok(index) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let name = index["best"].as_str().or_else(|| index["latest"].as_str());
        if let Some(name) = name {
            return Some(root.join(name));
        }
    }
    None
}

/// The directory holding the model files of `source` (see the module docs).
pub fn resolve(source: &str) -> Result<PathBuf> {
    let path = Path::new(source);
    if path.is_dir() {
        if let Some(ck) = run_checkpoint(path) {
            return Ok(ck);
        }
        return Ok(cache_entry_snapshot(path, "main")?.unwrap_or_else(|| path.to_path_buf()));
    }
    let (id, rev) = source.split_once('@').unwrap_or((source, "main"));
    let looks_like_id = id.split('/').count() == 2 && !id.starts_with('.') && !id.contains('\\');
    if !looks_like_id {
        return Err(ModelError::ModelNotFound {
            model: source.to_string(),
            message: "no such directory (and not a hub id of the form ORG/NAME)".into(),
        });
    }
    let roots = cache_roots();
    for root in &roots {
        let entry = root.join(format!("models--{}", id.replace('/', "--")));
        if let Some(dir) = cache_entry_snapshot(&entry, rev)? {
            return Ok(dir);
        }
    }
    let looked: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(ModelError::ModelNotFound {
        model: source.to_string(),
        message: format!(
            "not in the local Hugging Face cache (looked in {}); nothing is downloaded at run \
             time: fetch it once with `huggingface-cli download {id}` (or `hf download {id}`), \
             or pass the model directory",
            looked.join(", ")
        ),
    })
}

/// The Hugging Face hub cache directories, in lookup order.
pub fn cache_roots() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut roots = Vec::new();
    if let Some(p) = env("HF_HUB_CACHE") {
        roots.push(p);
    }
    if let Some(p) = env("HF_HOME") {
        roots.push(p.join("hub"));
    }
    if let Some(home) = env("HOME") {
        roots.push(home.join(".cache/huggingface/hub"));
    }
    roots.dedup();
    roots
}

/// For a cache entry `models--ORG--NAME`, the snapshot of `rev` (a ref name such as `main`,
/// or a commit hash); `None` when `entry` is not a cache entry or has no such snapshot.
fn cache_entry_snapshot(entry: &Path, rev: &str) -> Result<Option<PathBuf>> {
    let snapshots = entry.join("snapshots");
    if !snapshots.is_dir() {
        return Ok(None);
    }
    let ref_file = entry.join("refs").join(rev);
    let commit = if ref_file.is_file() {
        std::fs::read_to_string(&ref_file)
            .map_err(|e| ModelError::ModelNotFound {
                model: entry.display().to_string(),
                message: format!("cannot read {}: {e}", ref_file.display()),
            })?
            .trim()
            .to_string()
    } else {
        rev.to_string()
    };
    let dir = snapshots.join(&commit);
    if dir.is_dir() {
        Ok(Some(dir))
    } else {
        Err(ModelError::ModelNotFound {
            model: entry.display().to_string(),
            message: format!("the cache has no snapshot {commit} (ref `{rev}`)"),
        })
    }
}
