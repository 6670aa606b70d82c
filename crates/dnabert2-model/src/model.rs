//! [`BertModel`]: embeddings + encoder (+ optional pooler), with opt-in all-layer outputs.

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;

use crate::attention::AttentionBias;
use crate::config::BertConfig;
use crate::embeddings::BertEmbeddings;
use crate::encoder::{BertEncoder, BertLayer};
use crate::heads::BertPooler;
use crate::input::BertInput;
use crate::linear::LinearLayer;

/// Opt-in extra outputs of [`BertModel::forward_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    /// Return the embedding output and every layer's output (pad rows zeroed).
    pub output_hidden_states: bool,
    /// Return every layer's attention probabilities `[B, H, S, S]` (explicit softmax path).
    pub output_attentions: bool,
    /// Use burn's fused `attention` op with a `[B, H, S, S]` bias even where the CPU kernel
    /// ([`crate::cpu_attention`]) would run; for comparisons and benchmarks.
    pub tensor_attention: bool,
}

/// Everything [`BertModel::forward_with`] computes.
#[derive(Debug, Clone)]
pub struct BertOutput<B: Backend> {
    /// Final hidden states `[B, S, D]`; rows at pad positions are exactly zero.
    pub last_hidden_state: Tensor<B, 3>,
    /// `tanh(dense(h[:, 0]))` `[B, D]` when the model has a pooler.
    pub pooler_output: Option<Tensor<B, 2>>,
    /// Embedding output then each layer's output (`num_layers + 1` tensors), if requested.
    pub hidden_states: Option<Vec<Tensor<B, 3>>>,
    /// Each layer's attention probabilities, if requested.
    pub attentions: Option<Vec<Tensor<B, 4>>>,
}

/// The DNABERT-2 encoder (HF `bert`). `L` is the type of the four LoRA-targetable linears.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend, L: Module<B> = Linear<B>> {
    /// HF `embeddings`.
    pub embeddings: BertEmbeddings<B>,
    /// HF `encoder`.
    pub encoder: BertEncoder<B, L>,
    /// HF `pooler` (absent in pretrained MLM checkpoints).
    pub pooler: Option<BertPooler<B>>,
    /// Number of attention heads.
    pub num_heads: usize,
}

impl<B: Backend> BertModel<B> {
    /// Random HF-style init; `with_pooler` adds the pooler.
    pub fn init(cfg: &BertConfig, with_pooler: bool, device: &B::Device) -> Self {
        Self {
            embeddings: BertEmbeddings::init(cfg, device),
            encoder: BertEncoder::init(cfg, device),
            pooler: with_pooler.then(|| BertPooler::init(cfg, device)),
            num_heads: cfg.num_attention_heads,
        }
    }
}

/// HF names of the four swappable linears of layer `i`, in visiting order.
pub fn layer_linear_names(i: usize) -> [String; 4] {
    let p = format!("bert.encoder.layer.{i}");
    [
        format!("{p}.attention.self.Wqkv"),
        format!("{p}.attention.output.dense"),
        format!("{p}.mlp.gated_layers"),
        format!("{p}.mlp.wo"),
    ]
}

impl<B: Backend, L: LinearLayer<B>> BertModel<B, L> {
    /// Final hidden states `[B, S, D]` (pad rows zero).
    pub fn forward(&self, input: BertInput<B>) -> Tensor<B, 3> {
        self.forward_with(input, ForwardOptions::default())
            .last_hidden_state
    }

    /// Forward with opt-in outputs. The ALiBi + mask term is prepared once and shared by all
    /// layers: slopes and a `[B, S]` key mask for the CPU attention kernel (f32 CPU backends
    /// without gradient tracking, see [`crate::cpu_attention`]), otherwise one `[B, H, S, S]`
    /// bias tensor for burn's attention op.
    pub fn forward_with(&self, input: BertInput<B>, opts: ForwardOptions) -> BertOutput<B> {
        let mut x = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids);
        let dtype = x.dtype();
        let keep = input.attention_mask.clone().float().unsqueeze_dim::<3>(2);
        let keep = crate::precision::cast_to(keep, dtype);
        let bias = AttentionBias::new(
            input.attention_mask,
            self.num_heads,
            opts.output_attentions || opts.tensor_attention,
            dtype,
        );
        let mut hidden = opts
            .output_hidden_states
            .then(|| vec![x.clone() * keep.clone()]);
        let mut attentions = opts.output_attentions.then(Vec::new);
        for layer in &self.encoder.layer {
            let (y, probs) = layer.forward(x, &bias, opts.output_attentions);
            x = y;
            if let Some(h) = hidden.as_mut() {
                h.push(x.clone() * keep.clone());
            }
            if let (Some(a), Some(p)) = (attentions.as_mut(), probs) {
                a.push(p);
            }
        }
        drop(bias);
        let last = x * keep;
        let pooler_output = self.pooler.as_ref().map(|p| p.forward(last.clone()));
        BertOutput {
            last_hidden_state: last,
            pooler_output,
            hidden_states: hidden,
            attentions,
        }
    }

    /// This encoder with plain linears holding the effective (e.g. LoRA-merged) weights,
    /// as saved to HF checkpoints.
    pub fn merged(&self) -> BertModel<B> {
        self.clone()
            .map_linears(|_, l| crate::linear::merged_linear(&l))
    }

    /// Replaces every swappable linear (`Wqkv`, `attention.output.dense`, `gated_layers`,
    /// `wo`) with `f(hf_name, old)`, e.g. to wrap them in LoRA adapters. Names are the HF
    /// module paths such as `bert.encoder.layer.3.mlp.wo`.
    pub fn map_linears<L2, F>(self, mut f: F) -> BertModel<B, L2>
    where
        L2: LinearLayer<B>,
        F: FnMut(&str, L) -> L2,
    {
        let layer = self
            .encoder
            .layer
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let [qkv, dense, gated, wo] = layer_linear_names(i);
                let att = l.attention;
                let mlp = l.mlp;
                BertLayer {
                    attention: crate::attention::BertAttention {
                        wqkv: f(&qkv, att.wqkv),
                        dense: f(&dense, att.dense),
                        layer_norm: att.layer_norm,
                        attn_dropout: att.attn_dropout,
                        dropout: att.dropout,
                        num_heads: att.num_heads,
                    },
                    mlp: crate::mlp::BertGluMlp {
                        gated_layers: f(&gated, mlp.gated_layers),
                        wo: f(&wo, mlp.wo),
                        layernorm: mlp.layernorm,
                        dropout: mlp.dropout,
                    },
                }
            })
            .collect();
        BertModel {
            embeddings: self.embeddings,
            encoder: BertEncoder { layer },
            pooler: self.pooler,
            num_heads: self.num_heads,
        }
    }

    /// The swappable linears with their HF names, in layer order.
    pub fn linears(&self) -> Vec<(String, &L)> {
        let mut out = Vec::new();
        for (i, l) in self.encoder.layer.iter().enumerate() {
            let [qkv, dense, gated, wo] = layer_linear_names(i);
            out.push((qkv, &l.attention.wqkv));
            out.push((dense, &l.attention.dense));
            out.push((gated, &l.mlp.gated_layers));
            out.push((wo, &l.mlp.wo));
        }
        out
    }
}
