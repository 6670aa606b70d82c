//! Reading and writing the Hugging Face `tokenizer.json` format (BPE models).

use crate::added::AddedToken;
use crate::encoding::{Direction, Padding, PaddingStrategy, Truncation, TruncationStrategy};
use crate::error::{Error, Result};
use crate::post::{PostProcessor, SpecialDef, TemplatePiece};
use crate::pretok::PreTokenizer;
use rustc_hash::FxHashMap;
use serde::de::Error as _;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

/// Everything a `tokenizer.json` describes, in this crate's terms.
pub(crate) struct Parts {
    pub vocab: FxHashMap<String, u32>,
    pub merges: Vec<(String, String)>,
    pub unk_token: Option<String>,
    pub added: Vec<AddedToken>,
    pub pre_tokenizer: PreTokenizer,
    pub post: Option<PostProcessor>,
    pub truncation: Option<Truncation>,
    pub padding: Option<Padding>,
    pub decoder: Value,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    truncation: Option<Value>,
    #[serde(default)]
    padding: Option<Value>,
    #[serde(default)]
    added_tokens: Vec<RawAdded>,
    #[serde(default)]
    normalizer: Option<Value>,
    #[serde(default)]
    pre_tokenizer: Option<Value>,
    #[serde(default)]
    post_processor: Option<Value>,
    #[serde(default)]
    decoder: Option<Value>,
    model: RawModel,
}

#[derive(Deserialize)]
struct RawAdded {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default = "yes")]
    normalized: bool,
    #[serde(default)]
    special: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    fuse_unk: bool,
    #[serde(default)]
    byte_fallback: bool,
    #[serde(default)]
    ignore_merges: bool,
    vocab: FxHashMap<String, u32>,
    merges: Vec<RawMerge>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMerge {
    Line(String),
    Pair(String, String),
}

fn unsupported(source_name: &str, what: impl Into<String>) -> Error {
    Error::Unsupported {
        source_name: source_name.to_string(),
        what: what.into(),
    }
}

fn json_error(source_name: &str, e: &serde_json::Error) -> Error {
    Error::Json {
        source_name: source_name.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

// Long by design: one match over the tokenizer.json sections, each arm a few lines.
/// Parses a `tokenizer.json` text. `source_name` (a path or `<string>`) is used in errors.
pub(crate) fn parse(text: &str, source_name: &str) -> Result<Parts> {
    let raw: RawFile = serde_json::from_str(text).map_err(|e| json_error(source_name, &e))?;
    let m = raw.model;
    if let Some(kind) = &m.kind
        && kind != "BPE"
    {
        return Err(unsupported(
            source_name,
            format!("model type {kind:?} (only BPE)"),
        ));
    }
    if m.dropout.is_some_and(|d| d != 0.0) {
        return Err(unsupported(source_name, "BPE dropout"));
    }
    if m.continuing_subword_prefix
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(unsupported(source_name, "continuing_subword_prefix"));
    }
    if m.end_of_word_suffix
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(unsupported(source_name, "end_of_word_suffix"));
    }
    if m.fuse_unk {
        return Err(unsupported(source_name, "fuse_unk = true"));
    }
    if m.byte_fallback {
        return Err(unsupported(source_name, "byte_fallback = true"));
    }
    if m.ignore_merges {
        return Err(unsupported(source_name, "ignore_merges = true"));
    }
    if raw.normalizer.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(unsupported(source_name, "normalizer (only null)"));
    }
    let mut merges = Vec::with_capacity(m.merges.len());
    for (i, merge) in m.merges.into_iter().enumerate() {
        merges.push(match merge {
            RawMerge::Pair(a, b) => (a, b),
            RawMerge::Line(line) => {
                let parts: Vec<&str> = line.split(' ').collect();
                if parts.len() != 2 {
                    return Err(Error::Invalid(format!(
                        "{source_name}: merge {} ({line:?}) is not two tokens separated by one space",
                        i + 1
                    )));
                }
                (parts[0].to_string(), parts[1].to_string())
            }
        });
    }
    let mut added = Vec::with_capacity(raw.added_tokens.len());
    for t in raw.added_tokens {
        if t.single_word || t.lstrip || t.rstrip {
            return Err(unsupported(
                source_name,
                format!("added token {:?} with single_word/lstrip/rstrip", t.content),
            ));
        }
        added.push(AddedToken {
            id: t.id,
            content: t.content,
            special: t.special,
            normalized: t.normalized,
        });
    }
    let pre_tokenizer = match raw.pre_tokenizer {
        None | Some(Value::Null) => PreTokenizer::None,
        Some(v) => match v.get("type").and_then(Value::as_str) {
            Some("Whitespace") => PreTokenizer::Whitespace,
            other => {
                return Err(unsupported(
                    source_name,
                    format!(
                        "pre_tokenizer {:?} (only Whitespace or null)",
                        other.unwrap_or("?")
                    ),
                ));
            }
        },
    };
    let post = match raw.post_processor {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_post(&v, source_name)?),
    };
    let truncation = match raw.truncation {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            parse_truncation(&v)
                .map_err(|e| Error::Invalid(format!("{source_name}: truncation: {e}")))?,
        ),
    };
    let padding = match raw.padding {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            parse_padding(&v)
                .map_err(|e| Error::Invalid(format!("{source_name}: padding: {e}")))?,
        ),
    };
    Ok(Parts {
        vocab: m.vocab,
        merges,
        unk_token: m.unk_token,
        added,
        pre_tokenizer,
        post,
        truncation,
        padding,
        decoder: raw.decoder.unwrap_or(Value::Null),
    })
}

fn parse_post(v: &Value, source_name: &str) -> Result<PostProcessor> {
    let bad = |what: &str| Error::Invalid(format!("{source_name}: post_processor: {what}"));
    let post = match v.get("type").and_then(Value::as_str) {
        Some("TemplateProcessing") => {
            #[derive(Deserialize)]
            struct RawTemplate {
                single: Vec<Value>,
                pair: Vec<Value>,
                #[serde(default)]
                special_tokens: FxHashMap<String, RawSpecial>,
            }
            #[derive(Deserialize)]
            struct RawSpecial {
                id: String,
                ids: Vec<u32>,
                tokens: Vec<String>,
            }
            let t: RawTemplate =
                serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?;
            let pieces = |list: &[Value]| -> Result<Vec<TemplatePiece>> {
                list.iter()
                    .map(|p| parse_piece(p).map_err(|e| bad(&e)))
                    .collect()
            };
            let mut specials: Vec<SpecialDef> = t
                .special_tokens
                .into_values()
                .map(|s| SpecialDef {
                    name: s.id,
                    ids: s.ids,
                    tokens: s.tokens,
                })
                .collect();
            specials.sort_by(|a, b| a.name.cmp(&b.name));
            PostProcessor {
                single: pieces(&t.single)?,
                pair: pieces(&t.pair)?,
                specials,
            }
        }
        Some("BertProcessing") => {
            #[derive(Deserialize)]
            struct RawBert {
                sep: (String, u32),
                cls: (String, u32),
            }
            let b: RawBert = serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?;
            PostProcessor::bert(b.cls, b.sep)
        }
        other => {
            return Err(unsupported(
                source_name,
                format!(
                    "post_processor {:?} (only TemplateProcessing, BertProcessing or null)",
                    other.unwrap_or("?")
                ),
            ));
        }
    };
    post.validate()
        .map_err(|e| Error::Invalid(format!("{source_name}: post_processor: {e}")))?;
    Ok(post)
}

fn parse_piece(v: &Value) -> std::result::Result<TemplatePiece, String> {
    let type_id = |inner: &Value| -> std::result::Result<u32, String> {
        match inner.get("type_id") {
            None => Ok(0),
            Some(t) => t
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| format!("bad type_id {t}")),
        }
    };
    if let Some(inner) = v.get("SpecialToken") {
        let name = inner
            .get("id")
            .and_then(Value::as_str)
            .ok_or("SpecialToken without id")?;
        Ok(TemplatePiece::Special {
            name: name.to_string(),
            type_id: type_id(inner)?,
        })
    } else if let Some(inner) = v.get("Sequence") {
        let second = match inner.get("id").and_then(Value::as_str) {
            Some("A") => false,
            Some("B") => true,
            other => return Err(format!("Sequence id {other:?} (expected \"A\" or \"B\")")),
        };
        Ok(TemplatePiece::Sequence {
            second,
            type_id: type_id(inner)?,
        })
    } else {
        Err(format!(
            "template piece {v} is neither SpecialToken nor Sequence"
        ))
    }
}

fn direction(v: &Value) -> std::result::Result<Direction, serde_json::Error> {
    match v.as_str() {
        None | Some("Right") => Ok(Direction::Right),
        Some("Left") => Ok(Direction::Left),
        Some(o) => Err(serde_json::Error::custom(format!(
            "unknown direction {o:?}"
        ))),
    }
}

fn parse_truncation(v: &Value) -> std::result::Result<Truncation, serde_json::Error> {
    let max_length = v
        .get("max_length")
        .and_then(Value::as_u64)
        .ok_or_else(|| serde_json::Error::custom("missing max_length"))?;
    let strategy = match v.get("strategy").and_then(Value::as_str) {
        None | Some("LongestFirst") => TruncationStrategy::LongestFirst,
        Some("OnlyFirst") => TruncationStrategy::OnlyFirst,
        Some("OnlySecond") => TruncationStrategy::OnlySecond,
        Some(o) => return Err(serde_json::Error::custom(format!("unknown strategy {o:?}"))),
    };
    Ok(Truncation {
        max_length: usize::try_from(max_length).map_err(serde_json::Error::custom)?,
        strategy,
        direction: direction(v.get("direction").unwrap_or(&Value::Null))?,
        stride: v.get("stride").and_then(Value::as_u64).unwrap_or(0) as usize,
    })
}

fn parse_padding(v: &Value) -> std::result::Result<Padding, serde_json::Error> {
    let strategy = match v.get("strategy") {
        None => PaddingStrategy::BatchLongest,
        Some(Value::String(s)) if s == "BatchLongest" => PaddingStrategy::BatchLongest,
        Some(s) => match s.get("Fixed").and_then(Value::as_u64) {
            Some(n) => PaddingStrategy::Fixed(n as usize),
            None => return Err(serde_json::Error::custom(format!("unknown strategy {s}"))),
        },
    };
    let d = Padding::default();
    Ok(Padding {
        strategy,
        direction: direction(v.get("direction").unwrap_or(&Value::Null))?,
        pad_to_multiple_of: v
            .get("pad_to_multiple_of")
            .and_then(Value::as_u64)
            .map(|n| n as usize),
        pad_id: v
            .get("pad_id")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        pad_type_id: v
            .get("pad_type_id")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        pad_token: v
            .get("pad_token")
            .and_then(Value::as_str)
            .map_or(d.pad_token, str::to_string),
    })
}

// ---------------------------------------------------------------- writing

/// Vocabulary serialised as a JSON object in id order.
struct OrderedVocab<'a>(Vec<(&'a str, u32)>);

impl Serialize for OrderedVocab<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (token, id) in &self.0 {
            map.serialize_entry(token, id)?;
        }
        map.end()
    }
}

/// Merges as `"A B"` lines (readable by every HF version) unless a token contains a space.
struct Merges<'a>(&'a [(String, String)]);

impl Serialize for Merges<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let as_pairs = self
            .0
            .iter()
            .any(|(a, b)| a.contains(' ') || b.contains(' '));
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (a, b) in self.0 {
            if as_pairs {
                seq.serialize_element(&(a, b))?;
            } else {
                seq.serialize_element(&format!("{a} {b}"))?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct OutModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    dropout: Option<f64>,
    unk_token: Option<&'a str>,
    continuing_subword_prefix: Option<&'a str>,
    end_of_word_suffix: Option<&'a str>,
    fuse_unk: bool,
    byte_fallback: bool,
    ignore_merges: bool,
    vocab: OrderedVocab<'a>,
    merges: Merges<'a>,
}

#[derive(Serialize)]
struct OutFile<'a> {
    version: &'static str,
    truncation: Value,
    padding: Value,
    added_tokens: Vec<Value>,
    normalizer: Value,
    pre_tokenizer: Value,
    post_processor: Value,
    decoder: &'a Value,
    model: OutModel<'a>,
}

fn direction_json(d: Direction) -> Value {
    json!(match d {
        Direction::Left => "Left",
        Direction::Right => "Right",
    })
}

fn piece_json(p: &TemplatePiece) -> Value {
    match p {
        TemplatePiece::Special { name, type_id } => {
            json!({"SpecialToken": {"id": name, "type_id": type_id}})
        }
        TemplatePiece::Sequence { second, type_id } => {
            json!({"Sequence": {"id": if *second { "B" } else { "A" }, "type_id": type_id}})
        }
    }
}

// Long by design: writes the tokenizer.json sections in HF's key order, one block each.
/// Serialises a tokenizer in the HF format (pretty-printed, 2-space indent).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    vocab_r: &FxHashMap<u32, String>,
    merges: &[(String, String)],
    unk_token: Option<&str>,
    added: &[AddedToken],
    pre_tokenizer: PreTokenizer,
    post: Option<&PostProcessor>,
    truncation: Option<&Truncation>,
    padding: Option<&Padding>,
    decoder: &Value,
) -> Result<String> {
    let mut vocab: Vec<(&str, u32)> = vocab_r.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    vocab.sort_unstable_by_key(|(_, id)| *id);
    let added_tokens = added
        .iter()
        .map(|t| {
            json!({"id": t.id, "content": t.content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": t.normalized, "special": t.special})
        })
        .collect();
    let post_processor = match post {
        None => Value::Null,
        Some(p) => {
            let mut specials = serde_json::Map::new();
            for s in &p.specials {
                specials.insert(
                    s.name.clone(),
                    json!({"id": s.name, "ids": s.ids, "tokens": s.tokens}),
                );
            }
            json!({
                "type": "TemplateProcessing",
                "single": p.single.iter().map(piece_json).collect::<Vec<_>>(),
                "pair": p.pair.iter().map(piece_json).collect::<Vec<_>>(),
                "special_tokens": specials,
            })
        }
    };
    let truncation = match truncation {
        None => Value::Null,
        Some(t) => json!({
            "direction": direction_json(t.direction),
            "max_length": t.max_length,
            "strategy": match t.strategy {
                TruncationStrategy::LongestFirst => "LongestFirst",
                TruncationStrategy::OnlyFirst => "OnlyFirst",
                TruncationStrategy::OnlySecond => "OnlySecond",
            },
            "stride": t.stride,
        }),
    };
    let padding = match padding {
        None => Value::Null,
        Some(p) => json!({
            "strategy": match p.strategy {
                PaddingStrategy::BatchLongest => json!("BatchLongest"),
                PaddingStrategy::Fixed(n) => json!({"Fixed": n}),
            },
            "direction": direction_json(p.direction),
            "pad_to_multiple_of": p.pad_to_multiple_of,
            "pad_id": p.pad_id,
            "pad_type_id": p.pad_type_id,
            "pad_token": p.pad_token,
        }),
    };
    let file = OutFile {
        version: "1.0",
        truncation,
        padding,
        added_tokens,
        normalizer: Value::Null,
        pre_tokenizer: match pre_tokenizer {
            PreTokenizer::Whitespace => json!({"type": "Whitespace"}),
            PreTokenizer::None => Value::Null,
        },
        post_processor,
        decoder,
        model: OutModel {
            kind: "BPE",
            dropout: None,
            unk_token,
            continuing_subword_prefix: None,
            end_of_word_suffix: None,
            fuse_unk: false,
            byte_fallback: false,
            ignore_merges: false,
            vocab: OrderedVocab(vocab),
            merges: Merges(merges),
        },
    };
    serde_json::to_string_pretty(&file)
        .map_err(|e| Error::Invalid(format!("cannot serialise tokenizer: {e}")))
}
