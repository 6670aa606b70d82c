//! Hugging Face checkpoints: load `model.safetensors` / `pytorch_model.bin` with the HF key
//! names of SPEC.md section 4, and save safetensors that upstream PyTorch loads back.
//!
//! Loading is explicit: every tensor the model needs is looked up by its HF key, its shape
//! checked against the config, PyTorch `[out, in]` Linear weights transposed to burn's
//! `[in, out]`. Missing, mis-shaped and unknown tensors are typed errors naming the key.
//! `.bin` files are parsed with burn-store's `PytorchReader`, safetensors with the
//! `safetensors` crate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::DType;

use crate::attention::BertAttention;
use crate::config::BertConfig;
use crate::embeddings::BertEmbeddings;
use crate::encoder::{BertEncoder, BertLayer};
use crate::error::{ModelError, Result};
use crate::heads::{BertForMaskedLM, BertForSequenceClassification, BertLmHead, BertPooler};
use crate::linear::{LinearLayer, init_linear, linear_from_torch, transpose};
use crate::mlp::BertGluMlp;
use crate::model::BertModel;

/// HF key of the tied MLM decoder weight (absent from our safetensors).
pub const DECODER_WEIGHT: &str = "cls.predictions.decoder.weight";
/// HF key of the word embeddings.
pub const WORD_EMBEDDINGS: &str = "bert.embeddings.word_embeddings.weight";

/// Named tensors in HF layout: `name -> (shape, data)`.
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A checkpoint's tensors as f32, by HF key.
#[derive(Debug, Clone)]
pub struct Weights {
    path: PathBuf,
    tensors: TensorMap,
    used: BTreeSet<String>,
}

impl Weights {
    /// Reads a `.safetensors` file, or otherwise a PyTorch `.bin`/`.pt` pickle.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let is_st = path.extension().is_some_and(|e| e == "safetensors");
        let tensors = if is_st {
            read_safetensors(path)?
        } else {
            read_pytorch(path)?
        };
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            used: BTreeSet::new(),
        })
    }

    /// Builds from in-memory tensors (`name -> (shape, data)`); `path` is used in errors.
    pub fn from_map(path: impl Into<PathBuf>, tensors: TensorMap) -> Self {
        Self {
            path: path.into(),
            tensors,
            used: BTreeSet::new(),
        }
    }

    /// The file these weights came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All keys with their shapes.
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.tensors
            .iter()
            .map(|(k, (s, _))| (k.clone(), s.clone()))
            .collect()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Raw access to one tensor (`shape`, data).
    pub fn get(&self, key: &str) -> Option<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(key)
    }

    /// Takes `key`, checking its shape.
    fn take(&mut self, key: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let (shape, data) = self
            .tensors
            .get(key)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                key: key.to_string(),
            })?;
        if shape.as_slice() != expected {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                key: key.to_string(),
                found: shape.clone(),
                expected: expected.to_vec(),
            });
        }
        self.used.insert(key.to_string());
        Ok(data.clone())
    }

    /// Errors on keys neither used nor matched by `ignore`.
    fn check_unused(&self, ignore: &[&str]) -> Result<()> {
        let unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k))
            .filter(|k| !k.ends_with("position_ids"))
            .filter(|k| !ignore.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect();
        if unexpected.is_empty() {
            Ok(())
        } else {
            Err(ModelError::UnexpectedTensors {
                path: self.path.clone(),
                keys: unexpected,
            })
        }
    }
}

fn read_err(path: &Path, message: impl ToString) -> ModelError {
    ModelError::CheckpointRead {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_safetensors(path: &Path) -> Result<TensorMap> {
    use safetensors::Dtype as St;
    let bytes = std::fs::read(path).map_err(|e| read_err(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| read_err(path, e))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        let dtype = match view.dtype() {
            St::F32 => DType::F32,
            St::F64 => DType::F64,
            St::F16 => DType::F16,
            St::BF16 => DType::BF16,
            other => {
                return Err(ModelError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    key: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        let shape = view.shape().to_vec();
        let data = TensorData::from_bytes_vec(view.data().to_vec(), shape.clone(), dtype)
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| read_err(path, format!("{name}: {e:?}")))?;
        out.insert(name.to_string(), (shape, data));
    }
    Ok(out)
}

fn read_pytorch(path: &Path) -> Result<TensorMap> {
    let reader = burn_store::pytorch::PytorchReader::new(path).map_err(|e| read_err(path, e))?;
    let mut out = BTreeMap::new();
    for (name, snap) in reader.into_tensors() {
        if !snap.dtype.is_float() {
            if name.ends_with("position_ids") {
                continue;
            }
            return Err(ModelError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: name,
                dtype: format!("{:?}", snap.dtype),
            });
        }
        let shape = snap.shape.to_vec();
        let data = snap
            .to_data()
            .map_err(|e| read_err(path, format!("{name}: {e}")))?
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| read_err(path, format!("{name}: {e:?}")))?;
        out.insert(name, (shape, data));
    }
    Ok(out)
}

/// Finds `model.safetensors` (preferred) or `pytorch_model.bin` in `dir`.
pub fn find_weights(dir: impl AsRef<Path>) -> Result<PathBuf> {
    let dir = dir.as_ref();
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::NoCheckpoint(dir.to_path_buf()))
}

// ---------------------------------------------------------------- building from weights

fn param1<B: Backend>(data: Vec<f32>, device: &B::Device) -> Param<Tensor<B, 1>> {
    let n = data.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(data, [n]), device))
}

fn linear<B: Backend>(
    w: &mut Weights,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &B::Device,
) -> Result<Linear<B>> {
    let weight = w.take(&format!("{prefix}.weight"), &[d_out, d_in])?;
    let b = if bias {
        Some(w.take(&format!("{prefix}.bias"), &[d_out])?)
    } else {
        None
    };
    Ok(linear_from_torch(&weight, d_out, d_in, b, device))
}

fn layer_norm<B: Backend>(
    w: &mut Weights,
    prefix: &str,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<LayerNorm<B>> {
    let d = cfg.hidden_size;
    let mut ln = LayerNormConfig::new(d)
        .with_epsilon(cfg.layer_norm_eps)
        .init(device);
    ln.gamma = param1(w.take(&format!("{prefix}.weight"), &[d])?, device);
    ln.beta = Some(param1(w.take(&format!("{prefix}.bias"), &[d])?, device));
    Ok(ln)
}

fn table<B: Backend>(
    w: &mut Weights,
    key: &str,
    n: usize,
    d: usize,
    device: &B::Device,
) -> Result<Embedding<B>> {
    let data = w.take(key, &[n, d])?;
    Ok(Embedding {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(data, [n, d]), device)),
    })
}

/// How to treat a missing pooler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooler {
    /// Do not build one.
    None,
    /// Load it; if absent, initialise randomly and warn.
    LoadOrInit,
    /// Load it if present.
    IfPresent,
}

fn bert<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    pooler: Pooler,
    device: &B::Device,
) -> Result<BertModel<B>> {
    let d = cfg.hidden_size;
    let mut emb = BertEmbeddings::init(cfg, device);
    emb.word_embeddings = table(w, WORD_EMBEDDINGS, cfg.vocab_size, d, device)?;
    emb.token_type_embeddings = table(
        w,
        "bert.embeddings.token_type_embeddings.weight",
        cfg.type_vocab_size,
        d,
        device,
    )?;
    emb.layer_norm = layer_norm(w, "bert.embeddings.LayerNorm", cfg, device)?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let p = format!("bert.encoder.layer.{i}");
        let mut att = BertAttention::init(cfg, device);
        att.wqkv = linear(
            w,
            &format!("{p}.attention.self.Wqkv"),
            d,
            3 * d,
            true,
            device,
        )?;
        att.dense = linear(
            w,
            &format!("{p}.attention.output.dense"),
            d,
            d,
            true,
            device,
        )?;
        att.layer_norm = layer_norm(w, &format!("{p}.attention.output.LayerNorm"), cfg, device)?;
        let i_size = cfg.intermediate_size;
        let mut mlp = BertGluMlp::init(cfg, device);
        mlp.gated_layers = linear(
            w,
            &format!("{p}.mlp.gated_layers"),
            d,
            2 * i_size,
            false,
            device,
        )?;
        mlp.wo = linear(w, &format!("{p}.mlp.wo"), i_size, d, true, device)?;
        mlp.layernorm = layer_norm(w, &format!("{p}.mlp.layernorm"), cfg, device)?;
        layers.push(BertLayer {
            attention: att,
            mlp,
        });
    }
    let has_pooler = w.contains("bert.pooler.dense.weight") || w.contains("bert.pooler.dense.bias");
    let pooler = match (pooler, has_pooler) {
        (Pooler::None, _) | (Pooler::IfPresent, false) => None,
        (_, true) => Some(BertPooler {
            dense: linear(w, "bert.pooler.dense", d, d, true, device)?,
        }),
        (Pooler::LoadOrInit, false) => {
            eprintln!(
                "WARNING: {} has no pooler (bert.pooler.dense.*): the pooler is RANDOMLY \
                 INITIALISED (as upstream does for the pretrained checkpoint); fine-tune before use",
                w.path.display()
            );
            Some(BertPooler::init(cfg, device))
        }
    };
    Ok(BertModel {
        embeddings: emb,
        encoder: BertEncoder { layer: layers },
        pooler,
        num_heads: cfg.num_attention_heads,
    })
}

fn lm_head<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertLmHead<B>> {
    let (d, v) = (cfg.hidden_size, cfg.vocab_size);
    let decoder_weight = if !cfg.tie_word_embeddings {
        // Untied head: the key must be present (typed error naming it otherwise).
        let dec = w.take(DECODER_WEIGHT, &[v, d])?;
        Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(dec, [v, d]),
            device,
        )))
    } else {
        if w.contains(DECODER_WEIGHT) {
            let dec = w.take(DECODER_WEIGHT, &[v, d])?;
            if w.get(WORD_EMBEDDINGS).is_some_and(|(_, e)| e != &dec) {
                eprintln!(
                    "WARNING: {}: {DECODER_WEIGHT} differs from {WORD_EMBEDDINGS} but the \
                     config ties them (tie_word_embeddings, default true), so the decoder uses \
                     the word embeddings, as HF does; set \"tie_word_embeddings\": false in \
                     config.json to load the separate decoder",
                    w.path.display()
                );
            }
        }
        None
    };
    Ok(BertLmHead {
        dense: linear(w, "cls.predictions.transform.dense", d, d, true, device)?,
        layer_norm: layer_norm(w, "cls.predictions.transform.LayerNorm", cfg, device)?,
        decoder_bias: param1(w.take("cls.predictions.decoder.bias", &[v])?, device),
        decoder_weight,
    })
}

/// Builds a [`BertForMaskedLM`] from `weights` (pooler/classifier keys are ignored).
pub fn mlm_from_weights<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertForMaskedLM<B>> {
    cfg.validate()?;
    let model = BertForMaskedLM {
        bert: bert(w, cfg, Pooler::None, device)?,
        cls: lm_head(w, cfg, device)?,
    };
    w.check_unused(&["bert.pooler.", "classifier."])?;
    Ok(model)
}

/// Builds a [`BertForSequenceClassification`] from `weights` with `cfg.labels()` outputs.
/// A missing pooler or classifier is initialised randomly, with a loud warning.
pub fn classifier_from_weights<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertForSequenceClassification<B>> {
    cfg.validate()?;
    let bert = bert(w, cfg, Pooler::LoadOrInit, device)?;
    let n = cfg.labels();
    let classifier = if w.contains("classifier.weight") {
        linear(w, "classifier", cfg.hidden_size, n, true, device)?
    } else {
        eprintln!(
            "WARNING: {} has no classifier: initialising a random [{}, {n}] classifier",
            w.path.display(),
            cfg.hidden_size
        );
        init_linear(cfg.hidden_size, n, true, cfg.initializer_range, device)
    };
    w.check_unused(&["cls."])?;
    Ok(BertForSequenceClassification::from_parts(
        bert, classifier, cfg,
    ))
}

/// Builds a bare [`BertModel`] (with the pooler when the checkpoint has one); head keys are
/// ignored.
pub fn encoder_from_weights<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertModel<B>> {
    cfg.validate()?;
    let model = bert(w, cfg, Pooler::IfPresent, device)?;
    w.check_unused(&["cls.", "classifier."])?;
    Ok(model)
}

fn open_dir(dir: &Path) -> Result<(BertConfig, Weights)> {
    let cfg = BertConfig::from_file(dir.join("config.json"))?;
    let w = Weights::read(find_weights(dir)?)?;
    Ok((cfg, w))
}

/// Loads a masked-LM model from a directory with `config.json` and `model.safetensors` or
/// `pytorch_model.bin`.
pub fn load_mlm<B: Backend>(
    dir: impl AsRef<Path>,
    device: &B::Device,
) -> Result<(BertForMaskedLM<B>, BertConfig)> {
    let (cfg, mut w) = open_dir(dir.as_ref())?;
    Ok((mlm_from_weights(&mut w, &cfg, device)?, cfg))
}

/// Loads a sequence classifier from a model directory; `num_labels` overrides the config.
pub fn load_classifier<B: Backend>(
    dir: impl AsRef<Path>,
    num_labels: Option<usize>,
    device: &B::Device,
) -> Result<(BertForSequenceClassification<B>, BertConfig)> {
    let (mut cfg, mut w) = open_dir(dir.as_ref())?;
    if let Some(n) = num_labels {
        cfg = cfg.with_num_labels(n);
    }
    Ok((classifier_from_weights(&mut w, &cfg, device)?, cfg))
}

/// Loads the bare encoder from a model directory.
pub fn load_encoder<B: Backend>(
    dir: impl AsRef<Path>,
    device: &B::Device,
) -> Result<(BertModel<B>, BertConfig)> {
    let (cfg, mut w) = open_dir(dir.as_ref())?;
    Ok((encoder_from_weights(&mut w, &cfg, device)?, cfg))
}

// ---------------------------------------------------------------- saving

fn write_err(path: &Path, m: impl ToString) -> ModelError {
    ModelError::Write {
        path: path.to_path_buf(),
        message: m.to_string(),
    }
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
    let data = t.into_data().convert::<f32>();
    let shape = data.shape.to_vec();
    // convert::<f32> guarantees the element type, so into_vec cannot fail.
    (shape, data.into_vec::<f32>().unwrap_or_default())
}

fn put_linear<B: Backend, L: LinearLayer<B>>(out: &mut TensorMap, prefix: &str, l: &L) {
    let (shape, w) = to_vec(l.effective_weight());
    let (d_in, d_out) = (shape[0], shape[1]);
    out.insert(
        format!("{prefix}.weight"),
        (vec![d_out, d_in], transpose(&w, d_in, d_out)),
    );
    if let Some(b) = l.effective_bias() {
        out.insert(format!("{prefix}.bias"), to_vec(b));
    }
}

fn put_ln<B: Backend>(out: &mut TensorMap, prefix: &str, ln: &LayerNorm<B>) {
    out.insert(format!("{prefix}.weight"), to_vec(ln.gamma.val()));
    if let Some(b) = &ln.beta {
        out.insert(format!("{prefix}.bias"), to_vec(b.val()));
    }
}

/// The encoder's tensors under HF names (`bert.*`), LoRA-style linears merged.
pub fn encoder_tensors<B: Backend, L: LinearLayer<B>>(m: &BertModel<B, L>) -> TensorMap {
    let mut out = TensorMap::new();
    let e = &m.embeddings;
    out.insert(
        WORD_EMBEDDINGS.into(),
        to_vec(e.word_embeddings.weight.val()),
    );
    out.insert(
        "bert.embeddings.token_type_embeddings.weight".into(),
        to_vec(e.token_type_embeddings.weight.val()),
    );
    put_ln(&mut out, "bert.embeddings.LayerNorm", &e.layer_norm);
    for (i, l) in m.encoder.layer.iter().enumerate() {
        let p = format!("bert.encoder.layer.{i}");
        put_linear(
            &mut out,
            &format!("{p}.attention.self.Wqkv"),
            &l.attention.wqkv,
        );
        put_linear(
            &mut out,
            &format!("{p}.attention.output.dense"),
            &l.attention.dense,
        );
        put_ln(
            &mut out,
            &format!("{p}.attention.output.LayerNorm"),
            &l.attention.layer_norm,
        );
        put_linear(
            &mut out,
            &format!("{p}.mlp.gated_layers"),
            &l.mlp.gated_layers,
        );
        put_linear(&mut out, &format!("{p}.mlp.wo"), &l.mlp.wo);
        put_ln(&mut out, &format!("{p}.mlp.layernorm"), &l.mlp.layernorm);
    }
    if let Some(p) = &m.pooler {
        put_linear(&mut out, "bert.pooler.dense", &p.dense);
    }
    out
}

/// The MLM model's tensors under HF names (the decoder weight only when untied).
pub fn mlm_tensors<B: Backend, L: LinearLayer<B>>(m: &BertForMaskedLM<B, L>) -> TensorMap {
    let mut out = encoder_tensors(&m.bert);
    put_linear(&mut out, "cls.predictions.transform.dense", &m.cls.dense);
    put_ln(
        &mut out,
        "cls.predictions.transform.LayerNorm",
        &m.cls.layer_norm,
    );
    out.insert(
        "cls.predictions.decoder.bias".into(),
        to_vec(m.cls.decoder_bias.val()),
    );
    if let Some(dec) = &m.cls.decoder_weight {
        out.insert(DECODER_WEIGHT.into(), to_vec(dec.val()));
    }
    out
}

/// The classifier's tensors under HF names.
pub fn classifier_tensors<B: Backend, L: LinearLayer<B>>(
    m: &BertForSequenceClassification<B, L>,
) -> TensorMap {
    let mut out = encoder_tensors(&m.bert);
    put_linear(&mut out, "classifier", &m.classifier);
    out
}

/// Writes `tensors` as F32 safetensors atomically (temp file + rename). When the map holds
/// the MLM head, the header records the decoder tie as the fixtures do.
pub fn write_safetensors(tensors: &TensorMap, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, (s, d))| {
            (
                k.clone(),
                d.iter().flat_map(|v| v.to_le_bytes()).collect(),
                s.clone(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, b, s)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| write_err(path, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    if tensors.contains_key("cls.predictions.decoder.bias") && !tensors.contains_key(DECODER_WEIGHT)
    {
        meta.insert(
            "tied_weights".into(),
            format!("{DECODER_WEIGHT}={WORD_EMBEDDINGS}"),
        );
    }
    let buf = safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| write_err(path, e))?;
    atomic_write(path, &buf)
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| write_err(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| write_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_err(path, e)
    })
}

fn save_dir(tensors: &TensorMap, cfg: &BertConfig, dir: &Path) -> Result<()> {
    write_safetensors(tensors, dir.join("model.safetensors"))?;
    atomic_write(&dir.join("config.json"), cfg.to_json_string().as_bytes())
}

/// Saves an MLM model as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_mlm<B: Backend, L: LinearLayer<B>>(
    m: &BertForMaskedLM<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    save_dir(&mlm_tensors(m), cfg, dir.as_ref())
}

/// Saves a classifier as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_classifier<B: Backend, L: LinearLayer<B>>(
    m: &BertForSequenceClassification<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let cfg = cfg.clone().with_num_labels(m.num_labels);
    save_dir(&classifier_tensors(m), &cfg, dir.as_ref())
}

/// Saves a bare encoder as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_encoder<B: Backend, L: LinearLayer<B>>(
    m: &BertModel<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    save_dir(&encoder_tensors(m), cfg, dir.as_ref())
}
