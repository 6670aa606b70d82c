//! `--init-from`: the starting weights of continued pretraining (domain-adaptive MLM, the
//! paper's further-pretraining row) from any model directory the project loads: the Hugging
//! Face download of DNABERT-2-117M, a pretraining or fine-tuning output.

use std::path::Path;

use burn::prelude::*;
use dnabert2_model::heads::BertLmHead;
use dnabert2_model::pretrained::{self, Model};
use dnabert2_model::{BertConfig, BertForMaskedLM};

use crate::error::{Result, TrainError};

/// Loads the encoder and MLM head of `dir` (the decoder tied to the word embeddings, as
/// always); a model without an MLM head (a fine-tuned classifier, a bare encoder) gets a
/// freshly initialised head, announced with a warning. The configuration is the
/// directory's own; its vocabulary must equal the corpus tokenizer's `vocab`.
pub fn load<B: Backend>(
    dir: &Path,
    vocab: usize,
    device: &B::Device,
) -> Result<(BertConfig, BertForMaskedLM<B>)> {
    let p = pretrained::load::<B>(&dir.to_string_lossy(), device)?;
    let cfg = p.config.clone();
    if cfg.vocab_size != vocab {
        return Err(TrainError::Config(format!(
            "{}: model vocabulary {} != tokenizer vocabulary {vocab}",
            dir.display(),
            cfg.vocab_size
        )));
    }
    let fresh_head = |what: &str| {
        log::warn!(
            "NOTICE: {} is {what} without an MLM head: continuing with a NEW, randomly \
             initialised MLM head (the encoder is loaded; expect a higher loss at first)",
            dir.display()
        );
        BertLmHead::init(&cfg, device)
    };
    let model = match p.model {
        Model::MaskedLm(m) => m,
        Model::Classifier(c) => {
            let mut bert = c.bert;
            bert.pooler = None;
            BertForMaskedLM {
                cls: fresh_head("a fine-tuned classifier"),
                bert,
            }
        }
        Model::Encoder(mut bert) => {
            bert.pooler = None;
            BertForMaskedLM {
                cls: fresh_head("an encoder"),
                bert,
            }
        }
    };
    log::info!(
        "initialised from {} ({} layers, hidden {}, tokenizer {})",
        dir.display(),
        cfg.num_hidden_layers,
        cfg.hidden_size,
        if p.tokenizer_from_dir {
            "from its tokenizer.json"
        } else {
            "embedded DNABERT-2"
        }
    );
    Ok((cfg, model))
}
