//! Token embeddings: word + token type, LayerNorm, dropout. No position embeddings (ALiBi).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::module::embedding;

use crate::config::BertConfig;

/// HF `bert.embeddings`.
///
/// `pad_token_id` (0 = `[UNK]` in DNABERT-2) is PyTorch's `padding_idx`: its row is used in
/// the forward pass, but lookups of that id send no gradient to the row (the tied MLM
/// decoder still does).
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// `[vocab, D]` (HF `word_embeddings`; tied to the MLM decoder).
    pub word_embeddings: Embedding<B>,
    /// `[type_vocab, D]` (HF `token_type_embeddings`).
    pub token_type_embeddings: Embedding<B>,
    /// HF `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    /// Hidden dropout.
    pub dropout: Dropout,
    /// The embedding `padding_idx`.
    pub pad_token_id: usize,
}

impl<B: Backend> BertEmbeddings<B> {
    /// Random HF-style init: N(0, initializer_range) for both tables.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        let table = |n: usize| Embedding {
            weight: crate::init::normal([n, cfg.hidden_size], cfg.initializer_range, device),
        };
        Self {
            word_embeddings: table(cfg.vocab_size),
            token_type_embeddings: table(cfg.type_vocab_size),
            layer_norm: LayerNormConfig::new(cfg.hidden_size)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(cfg.hidden_dropout_prob).init(),
            pad_token_id: cfg.pad_token_id,
        }
    }

    /// Embeds `input_ids` `[B, S]` with optional `token_type_ids` (default 0) to `[B, S, D]`.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Option<Tensor<B, 2, Int>>,
    ) -> Tensor<B, 3> {
        let words = embedding(self.word_embeddings.weight.val(), input_ids.clone());
        // padding_idx: keep the forward value, route the gradient of pad lookups nowhere.
        let words = if B::ad_enabled(&input_ids.device()) {
            let keep = input_ids
                .clone()
                .not_equal_elem(self.pad_token_id as i64)
                .float()
                .cast(words.dtype())
                .unsqueeze_dim::<3>(2);
            words.clone() * keep.clone() + words.detach() * (keep.neg() + 1.0)
        } else {
            words
        };
        let types = token_type_ids.unwrap_or_else(|| input_ids.zeros_like());
        let types = embedding(self.token_type_embeddings.weight.val(), types);
        self.dropout
            .forward(crate::cpu_autodiff::norm(&self.layer_norm, words + types))
    }
}
