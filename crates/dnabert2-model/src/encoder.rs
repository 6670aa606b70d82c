//! One encoder layer (attention + GEGLU MLP, post-LN) and the layer stack.

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;

use crate::attention::{AttentionBias, BertAttention};
use crate::config::BertConfig;
use crate::linear::LinearLayer;
use crate::mlp::BertGluMlp;

/// HF `bert.encoder.layer.N`.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend, L: Module<B> = Linear<B>> {
    /// HF `attention`.
    pub attention: BertAttention<B, L>,
    /// HF `mlp`.
    pub mlp: BertGluMlp<B, L>,
}

impl<B: Backend> BertLayer<B> {
    /// Random HF-style init.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        Self {
            attention: BertAttention::init(cfg, device),
            mlp: BertGluMlp::init(cfg, device),
        }
    }
}

impl<B: Backend, L: LinearLayer<B>> BertLayer<B, L> {
    /// Runs the layer; see [`BertAttention::forward`] for `bias` and `want_probs`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        bias: &AttentionBias<B>,
        want_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let (x, probs) = self.attention.forward(x, bias, want_probs);
        (self.mlp.forward(x), probs)
    }
}

/// HF `bert.encoder`: the stack of layers. No final LayerNorm.
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend, L: Module<B> = Linear<B>> {
    /// HF `layer.N`.
    pub layer: Vec<BertLayer<B, L>>,
}

impl<B: Backend> BertEncoder<B> {
    /// Random HF-style init.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        Self {
            layer: (0..cfg.num_hidden_layers)
                .map(|_| BertLayer::init(cfg, device))
                .collect(),
        }
    }
}
