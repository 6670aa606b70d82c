//! The one table between Hugging Face tensor names and this crate's module paths.
//!
//! HF names (`bert.encoder.layer.0.attention.self.Wqkv.weight`, as in the released
//! checkpoint) differ from the burn module paths (`bert.encoder.layer.0.attention.wqkv.weight`)
//! in a handful of renames, listed once in [`KeyTable::dnabert2`]. Loading applies the table
//! file -> module with burn-store's [`KeyRemapper`]; saving applies it module -> file; error
//! messages map module paths back so they always name the key as it is in the file.
//! `dnabert2-lora` extends the same table with PEFT's prefix and `lora_A`/`lora_B` names.
//!
//! Layout: PyTorch stores `Linear` weights `[out, in]`, burn `[in, out]`; [`HfLayout`] is the
//! burn-store adapter that transposes exactly those (and any extra 2-D parameters a table
//! names, such as LoRA's `A`/`B`) in both directions.
//!
//! ```
//! use dnabert2_model::hf_names::KeyTable;
//! let t = KeyTable::dnabert2();
//! let hf = "bert.encoder.layer.3.attention.output.LayerNorm.weight";
//! assert_eq!(t.module_key(hf), "bert.encoder.layer.3.attention.layer_norm.gamma");
//! assert_eq!(t.file_key(&t.module_key(hf)), hf);
//! ```

use burn::tensor::TensorData;
use burn_store::{KeyRemapper, ModuleAdapter, TensorSnapshot};
use regex::Regex;

/// One rename: `(file pattern, module replacement, module pattern, file replacement)`.
/// Loading applies the rules in order, saving in reverse order.
type Rule = (Regex, String, Regex, String);

/// HF names <-> module paths, plus which 2-D tensors are stored transposed.
#[derive(Debug, Clone)]
pub struct KeyTable {
    rules: Vec<Rule>,
    layout: HfLayout,
}

/// The DNABERT-2 renames. Everything else (`mlp.gated_layers`, `mlp.wo`, embeddings,
/// `bert.pooler.dense`, `classifier`) has the same name on both sides.
const DNABERT2_RULES: &[[&str; 4]] = &[
    [
        r"\.attention\.self\.Wqkv\.",
        ".attention.wqkv.",
        r"\.attention\.wqkv\.",
        ".attention.self.Wqkv.",
    ],
    [
        r"\.attention\.output\.dense\.",
        ".attention.dense.",
        r"\.attention\.dense\.",
        ".attention.output.dense.",
    ],
    [
        r"\.attention\.output\.LayerNorm\.",
        ".attention.layer_norm.",
        r"\.attention\.layer_norm\.",
        ".attention.output.LayerNorm.",
    ],
    [
        r"^bert\.embeddings\.LayerNorm\.",
        "bert.embeddings.layer_norm.",
        r"^bert\.embeddings\.layer_norm\.",
        "bert.embeddings.LayerNorm.",
    ],
    [
        r"^cls\.predictions\.transform\.dense\.",
        "cls.dense.",
        r"^cls\.dense\.",
        "cls.predictions.transform.dense.",
    ],
    [
        r"^cls\.predictions\.transform\.LayerNorm\.",
        "cls.layer_norm.",
        r"^cls\.layer_norm\.",
        "cls.predictions.transform.LayerNorm.",
    ],
    [
        r"^cls\.predictions\.decoder\.bias$",
        "cls.decoder_bias",
        r"^cls\.decoder_bias$",
        "cls.predictions.decoder.bias",
    ],
    [
        r"^cls\.predictions\.decoder\.weight$",
        "cls.decoder_weight",
        r"^cls\.decoder_weight$",
        "cls.predictions.decoder.weight",
    ],
    // LayerNorm parameters: PyTorch weight/bias, burn gamma/beta.
    [
        r"(layer_norm|layernorm)\.weight$",
        "$1.gamma",
        r"(layer_norm|layernorm)\.gamma$",
        "$1.weight",
    ],
    [
        r"(layer_norm|layernorm)\.bias$",
        "$1.beta",
        r"(layer_norm|layernorm)\.beta$",
        "$1.bias",
    ],
];

fn rule(fp: &str, mr: &str, mp: &str, fr: &str) -> Rule {
    (compile(fp), mr.to_string(), compile(mp), fr.to_string())
}

fn compile(pattern: &str) -> Regex {
    // The patterns are compile-time constants of this crate and of dnabert2-lora, covered
    // by the tests below; a typo is a programming error, not bad input.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad key-table pattern {pattern}: {e}"))
}

impl KeyTable {
    /// The DNABERT-2 table (HF checkpoint names <-> `BertForMaskedLM` /
    /// `BertForSequenceClassification` / `BertModel` paths).
    pub fn dnabert2() -> Self {
        let mut t = Self {
            rules: Vec::new(),
            layout: HfLayout::default(),
        };
        for [fp, mr, mp, fr] in DNABERT2_RULES {
            t = t.with_rule(fp, mr, mp, fr);
        }
        t
    }

    /// Adds a rename: `file_pattern` -> `module_replacement` when loading and
    /// `module_pattern` -> `file_replacement` when saving (regex syntax, `$1` groups).
    /// Rules added later run after the existing ones when loading and before them when
    /// saving, so an extension can wrap the table (e.g. strip a prefix first).
    pub fn with_rule(
        mut self,
        file_pattern: &str,
        module_replacement: &str,
        module_pattern: &str,
        file_replacement: &str,
    ) -> Self {
        let r = rule(
            file_pattern,
            module_replacement,
            module_pattern,
            file_replacement,
        );
        self.rules.push(r);
        self
    }

    /// Like [`Self::with_rule`] but the rule runs *first* when loading (and last when saving).
    pub fn with_outer_rule(
        mut self,
        file_pattern: &str,
        module_replacement: &str,
        module_pattern: &str,
        file_replacement: &str,
    ) -> Self {
        let r = rule(
            file_pattern,
            module_replacement,
            module_pattern,
            file_replacement,
        );
        self.rules.insert(0, r);
        self
    }

    /// Also stores parameter `param` of modules of type `module_type` (burn's
    /// `"Struct:Name"`) transposed in the file.
    pub fn with_transposed(mut self, module_type: &str, param: &str) -> Self {
        self.layout
            .transposed
            .push((module_type.to_string(), param.to_string()));
        self
    }

    /// The module path of file key `key`.
    pub fn module_key(&self, key: &str) -> String {
        let mut k = key.to_string();
        for (fp, mr, _, _) in &self.rules {
            k = fp.replace_all(&k, mr.as_str()).into_owned();
        }
        k
    }

    /// The file key of module path `path`.
    pub fn file_key(&self, path: &str) -> String {
        let mut k = path.to_string();
        for (_, _, mp, fr) in self.rules.iter().rev() {
            k = mp.replace_all(&k, fr.as_str()).into_owned();
        }
        k
    }

    /// The load direction as a burn-store remapper (rules in order).
    pub fn to_module(&self) -> KeyRemapper {
        KeyRemapper::from_compiled_patterns(
            self.rules
                .iter()
                .map(|(fp, mr, _, _)| (fp.clone(), mr.clone()))
                .collect(),
        )
    }

    /// The save direction as a burn-store remapper (rules in reverse order).
    pub fn to_file(&self) -> KeyRemapper {
        KeyRemapper::from_compiled_patterns(
            self.rules
                .iter()
                .rev()
                .map(|(_, _, mp, fr)| (mp.clone(), fr.clone()))
                .collect(),
        )
    }

    /// The layout adapter of this table.
    pub fn layout(&self) -> HfLayout {
        self.layout.clone()
    }

    /// Whether the module parameter at `path` (of module type `module_type`) is stored
    /// transposed; used to report shapes in file layout.
    pub fn is_transposed(&self, module_type: &str, path: &str) -> bool {
        let param = path.rsplit('.').next().unwrap_or(path);
        self.layout.transposes(module_type, param)
    }
}

/// burn-store adapter between PyTorch and burn layouts: transposes 2-D `Linear` weights
/// (and the extra parameters a [`KeyTable`] names). Transposition is its own inverse, so one
/// adapter serves loading and saving. Unlike burn-store's `PyTorchToBurnAdapter` it renames
/// nothing: names are the [`KeyTable`]'s job alone.
#[derive(Debug, Clone)]
pub struct HfLayout {
    transposed: Vec<(String, String)>,
}

impl Default for HfLayout {
    fn default() -> Self {
        Self {
            transposed: vec![("Struct:Linear".into(), "weight".into())],
        }
    }
}

impl HfLayout {
    fn transposes(&self, module_type: &str, param: &str) -> bool {
        self.transposed
            .iter()
            .any(|(m, p)| m == module_type && p == param)
    }
}

impl ModuleAdapter for HfLayout {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let param = snapshot
            .path_stack
            .as_ref()
            .and_then(|p| p.last())
            .cloned()
            .unwrap_or_default();
        let module = snapshot.module_type().unwrap_or_default();
        if snapshot.shape.len() != 2 || !self.transposes(&module, &param) {
            return snapshot.clone();
        }
        let (rows, cols) = (snapshot.shape[0], snapshot.shape[1]);
        let inner = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            std::rc::Rc::new(move || {
                let data = inner()?;
                let bytes = data.dtype.size();
                let src = data.as_bytes();
                let mut out = vec![0u8; src.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        let (s, d) = ((r * cols + c) * bytes, (c * rows + r) * bytes);
                        out[d..d + bytes].copy_from_slice(&src[s..s + bytes]);
                    }
                }
                Ok(TensorData::from_bytes_vec(out, [cols, rows], data.dtype))
            }),
            snapshot.dtype,
            [cols, rows].into(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hf_name_round_trips() {
        let t = KeyTable::dnabert2();
        for hf in [
            "bert.embeddings.word_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight",
            "bert.embeddings.LayerNorm.weight",
            "bert.embeddings.LayerNorm.bias",
            "bert.encoder.layer.11.attention.self.Wqkv.weight",
            "bert.encoder.layer.11.attention.self.Wqkv.bias",
            "bert.encoder.layer.0.attention.output.dense.weight",
            "bert.encoder.layer.0.attention.output.LayerNorm.bias",
            "bert.encoder.layer.0.mlp.gated_layers.weight",
            "bert.encoder.layer.0.mlp.wo.bias",
            "bert.encoder.layer.0.mlp.layernorm.weight",
            "bert.pooler.dense.weight",
            "cls.predictions.transform.dense.weight",
            "cls.predictions.transform.LayerNorm.weight",
            "cls.predictions.decoder.bias",
            "cls.predictions.decoder.weight",
            "classifier.bias",
        ] {
            let m = t.module_key(hf);
            assert_eq!(t.file_key(&m), hf, "{hf} -> {m}");
        }
        assert_eq!(
            t.module_key("bert.encoder.layer.0.mlp.layernorm.bias"),
            "bert.encoder.layer.0.mlp.layernorm.beta"
        );
        assert_eq!(
            t.module_key("cls.predictions.decoder.bias"),
            "cls.decoder_bias"
        );
    }
}
