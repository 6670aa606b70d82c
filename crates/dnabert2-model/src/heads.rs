//! Task heads: pooler, masked-LM head (decoder tied to the word embeddings), and the
//! sequence-classification head, with the two full models built on them.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;

use crate::config::BertConfig;
use crate::input::BertInput;
use crate::linear::{LinearLayer, init_linear, on_rows};
use crate::loss;
use crate::mlp::gelu_exact;
use crate::model::{BertModel, ForwardOptions};

/// HF `bert.pooler`: `tanh(dense(h[:, 0]))`.
#[derive(Module, Debug)]
pub struct BertPooler<B: Backend> {
    /// HF `dense`.
    pub dense: Linear<B>,
}

impl<B: Backend> BertPooler<B> {
    /// Random HF-style init.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        let d = cfg.hidden_size;
        Self {
            dense: init_linear(d, d, true, cfg.initializer_range, device),
        }
    }

    /// `[B, S, D]` -> `[B, D]`.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, _, d] = hidden.dims();
        let first = hidden.slice([0..b, 0..1]).reshape([b, d]);
        self.dense.forward(first).tanh()
    }
}

/// HF `cls.predictions`: transform + decoder bias, and the decoder weight only when it is
/// not tied to the word embeddings.
#[derive(Module, Debug)]
pub struct BertLmHead<B: Backend> {
    /// HF `transform.dense`.
    pub dense: Linear<B>,
    /// HF `transform.LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    /// HF `decoder.bias` `[vocab]`.
    pub decoder_bias: Param<Tensor<B, 1>>,
    /// HF `decoder.weight` `[vocab, D]` of an untied head (`tie_word_embeddings: false`);
    /// `None` when the decoder is the word-embedding matrix (DNABERT-2).
    pub decoder_weight: Option<Param<Tensor<B, 2>>>,
}

impl<B: Backend> BertLmHead<B> {
    /// Random HF-style init (bias 0).
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        let d = cfg.hidden_size;
        Self {
            dense: init_linear(d, d, true, cfg.initializer_range, device),
            layer_norm: LayerNormConfig::new(d)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            decoder_bias: crate::init::zeros([cfg.vocab_size], device),
            decoder_weight: (!cfg.tie_word_embeddings)
                .then(|| crate::init::normal([cfg.vocab_size, d], cfg.initializer_range, device)),
        }
    }

    /// Logits `[B, S, V]` from hidden `[B, S, D]`, through the word embeddings `[V, D]`
    /// (tied) or the head's own decoder weight (untied).
    pub fn forward(&self, hidden: Tensor<B, 3>, word_embeddings: Tensor<B, 2>) -> Tensor<B, 3> {
        let word_embeddings = match &self.decoder_weight {
            Some(w) => w.val(),
            None => word_embeddings,
        };
        // On rows (see `on_rows`): one GEMM each for the weight gradients.
        let h = on_rows(hidden, |rows| self.dense.forward(rows));
        let h = crate::cpu_autodiff::norm(&self.layer_norm, gelu_exact(h));
        let [v, _] = word_embeddings.dims();
        let bias = self.decoder_bias.val().reshape([1, v]);
        on_rows(h, |rows| rows.matmul(word_embeddings.transpose()) + bias)
    }
}

/// Output of [`BertForMaskedLM::forward`].
#[derive(Debug, Clone)]
pub struct MlmOutput<B: Backend> {
    /// Final hidden states `[B, S, D]` (pad rows zero).
    pub hidden: Tensor<B, 3>,
    /// Logits `[B, S, V]` at every position.
    pub logits: Tensor<B, 3>,
}

/// Output of [`BertForMaskedLM::forward_masked`]: the head at labelled positions only.
#[derive(Debug, Clone)]
pub struct MaskedLmOutput<B: Backend> {
    /// Mean cross-entropy over the labelled positions `[1]` (0 when there are none).
    pub loss: Tensor<B, 1>,
    /// Logits `[N, V]` at the `N` positions with label > 0, row-major over `[B, S]`.
    pub logits: Tensor<B, 2>,
    /// Their labels `[N]`.
    pub labels: Tensor<B, 1, Int>,
}

/// HF `BertForMaskedLM`: `bert` (no pooler) + `cls.predictions`.
#[derive(Module, Debug)]
pub struct BertForMaskedLM<B: Backend, L: Module<B> = Linear<B>> {
    /// HF `bert`.
    pub bert: BertModel<B, L>,
    /// HF `cls.predictions`.
    pub cls: BertLmHead<B>,
}

impl<B: Backend> BertForMaskedLM<B> {
    /// Random HF-style init of the whole model.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        Self {
            bert: BertModel::init(cfg, false, device),
            cls: BertLmHead::init(cfg, device),
        }
    }
}

impl<B: Backend, L: LinearLayer<B>> BertForMaskedLM<B, L> {
    /// Hidden states and logits at every position.
    pub fn forward(&self, input: BertInput<B>) -> MlmOutput<B> {
        let hidden = self.bert.forward(input);
        let logits = self.cls.forward(
            hidden.clone(),
            self.bert.embeddings.word_embeddings.weight.val(),
        );
        MlmOutput { hidden, logits }
    }

    /// Mean cross-entropy over positions with label > 0 (upstream: -100 and 0 ignored),
    /// and the logits. `labels` `[B, S]`.
    pub fn forward_loss(
        &self,
        input: BertInput<B>,
        labels: Tensor<B, 2, Int>,
    ) -> (Tensor<B, 1>, Tensor<B, 3>) {
        let out = self.forward(input);
        (loss::mlm_loss(out.logits.clone(), labels), out.logits)
    }

    /// Upstream's labelled forward: the encoder, then the MLM head **only at the positions
    /// with label > 0** (a pretraining batch labels ~15% of them, so the `[B, S, V]` logits
    /// and their gradient are never formed). Same loss as [`Self::forward_loss`].
    ///
    /// ```
    /// use burn::backend::Flex;
    /// use burn::prelude::*;
    /// use dnabert2_model::{BertConfig, BertForMaskedLM, BertInput};
    ///
    /// let device = Default::default();
    /// let cfg = BertConfig::preset("tiny").unwrap();
    /// let model = BertForMaskedLM::<Flex>::init(&cfg, &device);
    /// let ids = Tensor::<Flex, 2, Int>::from_ints([[1, 9, 10, 11, 2]], &device);
    /// let labels = Tensor::<Flex, 2, Int>::from_ints([[-100, 9, -100, 11, -100]], &device);
    /// let out = model.forward_masked(BertInput::new(ids.clone(), ids.ones_like()), labels);
    /// assert_eq!(out.logits.dims(), [2, 4096]);
    /// assert_eq!(out.labels.into_data().to_vec::<i32>().unwrap(), vec![9, 11]);
    /// ```
    pub fn forward_masked(
        &self,
        input: BertInput<B>,
        labels: Tensor<B, 2, Int>,
    ) -> MaskedLmOutput<B> {
        self.forward_masked_with(input, labels, ForwardOptions::default())
    }

    /// [`Self::forward_masked`] with encoder options (e.g. `tensor_attention` to compare the
    /// attention paths).
    pub fn forward_masked_with(
        &self,
        input: BertInput<B>,
        labels: Tensor<B, 2, Int>,
        opts: ForwardOptions,
    ) -> MaskedLmOutput<B> {
        let [b, s] = labels.dims();
        let device = labels.device();
        let flat = labels.reshape([b * s]);
        let rows: Vec<i64> = flat
            .clone()
            .into_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .expect("converted to i64 above")
            .iter()
            .enumerate()
            .filter(|(_, l)| **l > 0)
            .map(|(i, _)| i as i64)
            .collect();
        let n = rows.len();
        let hidden = self.bert.forward_with(input, opts).last_hidden_state;
        if n == 0 {
            let v = self.bert.embeddings.word_embeddings.weight.dims()[0];
            return MaskedLmOutput {
                loss: Tensor::zeros([1], &device),
                logits: Tensor::zeros([0, v], &device),
                labels: Tensor::zeros([0], &device),
            };
        }
        let d = hidden.dims()[2];
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
        let picked = hidden.reshape([b * s, d]).select(0, idx.clone());
        let logits = self.cls.forward(
            picked.reshape([1, n, d]),
            self.bert.embeddings.word_embeddings.weight.val(),
        );
        let v = logits.dims()[2];
        let logits = logits.reshape([n, v]);
        let labels = flat.select(0, idx);
        let loss = loss::cross_entropy(logits.clone(), labels.clone());
        MaskedLmOutput {
            loss,
            logits,
            labels,
        }
    }

    /// This model with plain, merged linears (see [`BertModel::merged`]).
    pub fn merged(&self) -> BertForMaskedLM<B> {
        BertForMaskedLM {
            bert: self.bert.merged(),
            cls: self.cls.clone(),
        }
    }

    /// Swaps the encoder's linears; see [`BertModel::map_linears`].
    pub fn map_linears<L2, F>(self, f: F) -> BertForMaskedLM<B, L2>
    where
        L2: LinearLayer<B>,
        F: FnMut(&str, L) -> L2,
    {
        BertForMaskedLM {
            bert: self.bert.map_linears(f),
            cls: self.cls,
        }
    }
}

/// What the labels are, hence which loss [`BertForSequenceClassification::loss`] applies;
/// the workspace's one problem-type enum (fine-tuning data, prediction, configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemType {
    /// Integer classes, cross-entropy.
    SingleLabel,
    /// One real output, MSE.
    Regression,
    /// Independent binary labels, BCE-with-logits.
    MultiLabel,
}

impl ProblemType {
    /// HF `problem_type` string.
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::SingleLabel => "single_label_classification",
            Self::Regression => "regression",
            Self::MultiLabel => "multi_label_classification",
        }
    }

    /// Parses `single-label` / `regression` / `multi-label` (also the HF names).
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "single-label" | "single_label" | "classification" | "single_label_classification" => {
                Ok(Self::SingleLabel)
            }
            "regression" => Ok(Self::Regression),
            "multi-label" | "multi_label" | "multi_label_classification" => Ok(Self::MultiLabel),
            other => Err(crate::ModelError::InvalidConfig(format!(
                "unknown problem `{other}` (expected single-label, regression or multi-label)"
            ))),
        }
    }
}

/// HF `BertForSequenceClassification`: `bert` with pooler, dropout, `classifier`.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification<B: Backend, L: Module<B> = Linear<B>> {
    /// HF `bert` (with `pooler`).
    pub bert: BertModel<B, L>,
    /// Classifier dropout.
    pub dropout: Dropout,
    /// HF `classifier` `[D -> num_labels]`.
    pub classifier: Linear<B>,
    /// Number of outputs.
    pub num_labels: usize,
    /// The loss to use.
    #[module(skip)]
    pub problem_type: ProblemType,
}

/// The [`ProblemType`] a config implies (HF rules: explicit `problem_type`, else regression
/// for one label, else single-label classification).
pub fn problem_type_of(cfg: &BertConfig) -> ProblemType {
    match cfg.problem_type.as_deref() {
        Some(name) => ProblemType::parse(name).unwrap_or(ProblemType::SingleLabel),
        None if cfg.labels() == 1 => ProblemType::Regression,
        None => ProblemType::SingleLabel,
    }
}

impl<B: Backend> BertForSequenceClassification<B> {
    /// Random HF-style init with `cfg.labels()` outputs.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        Self::from_parts(
            BertModel::init(cfg, true, device),
            init_linear(
                cfg.hidden_size,
                cfg.labels(),
                true,
                cfg.initializer_range,
                device,
            ),
            cfg,
        )
    }
}

impl<B: Backend, L: LinearLayer<B>> BertForSequenceClassification<B, L> {
    /// Assembles the model from an encoder (which must have a pooler) and a classifier.
    pub fn from_parts(bert: BertModel<B, L>, classifier: Linear<B>, cfg: &BertConfig) -> Self {
        Self {
            bert,
            dropout: DropoutConfig::new(cfg.classifier_dropout_prob()).init(),
            num_labels: cfg.labels(),
            classifier,
            problem_type: problem_type_of(cfg),
        }
    }

    /// Logits `[B, num_labels]`.
    pub fn forward(&self, input: BertInput<B>) -> Tensor<B, 2> {
        let out = self.bert.forward_with(input, ForwardOptions::default());
        let pooled = match out.pooler_output {
            Some(p) => p,
            None => {
                let [b, _, d] = out.last_hidden_state.dims();
                out.last_hidden_state.slice([0..b, 0..1]).reshape([b, d])
            }
        };
        self.classifier.forward(self.dropout.forward(pooled))
    }

    /// Loss for integer labels `[B]`: cross-entropy, or MSE against `labels as f32` when the
    /// problem is regression.
    pub fn loss(&self, logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        match self.problem_type {
            ProblemType::Regression => {
                let [n, _] = logits.dims();
                loss::mse(logits.reshape([n]), labels.float())
            }
            _ => loss::cross_entropy(logits, labels),
        }
    }

    /// MSE against real-valued targets `[B]` (one output).
    pub fn loss_regression(&self, logits: Tensor<B, 2>, targets: Tensor<B, 1>) -> Tensor<B, 1> {
        let [n, _] = logits.dims();
        loss::mse(logits.reshape([n]), targets)
    }

    /// BCE-with-logits against multi-hot targets `[B, num_labels]`.
    pub fn loss_multi_label(&self, logits: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
        loss::bce_with_logits(logits, targets)
    }

    /// This model with plain, merged linears (see [`BertModel::merged`]).
    pub fn merged(&self) -> BertForSequenceClassification<B> {
        BertForSequenceClassification {
            bert: self.bert.merged(),
            dropout: self.dropout.clone(),
            classifier: self.classifier.clone(),
            num_labels: self.num_labels,
            problem_type: self.problem_type,
        }
    }

    /// Swaps the encoder's linears; see [`BertModel::map_linears`].
    pub fn map_linears<L2, F>(self, f: F) -> BertForSequenceClassification<B, L2>
    where
        L2: LinearLayer<B>,
        F: FnMut(&str, L) -> L2,
    {
        BertForSequenceClassification {
            bert: self.bert.map_linears(f),
            dropout: self.dropout,
            classifier: self.classifier,
            num_labels: self.num_labels,
            problem_type: self.problem_type,
        }
    }
}
