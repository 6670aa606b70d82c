//! Loading a `--model` for the scoring commands: a fine-tuned classifier (through the
//! training crate's [`Predictor`], with its label names and truncation), a model with the
//! masked-LM head, or a bare encoder, plus the model's own (untruncated) tokenizer.

use std::path::PathBuf;

use dnabert2_model::checkpoint::{Weights, find_weights};
use dnabert2_model::{BertForMaskedLM, BertModel, pretrained};
use dnabert2_train::predict::Predictor;

use crate::commands::{B, device};
use crate::error::Result;

/// The heads a loaded model has.
pub enum Heads {
    /// A fine-tuned sequence classifier (or regressor).
    Classifier(Box<Predictor<B>>),
    /// The pretraining masked-LM head.
    Mlm(Box<BertForMaskedLM<B>>),
    /// An encoder without heads.
    Encoder(Box<BertModel<B>>),
}

/// A model ready for scoring.
pub struct Loaded {
    /// What it can score.
    pub heads: Heads,
    /// The model's tokenizer, without truncation.
    pub tokenizer: dna_bpe::Tokenizer,
    /// Where it came from.
    pub dir: PathBuf,
}

impl Loaded {
    /// The encoder (under whichever head).
    pub fn encoder(&self) -> &BertModel<B> {
        match &self.heads {
            Heads::Classifier(p) => p.encoder(),
            Heads::Mlm(m) => &m.bert,
            Heads::Encoder(e) => e,
        }
    }
}

/// Loads a model directory or hub id; classifiers are recognised by their
/// `classifier.weight` tensor (read lazily, so the check costs no weight loading).
pub fn load(model: &str) -> Result<Loaded> {
    let dir = pretrained::resolve(model)?;
    let (tokenizer, _) = pretrained::tokenizer_of(&dir)?;
    if Weights::read(find_weights(&dir)?)?.contains("classifier.weight") {
        let p = Predictor::load(&dir, None, &device())?;
        return Ok(Loaded {
            heads: Heads::Classifier(Box::new(p)),
            tokenizer,
            dir,
        });
    }
    let p = pretrained::load::<B>(model, &device())?;
    let heads = match p.model {
        pretrained::Model::MaskedLm(m) => Heads::Mlm(Box::new(m)),
        pretrained::Model::Encoder(e) => Heads::Encoder(Box::new(e)),
        pretrained::Model::Classifier(m) => Heads::Encoder(Box::new(m.bert)),
    };
    Ok(Loaded {
        heads,
        tokenizer: p.tokenizer,
        dir: p.dir,
    })
}
