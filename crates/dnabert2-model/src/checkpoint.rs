//! Hugging Face checkpoints on burn-store: load `model.safetensors` / `pytorch_model.bin`
//! under their HF names, save safetensors that upstream PyTorch loads back.
//!
//! Loading builds the model as a skeleton of lazy placeholders (no weights allocated), turns
//! the file into burn-store [`TensorSnapshot`]s, renames them with the one [`KeyTable`]
//! (burn-store's `KeyRemapper`), and lets burn-store's applier put each tensor in place,
//! transposing PyTorch `[out, in]` Linear weights on the way ([`HfLayout`]). The applier's
//! report becomes typed errors naming the file and the key as written in the file: a
//! missing tensor, a tensor of the wrong shape (in file layout), tensors the model does not
//! use.
//!
//! Memory: safetensors files are memory-mapped and each tensor's pages are released right
//! after it is copied out, so the peak is the model plus one tensor (about 1.05x the file
//! for the 117M model; `examples/load_checkpoint.rs` measures it). burn-store's own
//! `SafetensorsStore` keeps every page it touched mapped until the end (2x); it is used for
//! saving, where it streams tensors to disk. `.bin` files are read with burn-store's
//! `PytorchStore` (zip pickle, tensors read lazily).
//!
//! ```
//! use dnabert2_model::{BertConfig, BertForMaskedLM, backend::CpuBackend as B, checkpoint};
//! let dir = tempfile::tempdir().unwrap();
//! let cfg = BertConfig::new(32, 1, 4, 64);
//! let model = BertForMaskedLM::<B>::init(&cfg, &Default::default());
//! checkpoint::save_mlm(&model, &cfg, dir.path()).unwrap();
//! let (back, _) = checkpoint::load_mlm::<B>(dir.path(), &Default::default()).unwrap();
//! let w = checkpoint::Weights::read(dir.path().join("model.safetensors")).unwrap();
//! assert!(w.contains("bert.encoder.layer.0.attention.self.Wqkv.weight"));
//! # let _ = back;
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::DType;
use burn_store::{
    ApplyError, ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore, TensorSnapshot,
    TensorSnapshotError,
};

use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::heads::{BertForMaskedLM, BertForSequenceClassification, BertPooler};
use crate::hf_names::KeyTable;
use crate::linear::{LinearLayer, init_linear};
use crate::model::BertModel;

/// HF key of the tied MLM decoder weight (absent from our safetensors).
pub const DECODER_WEIGHT: &str = "cls.predictions.decoder.weight";
/// HF key of the word embeddings.
pub const WORD_EMBEDDINGS: &str = "bert.embeddings.word_embeddings.weight";

/// Named tensors in HF layout: `name -> (shape, data)`.
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A checkpoint's tensors by HF key, read lazily (nothing is copied until a tensor is used).
#[derive(Clone)]
pub struct Weights {
    path: PathBuf,
    tensors: BTreeMap<String, TensorSnapshot>,
}

impl fmt::Debug for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Weights")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

fn read_err(path: &Path, message: impl ToString) -> ModelError {
    ModelError::CheckpointRead {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Parses a file key into burn-store's path stack.
fn snapshot_path(key: &str) -> Vec<String> {
    key.split('.').map(str::to_string).collect()
}

/// Wraps a snapshot so its data comes out as f32 (files may hold f16, bf16 or f64).
fn as_f32(snap: TensorSnapshot, key: &str) -> TensorSnapshot {
    if snap.dtype == DType::F32 {
        return TensorSnapshot::from_closure(
            snap.clone_data_fn(),
            DType::F32,
            snap.shape.clone(),
            snapshot_path(key),
            Vec::new(),
            Default::default(),
        );
    }
    let inner = snap.clone_data_fn();
    TensorSnapshot::from_closure(
        Rc::new(move || Ok(inner()?.convert::<f32>())),
        DType::F32,
        snap.shape.clone(),
        snapshot_path(key),
        Vec::new(),
        Default::default(),
    )
}

impl Weights {
    /// Opens a `.safetensors` file, or otherwise a PyTorch `.bin`/`.pt` pickle.
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
        })
    }

    /// Builds from in-memory tensors (`name -> (shape, data)`); `path` is used in errors.
    pub fn from_map(path: impl Into<PathBuf>, tensors: TensorMap) -> Self {
        let tensors = tensors
            .into_iter()
            .map(|(k, (shape, data))| {
                let snap = TensorSnapshot::from_data(
                    TensorData::new(data, shape),
                    snapshot_path(&k),
                    Vec::new(),
                    Default::default(),
                );
                (k, snap)
            })
            .collect();
        Self {
            path: path.into(),
            tensors,
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
            .map(|(k, s)| (k.clone(), s.shape.to_vec()))
            .collect()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// The shape of `key`, if present.
    pub fn shape(&self, key: &str) -> Option<Vec<usize>> {
        self.tensors.get(key).map(|s| s.shape.to_vec())
    }

    /// Reads one tensor as f32 `(shape, data)`; errors name the file and key.
    pub fn tensor(&self, key: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let snap = self
            .tensors
            .get(key)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                key: key.to_string(),
            })?;
        let data = snap
            .to_data()
            .map_err(|e| read_err(&self.path, format!("{key}: {e}")))?;
        let shape = data.shape.to_vec();
        let values = data
            .into_vec::<f32>()
            .map_err(|e| read_err(&self.path, format!("{key}: {e:?}")))?;
        Ok((shape, values))
    }

    /// Reads one tensor, `None` when absent or unreadable (see [`Self::tensor`] for errors).
    pub fn get(&self, key: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.tensor(key).ok()
    }

    /// Keeps only the keys for which `keep` is true (e.g. drop a stale classifier).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.tensors.retain(|k, _| keep(k));
    }

    /// Puts these tensors into `module` through `table` (file keys -> module paths, layout),
    /// with burn-store's applier. Returns what the applier could not match, as file keys:
    /// module parameters with no tensor (`missing`) and tensors with no parameter (`unused`).
    /// Shape mismatches and unreadable tensors are errors naming the file key, with shapes
    /// in file layout.
    pub fn apply_to<B: Backend, M: ModuleSnapshot<B>>(
        &self,
        module: &mut M,
        table: &KeyTable,
    ) -> Result<Unmatched> {
        let by_module: HashMap<String, &str> = self
            .tensors
            .keys()
            .map(|k| (table.module_key(k), k.as_str()))
            .collect();
        let (snapshots, _) = table
            .to_module()
            .remap(self.tensors.values().cloned().collect());
        let report = module.apply(snapshots, None, Some(Box::new(table.layout())), false);
        let file_key = |module_path: &str| {
            by_module
                .get(module_path)
                .map_or_else(|| table.file_key(module_path), |k| k.to_string())
        };
        if let Some(e) = report.errors.first() {
            return Err(match e {
                ApplyError::ShapeMismatch {
                    path,
                    expected,
                    found,
                } => {
                    let key = file_key(path);
                    let file_shape = self.shape(&key).unwrap_or_else(|| found.to_vec());
                    let (found, mut expected) = (found.to_vec(), expected.to_vec());
                    // The adapter transposed it: report the expected shape in file layout too.
                    if found.len() == 2 && found != file_shape {
                        expected.reverse();
                    }
                    ModelError::ShapeMismatch {
                        path: self.path.clone(),
                        key,
                        found: file_shape,
                        expected,
                    }
                }
                ApplyError::DTypeMismatch { path, .. }
                | ApplyError::AdapterError { path, .. }
                | ApplyError::LoadError { path, .. } => {
                    read_err(&self.path, format!("{}: {e}", file_key(path)))
                }
            });
        }
        Ok(Unmatched {
            missing: report.missing.iter().map(|(p, _)| file_key(p)).collect(),
            unused: report.unused.iter().map(|p| file_key(p)).collect(),
        })
    }
}

/// What [`Weights::apply_to`] could not match, as file keys (sorted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unmatched {
    /// Module parameters with no tensor in the file.
    pub missing: Vec<String>,
    /// Tensors in the file with no parameter in the module.
    pub unused: Vec<String>,
}

impl Unmatched {
    /// Errors on the first missing key not accepted by `optional`.
    pub fn require(&self, path: &Path, optional: impl Fn(&str) -> bool) -> Result<()> {
        match self.missing.iter().find(|k| !optional(k)) {
            Some(key) => Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                key: key.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Errors on unused keys not accepted by `ignore` (`position_ids` buffers are always ignored).
    pub fn reject_unused(&self, path: &Path, ignore: impl Fn(&str) -> bool) -> Result<()> {
        let keys: Vec<String> = self
            .unused
            .iter()
            .filter(|k| !k.ends_with("position_ids") && !ignore(k))
            .cloned()
            .collect();
        if keys.is_empty() {
            Ok(())
        } else {
            Err(ModelError::UnexpectedTensors {
                path: path.to_path_buf(),
                keys,
            })
        }
    }

    /// Whether any missing key starts with `prefix`.
    pub fn misses(&self, prefix: &str) -> bool {
        self.missing.iter().any(|k| k.starts_with(prefix))
    }
}

// ---------------------------------------------------------------- reading files

/// A read-only memory map whose pages are handed back to the kernel after each tensor is
/// copied out, so reading the whole file never holds more than one tensor's pages.
struct Mapped(memmap2::Mmap);

impl Mapped {
    fn copy(&self, range: std::ops::Range<usize>) -> Vec<u8> {
        let out = self.0[range.clone()].to_vec();
        #[cfg(unix)]
        // SAFETY: the map is read-only and private: MADV_DONTNEED only drops this range's
        // pages from the process (they are re-read from the file on the next access), and
        // no reference into the range outlives this function (the bytes were copied above).
        unsafe {
            let _ = self.0.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                range.len(),
            );
        }
        out
    }
}

fn read_safetensors(path: &Path) -> Result<BTreeMap<String, TensorSnapshot>> {
    use safetensors::Dtype as St;
    let file = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    // SAFETY: the file is mapped read-only; like every reader of a memory-mapped file we
    // rely on it not being truncated while the model loads.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| read_err(path, e))?;
    let map = Arc::new(Mapped(map));
    let (header_len, meta) =
        safetensors::SafeTensors::read_metadata(&map.0).map_err(|e| read_err(path, e))?;
    let data_start = 8 + header_len;
    let mut out = BTreeMap::new();
    for (name, info) in meta.tensors() {
        let dtype = match info.dtype {
            St::F32 => DType::F32,
            St::F64 => DType::F64,
            St::F16 => DType::F16,
            St::BF16 => DType::BF16,
            other => {
                return Err(ModelError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    key: name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        let (start, end) = info.data_offsets;
        let range = data_start + start..data_start + end;
        if range.end > map.0.len() {
            return Err(read_err(
                path,
                format!("{name}: data past the end of the file"),
            ));
        }
        let shape = info.shape.clone();
        let (map, data_shape) = (Arc::clone(&map), shape.clone());
        let data_fn: Rc<dyn Fn() -> std::result::Result<TensorData, TensorSnapshotError>> =
            Rc::new(move || {
                Ok(TensorData::from_bytes_vec(
                    map.copy(range.clone()),
                    data_shape.clone(),
                    dtype,
                ))
            });
        let snap = TensorSnapshot::from_closure(
            data_fn,
            dtype,
            shape.into(),
            snapshot_path(&name),
            Vec::new(),
            Default::default(),
        );
        out.insert(name.clone(), as_f32(snap, &name));
    }
    Ok(out)
}

fn read_pytorch(path: &Path) -> Result<BTreeMap<String, TensorSnapshot>> {
    let mut store = PytorchStore::from_file(path);
    let all = store.get_all_snapshots().map_err(|e| read_err(path, e))?;
    let mut out = BTreeMap::new();
    for (name, snap) in all {
        if !snap.dtype.is_float() {
            if name.ends_with("position_ids") {
                continue;
            }
            return Err(ModelError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: name.clone(),
                dtype: format!("{:?}", snap.dtype),
            });
        }
        out.insert(name.clone(), as_f32(snap.clone(), name));
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

/// With a tied config, a decoder weight in the file is ignored (as HF does); say so when it
/// is not a copy of the word embeddings, since the user then probably wants it untied.
fn warn_if_untied_decoder(w: &Weights, cfg: &BertConfig) -> Result<()> {
    if !cfg.tie_word_embeddings || !w.contains(DECODER_WEIGHT) {
        return Ok(());
    }
    let (_, dec) = w.tensor(DECODER_WEIGHT)?;
    if w.get(WORD_EMBEDDINGS).is_some_and(|(_, e)| e != dec) {
        log::warn!(
            "{}: {DECODER_WEIGHT} differs from {WORD_EMBEDDINGS} but the config ties them \
             (tie_word_embeddings, default true), so the decoder uses the word embeddings, as \
             HF does; set \"tie_word_embeddings\": false in config.json to load the separate decoder",
            w.path.display()
        );
    }
    Ok(())
}

/// Builds a [`BertForMaskedLM`] from `weights` (pooler/classifier keys are ignored).
pub fn mlm_from_weights<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertForMaskedLM<B>> {
    cfg.validate()?;
    let mut model = crate::init::deferred(|| BertForMaskedLM::init(cfg, device));
    let left = w.apply_to(&mut model, &KeyTable::dnabert2())?;
    left.require(&w.path, |_| false)?;
    warn_if_untied_decoder(w, cfg)?;
    left.reject_unused(&w.path, |k| {
        k.starts_with("bert.pooler.") || k.starts_with("classifier.") || k == DECODER_WEIGHT
    })?;
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
    let mut model = crate::init::deferred(|| BertForSequenceClassification::init(cfg, device));
    let left = w.apply_to(&mut model, &KeyTable::dnabert2())?;
    left.require(&w.path, |k| {
        k.starts_with("bert.pooler.") || k.starts_with("classifier.")
    })?;
    if left.misses("bert.pooler.") {
        log::warn!(
            "{} has no pooler (bert.pooler.dense.*): the pooler is RANDOMLY INITIALISED (as \
             upstream does for the pretrained checkpoint); fine-tune before use",
            w.path.display()
        );
        model.bert.pooler = Some(BertPooler::init(cfg, device));
    }
    if left.misses("classifier.") {
        let (d, n) = (cfg.hidden_size, cfg.labels());
        log::warn!(
            "{} has no classifier: initialising a random [{d}, {n}] classifier",
            w.path.display()
        );
        model.classifier = init_linear(d, n, true, cfg.initializer_range, device);
    }
    left.reject_unused(&w.path, |k| k.starts_with("cls."))?;
    Ok(model)
}

/// Builds a bare [`BertModel`] (with the pooler when the checkpoint has one); head keys are
/// ignored.
pub fn encoder_from_weights<B: Backend>(
    w: &mut Weights,
    cfg: &BertConfig,
    device: &B::Device,
) -> Result<BertModel<B>> {
    cfg.validate()?;
    let with_pooler =
        w.contains("bert.pooler.dense.weight") || w.contains("bert.pooler.dense.bias");
    let mut model = crate::init::deferred(|| BertModel::init(cfg, with_pooler, device));
    // The encoder's paths carry no `bert.` prefix: strip it from the file keys first.
    let table = KeyTable::dnabert2().with_rule(r"^bert\.", "", r"^", "bert.");
    let left = w.apply_to(&mut model, &table)?;
    left.require(&w.path, |_| false)?;
    left.reject_unused(&w.path, |k| {
        k.starts_with("cls.") || k.starts_with("classifier.")
    })?;
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

/// Writes `module`'s tensors as safetensors under the file names of `table` (in file
/// layout), with `{"format": "pt"}` metadata (plus `extra`), atomically: burn-store's
/// `SafetensorsStore` streams the tensors into a temporary sibling, which is renamed over
/// `path` once complete. `keep(file_key)` selects the tensors written.
pub fn write_module<B: Backend, M: ModuleSnapshot<B>>(
    module: &M,
    table: &KeyTable,
    path: &Path,
    extra: &[(&str, String)],
    keep: impl Fn(&str) -> bool,
) -> Result<()> {
    let paths: Vec<String> = module
        .collect(None, None, false)
        .iter()
        .map(TensorSnapshot::full_path)
        .collect();
    let kept: Vec<String> = paths
        .iter()
        .filter(|p| keep(&table.file_key(p)))
        .cloned()
        .collect();
    dna_bpe::atomic::ensure_parent(path).map_err(|e| write_err(path, e))?;
    dna_bpe::atomic::write_with(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp)
            .with_to_adapter(table.layout())
            .remap(table.to_file())
            .clear_metadata()
            .metadata("format", "pt")
            .overwrite(true);
        if kept.len() < paths.len() {
            store = store.with_full_paths(kept.clone());
        }
        for (k, v) in extra {
            store = store.metadata(*k, v.clone());
        }
        module.save_into(&mut store).map_err(std::io::Error::other)
    })
    .map_err(|e| write_err(path, e))
}

/// Named tensors of `module` under the file names of `table`, in file layout, as f32.
pub fn named_tensors<B: Backend, M: ModuleSnapshot<B>>(module: &M, table: &KeyTable) -> TensorMap {
    let snaps = module.collect(None, Some(Box::new(table.layout())), false);
    let (snaps, _) = table.to_file().remap(snaps);
    snaps
        .into_iter()
        .filter_map(|s| {
            let data = s.to_data().ok()?.convert::<f32>();
            let shape = data.shape.to_vec();
            Some((s.full_path(), (shape, data.into_vec::<f32>().ok()?)))
        })
        .collect()
}

/// The encoder's tensors under HF names (`bert.*`), LoRA-style linears merged.
pub fn encoder_tensors<B: Backend, L: LinearLayer<B>>(m: &BertModel<B, L>) -> TensorMap {
    let table = KeyTable::dnabert2().with_rule(r"^bert\.", "", r"^", "bert.");
    named_tensors(&m.merged(), &table)
}

/// The MLM model's tensors under HF names (the decoder weight only when untied).
pub fn mlm_tensors<B: Backend, L: LinearLayer<B>>(m: &BertForMaskedLM<B, L>) -> TensorMap {
    named_tensors(&m.merged(), &KeyTable::dnabert2())
}

/// The classifier's tensors under HF names.
pub fn classifier_tensors<B: Backend, L: LinearLayer<B>>(
    m: &BertForSequenceClassification<B, L>,
) -> TensorMap {
    named_tensors(&m.merged(), &KeyTable::dnabert2())
}

/// Writes `tensors` as F32 safetensors atomically. When the map holds the MLM head, the
/// header records the decoder tie as the fixtures do. For in-memory tables (e.g. reference
/// outputs); models are saved with [`save_mlm`] / [`save_classifier`] / [`save_encoder`].
pub fn write_safetensors(tensors: &TensorMap, path: impl AsRef<Path>) -> Result<()> {
    write_safetensors_with(tensors, path, &[])
}

/// [`write_safetensors`] with extra header metadata entries (e.g. row ids).
pub fn write_safetensors_with(
    tensors: &TensorMap,
    path: impl AsRef<Path>,
    extra: &[(&str, String)],
) -> Result<()> {
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
    if let Some((k, v)) = tie_metadata(tensors.keys().map(String::as_str)) {
        meta.insert(k.into(), v);
    }
    for (k, v) in extra {
        meta.insert((*k).to_string(), v.clone());
    }
    let buf = safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| write_err(path, e))?;
    atomic_write(path, &buf)
}

/// `tied_weights` metadata when the keys hold an MLM head without its (tied) decoder weight.
fn tie_metadata<'a>(
    mut keys: impl Iterator<Item = &'a str> + Clone,
) -> Option<(&'static str, String)> {
    let has_head = keys.clone().any(|k| k == "cls.predictions.decoder.bias");
    let has_decoder = keys.any(|k| k == DECODER_WEIGHT);
    (has_head && !has_decoder).then(|| {
        (
            "tied_weights",
            format!("{DECODER_WEIGHT}={WORD_EMBEDDINGS}"),
        )
    })
}

/// Writes `bytes` to `path` atomically (see [`dna_bpe::atomic`]), creating the directory,
/// as a [`ModelError`].
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    dna_bpe::atomic::ensure_parent(path)
        .and_then(|()| dna_bpe::atomic::write(path, bytes))
        .map_err(|e| write_err(path, e))
}

fn save_dir<B: Backend, M: ModuleSnapshot<B>>(
    module: &M,
    table: &KeyTable,
    cfg: &BertConfig,
    architecture: &str,
    dir: &Path,
) -> Result<()> {
    let keys: Vec<String> = module
        .collect(None, None, false)
        .iter()
        .map(|s| table.file_key(&s.full_path()))
        .collect();
    let extra: Vec<(&str, String)> = tie_metadata(keys.iter().map(String::as_str))
        .into_iter()
        .collect();
    write_module(
        module,
        table,
        &dir.join("model.safetensors"),
        &extra,
        |_| true,
    )?;
    atomic_write(
        &dir.join("config.json"),
        cfg.to_hf_json(architecture).as_bytes(),
    )
}

/// Saves an MLM model as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_mlm<B: Backend, L: LinearLayer<B>>(
    m: &BertForMaskedLM<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    save_dir(
        &m.merged(),
        &KeyTable::dnabert2(),
        cfg,
        "BertForMaskedLM",
        dir.as_ref(),
    )
}

/// Saves a classifier as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_classifier<B: Backend, L: LinearLayer<B>>(
    m: &BertForSequenceClassification<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let cfg = cfg.clone().with_num_labels(m.num_labels);
    save_dir(
        &m.merged(),
        &KeyTable::dnabert2(),
        &cfg,
        "BertForSequenceClassification",
        dir.as_ref(),
    )
}

/// Saves a bare encoder as `dir/config.json` + `dir/model.safetensors` (HF names).
pub fn save_encoder<B: Backend, L: LinearLayer<B>>(
    m: &BertModel<B, L>,
    cfg: &BertConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let table = KeyTable::dnabert2().with_rule(r"^bert\.", "", r"^", "bert.");
    save_dir(&m.merged(), &table, cfg, "BertModel", dir.as_ref())
}
