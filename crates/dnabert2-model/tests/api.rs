//! Save/load round trips, linear swapping (the LoRA hook), opt-in outputs, losses, embedding.

use crate::common;

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;
use common::{B, assert_close, fixture, input, read_st};
use dnabert2_model::checkpoint::{self, Weights};
use dnabert2_model::embed::{EmbedOptions, Embedder, Layer, Pooling};
use dnabert2_model::{
    BertConfig, BertForSequenceClassification, BertInput, ForwardOptions, LinearLayer, loss,
};

fn bits<const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
    t.into_data()
        .into_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn save_load_round_trip_is_exact_and_keeps_hf_names() {
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let (mlm, cfg) = checkpoint::load_mlm::<B>(fixture("tiny12"), &device).unwrap();
    checkpoint::save_mlm(&mlm, &cfg, dir.path().join("mlm")).unwrap();
    let (back, _) = checkpoint::load_mlm::<B>(dir.path().join("mlm"), &device).unwrap();
    let inp = read_st("inputs.safetensors");
    let x = input::<B>(&inp, "input_ids", "attention_mask", &device);
    assert_eq!(
        bits(mlm.forward(x.clone()).logits),
        bits(back.forward(x.clone()).logits)
    );

    let fixture_keys = Weights::read(fixture("tiny12/model.safetensors"))
        .unwrap()
        .shapes();
    let saved = Weights::read(dir.path().join("mlm/model.safetensors"))
        .unwrap()
        .shapes();
    let want: std::collections::BTreeMap<_, _> = fixture_keys
        .iter()
        .filter(|(k, _)| !k.starts_with("bert.pooler") && !k.starts_with("classifier"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        saved, want,
        "same HF key set and shapes as the fixture (tied decoder omitted)"
    );

    let (cls, cfg) = checkpoint::load_classifier::<B>(fixture("tiny12"), None, &device).unwrap();
    checkpoint::save_classifier(&cls, &cfg, dir.path().join("cls")).unwrap();
    let (back, cfg2) =
        checkpoint::load_classifier::<B>(dir.path().join("cls"), None, &device).unwrap();
    assert_eq!(cfg2.labels(), 3);
    assert_eq!(bits(cls.forward(x.clone())), bits(back.forward(x)));
    let saved = Weights::read(dir.path().join("cls/model.safetensors"))
        .unwrap()
        .shapes();
    let want: std::collections::BTreeMap<_, _> = fixture_keys
        .into_iter()
        .filter(|(k, _)| !k.starts_with("cls."))
        .collect();
    assert_eq!(saved, want);
}

/// `tie_word_embeddings: false`: the decoder is its own matrix, saved under
/// `cls.predictions.decoder.weight` and loaded back; a tied config ignores it (as HF does).
#[test]
fn untied_decoder_round_trips_and_tied_config_ignores_it() {
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BertConfig::preset("tiny").unwrap();
    cfg.tie_word_embeddings = false;
    let mlm = dnabert2_model::BertForMaskedLM::<B>::init(&cfg, &device);
    let dec = mlm.cls.decoder_weight.as_ref().expect("untied head").val();
    assert_eq!(dec.dims(), [cfg.vocab_size, cfg.hidden_size]);
    checkpoint::save_mlm(&mlm, &cfg, dir.path().join("untied")).unwrap();
    let saved = Weights::read(dir.path().join("untied/model.safetensors")).unwrap();
    assert!(saved.contains(checkpoint::DECODER_WEIGHT));

    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 5, 9, 77, 2], [1, 5]), &device);
    let x = BertInput::new(ids, Tensor::ones([1, 5], &device));
    let (back, back_cfg) = checkpoint::load_mlm::<B>(dir.path().join("untied"), &device).unwrap();
    assert!(!back_cfg.tie_word_embeddings);
    assert_eq!(
        bits(mlm.forward(x.clone()).logits),
        bits(back.forward(x.clone()).logits)
    );

    // The same files under a tied config: the decoder falls back to the word embeddings.
    let mut tied = back_cfg.clone();
    tied.tie_word_embeddings = true;
    std::fs::write(dir.path().join("untied/config.json"), tied.to_json_string()).unwrap();
    let (as_tied, _) = checkpoint::load_mlm::<B>(dir.path().join("untied"), &device).unwrap();
    assert!(as_tied.cls.decoder_weight.is_none());
    assert_ne!(
        bits(as_tied.forward(x.clone()).logits),
        bits(back.forward(x).logits)
    );

    // An untied config without the decoder key is a typed error naming the key.
    let mut untied = tied;
    untied.tie_word_embeddings = false;
    let tied_model =
        dnabert2_model::BertForMaskedLM::<B>::init(&BertConfig::preset("tiny").unwrap(), &device);
    checkpoint::save_mlm(
        &tied_model,
        &BertConfig::preset("tiny").unwrap(),
        dir.path().join("tied"),
    )
    .unwrap();
    std::fs::write(dir.path().join("tied/config.json"), untied.to_json_string()).unwrap();
    let err = checkpoint::load_mlm::<B>(dir.path().join("tied"), &device).unwrap_err();
    assert!(
        err.to_string().contains(checkpoint::DECODER_WEIGHT),
        "{err}"
    );
}

#[test]
fn pretrained_style_checkpoint_gets_random_pooler_and_classifier() {
    // An MLM-only save (no pooler/classifier) still loads as a classifier, with warnings.
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let (mlm, cfg) = checkpoint::load_mlm::<B>(fixture("tiny8"), &device).unwrap();
    checkpoint::save_mlm(&mlm, &cfg, dir.path()).unwrap();
    let (cls, _) = checkpoint::load_classifier::<B>(dir.path(), Some(5), &device).unwrap();
    assert_eq!(cls.num_labels, 5);
    assert!(cls.bert.pooler.is_some());
}

/// A wrapper the model knows nothing about, standing in for a LoRA linear.
#[derive(Module, Debug)]
struct Scaled<B: Backend> {
    inner: Linear<B>,
    scale: f64,
}

impl<B: Backend> LinearLayer<B> for Scaled<B> {
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.inner.forward(x) * self.scale
    }
    fn effective_weight(&self) -> Tensor<B, 2> {
        self.inner.weight.val() * self.scale
    }
    fn effective_bias(&self) -> Option<Tensor<B, 1>> {
        self.inner.bias.as_ref().map(|b| b.val() * self.scale)
    }
}

#[test]
fn linears_can_be_swapped_by_hf_name() {
    let device = Default::default();
    let (mlm, cfg) = checkpoint::load_mlm::<B>(fixture("tiny8"), &device).unwrap();
    let inp = read_st("inputs.safetensors");
    let x = input::<B>(&inp, "input_ids", "attention_mask", &device);
    let reference = mlm.forward(x.clone()).logits;
    let mut names = Vec::new();
    let wrapped = mlm.clone().map_linears(|name, inner| {
        names.push(name.to_string());
        Scaled { inner, scale: 1.0 }
    });
    assert_eq!(names.len(), 4 * cfg.num_hidden_layers);
    assert_eq!(names[0], "bert.encoder.layer.0.attention.self.Wqkv");
    assert_eq!(names[1], "bert.encoder.layer.0.attention.output.dense");
    assert_eq!(names[2], "bert.encoder.layer.0.mlp.gated_layers");
    assert_eq!(names[3], "bert.encoder.layer.0.mlp.wo");
    assert_eq!(
        bits(wrapped.forward(x.clone()).logits),
        bits(reference.clone())
    );
    // The wrapper is really used: scaling one `wo` changes the output.
    let changed = mlm.map_linears(|name, inner| Scaled {
        inner,
        scale: if name.ends_with("2.mlp.wo") { 0.5 } else { 1.0 },
    });
    assert_ne!(bits(changed.forward(x).logits), bits(reference));
    // Saving merges the wrapper (effective weights) under the same HF names.
    let t = checkpoint::mlm_tensors(&changed);
    assert!(t.contains_key("bert.encoder.layer.2.mlp.wo.weight"));
}

#[test]
fn all_layer_outputs_and_attention_probs() {
    let device = Default::default();
    let (mlm, cfg) = checkpoint::load_mlm::<B>(fixture("tiny12"), &device).unwrap();
    let inp = read_st("inputs.safetensors");
    let x = input::<B>(&inp, "input_ids", "attention_mask", &device);
    let out = mlm.bert.forward_with(
        x.clone(),
        ForwardOptions {
            output_hidden_states: true,
            output_attentions: true,
            ..Default::default()
        },
    );
    let hs = out.hidden_states.unwrap();
    let at = out.attentions.unwrap();
    assert_eq!(hs.len(), cfg.num_hidden_layers + 1);
    assert_eq!(at.len(), cfg.num_hidden_layers);
    assert_eq!(at[0].dims(), [6, 12, 25, 25]);
    // Explicit-softmax path == fused-attention path.
    let fused = mlm.bert.forward(x.clone());
    let expl = out.last_hidden_state.clone();
    let diff = (fused - expl).abs().max().into_scalar();
    assert!(diff < 1e-5, "fused vs explicit attention differ by {diff}");
    assert_close(
        "last hidden state == final layer output",
        hs[cfg.num_hidden_layers].clone(),
        (
            &[6, 25, 96],
            &out.last_hidden_state.into_data().into_vec::<f32>().unwrap(),
        ),
        0.0,
    );
    // Probabilities: rows sum to 1, pad keys get 0 (row 2 has 7 real tokens).
    let p = at[1].clone();
    let sums = p.clone().sum_dim(3);
    let err = (sums - 1.0).abs().max().into_scalar();
    assert!(err < 1e-5);
    let pad_mass = p
        .slice([2..3, 0..12, 0..7, 7..25])
        .abs()
        .max()
        .into_scalar();
    assert_eq!(pad_mass, 0.0);
}

#[test]
fn losses_match_closed_forms() {
    let device = Default::default();
    let logits = Tensor::<B, 2>::from_data([[0.0, 0.0], [2.0, 0.0]], &device);
    let labels = Tensor::<B, 1, Int>::from_data([1, 0], &device);
    let ce = loss::cross_entropy(logits.clone(), labels).into_scalar();
    let want = (2f32.ln() + (1.0 + (-2f32).exp()).ln()) / 2.0;
    assert!((ce - want).abs() < 1e-6, "{ce} vs {want}");
    let bce = loss::bce_with_logits(
        Tensor::<B, 2>::from_data([[0.0, 100.0]], &device),
        Tensor::from_data([[1.0, 1.0]], &device),
    )
    .into_scalar();
    assert!((bce - 2f32.ln() / 2.0).abs() < 1e-6);
    let mse = loss::mse(
        Tensor::<B, 1>::from_data([1.0, 3.0], &device),
        Tensor::from_data([0.0, 0.0], &device),
    )
    .into_scalar();
    assert_eq!(mse, 5.0);
    // MLM loss ignores -100 and 0.
    let l3 = Tensor::<B, 3>::from_data([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]], &device);
    let lab = Tensor::<B, 2, Int>::from_data([[2, 0]], &device);
    let m = loss::mlm_loss(l3, lab).into_scalar();
    assert!((m - 3f32.ln()).abs() < 1e-6);
    // Regression head picks MSE for one label.
    let cfg = BertConfig::preset("tiny").unwrap().with_num_labels(1);
    let model = BertForSequenceClassification::<B>::init(&cfg, &device);
    let x = BertInput::<B>::from_ids(&[vec![1, 5, 6, 2]], &device).unwrap();
    let out = model.forward(x);
    assert_eq!(out.dims(), [1, 1]);
    let l = model
        .loss(out.clone(), Tensor::from_data([0], &device))
        .into_scalar();
    let v = out.into_scalar();
    assert!((l - v * v).abs() < 1e-6);
}

fn sequences() -> (Vec<String>, String) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("inputs.json")).unwrap()).unwrap();
    let batch = v["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sequence"].as_str().unwrap().to_string())
        .collect();
    (batch, v["long"]["sequence"].as_str().unwrap().to_string())
}

#[test]
fn embedder_matches_fixture_mean_pooling_with_any_batching() {
    let device = Default::default();
    let (model, _) = checkpoint::load_encoder::<B>(fixture("tiny12"), &device).unwrap();
    let tok = dna_bpe::Tokenizer::dnabert2();
    let out = read_st("tiny12/outputs.safetensors");
    let (batch, long) = sequences();
    for batch_size in [1, 4] {
        let opts = EmbedOptions {
            batch_size,
            max_tokens: 1024,
            ..Default::default()
        };
        let e = Embedder::new(&model, &tok, opts, &device).unwrap();
        let got: Vec<f32> = e.embed(&batch).unwrap().concat();
        assert_close(
            "embed mean",
            Tensor::<B, 2>::from_data(TensorData::new(got, [6, 96]), &device),
            out["mean_pooled"].f32(),
            1e-4,
        );
        let got = e.embed(&[long.as_str()]).unwrap().concat();
        assert_close(
            "embed long mean",
            Tensor::<B, 2>::from_data(TensorData::new(got, [1, 96]), &device),
            out["long_mean_pooled"].f32(),
            1e-4,
        );
    }
    let e = Embedder::new(
        &model,
        &tok,
        EmbedOptions {
            pooling: Pooling::Cls,
            max_tokens: 1024,
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    let cls = e.embed(&batch).unwrap();
    let (_, h) = out["last_hidden_state"].f32();
    assert!((cls[3][5] - h[3 * 25 * 96 + 5]).abs() < 1e-4);
}

#[test]
fn layer_choice_and_token_budget_batches() {
    let device = Default::default();
    let (model, _) = checkpoint::load_encoder::<B>(fixture("tiny8"), &device).unwrap();
    let tok = dna_bpe::Tokenizer::dnabert2();
    let (batch, _) = sequences();
    let n_states = model.encoder.layer.len() + 1;
    let with = |layer: Layer, batch_tokens: usize| {
        let opts = EmbedOptions {
            layer,
            batch_tokens,
            batch_size: 64,
            ..Default::default()
        };
        let e = Embedder::new(&model, &tok, opts, &device).unwrap();
        (e.dim(), e.embed(&batch).unwrap())
    };
    let (d, last) = with(Layer::Last, 0);
    assert_eq!(d, model.embeddings.word_embeddings.weight.val().dims()[1]);
    assert_eq!(with(Layer::Index(-1), 0).1, last);
    let (d_all, all) = with(Layer::All, 0);
    assert_eq!(d_all, d * n_states);
    for k in [0, 2, n_states - 1] {
        let (_, one) = with(Layer::Index(k as i64), 0);
        for (a, o) in all.iter().zip(&one) {
            assert_eq!(&a[k * d..(k + 1) * d], o.as_slice(), "block {k} of `all`");
        }
    }
    assert_ne!(
        with(Layer::Index(0), 0).1,
        last,
        "the embedding output is not the last layer"
    );
    assert_eq!(
        with(Layer::Index(-(n_states as i64)), 0).1,
        with(Layer::Index(0), 0).1
    );
    // A 40-token budget forces one or two rows per batch: same vectors as one big batch.
    let (_, small) = with(Layer::Last, 40);
    for (a, b) in small.iter().zip(&last) {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "token-budget batching changed a vector by {diff}"
        );
    }
    let bad = EmbedOptions {
        layer: Layer::Index(n_states as i64),
        ..Default::default()
    };
    let err = Embedder::new(&model, &tok, bad, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("hidden states 0..="), "{err}");
    assert_eq!("all".parse::<Layer>().unwrap(), Layer::All);
    assert_eq!("-2".parse::<Layer>().unwrap(), Layer::Index(-2));
    assert!("x".parse::<Layer>().is_err());
}

#[test]
fn long_sequences_are_chunked_and_per_base_vectors_follow_offsets() {
    let device = Default::default();
    let (model, _) = checkpoint::load_encoder::<B>(fixture("tiny8"), &device).unwrap();
    let tok = dna_bpe::Tokenizer::dnabert2();
    let (_, long) = sequences();
    let opts = EmbedOptions {
        batch_size: 3,
        max_tokens: 128,
        overlap: 16,
        pooling: Pooling::MeanNoSpecial,
        ..Default::default()
    };
    let e = Embedder::new(&model, &tok, opts, &device).unwrap();
    let t = e.token_embeddings(&[long.as_str()]).unwrap().pop().unwrap();
    assert_eq!(
        t.ids,
        tok.encode(&long).unwrap().ids(),
        "chunks reassemble the full token sequence"
    );
    assert!(t.vectors.iter().all(|v| v.is_finite()));
    let bases = e.per_nucleotide(&long).unwrap();
    assert_eq!(bases.len(), long.len());
    let (s, end) = t.offsets[10];
    assert!(end > s);
    for b in &bases[s..end] {
        assert_eq!(b.as_slice(), t.row(10));
    }
    assert!(
        Embedder::new(
            &model,
            &tok,
            EmbedOptions {
                max_tokens: 10,
                overlap: 8,
                ..Default::default()
            },
            &device
        )
        .is_err()
    );
}

#[test]
fn batched_span_scores_equal_full_logits_scoring() {
    use burn::tensor::activation::log_softmax;
    use dnabert2_model::score;
    let device = Default::default();
    let (mlm, tok, _) = dnabert2_model::pretrained::load_masked_lm::<B>(
        fixture("tiny12").to_str().unwrap(),
        &device,
    )
    .unwrap();
    let (batch, _) = sequences();
    let items: Vec<(&str, std::ops::Range<usize>)> = batch
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.as_str(),
                (3 * i) % (s.len() - 2)..(3 * i) % (s.len() - 2) + 2,
            )
        })
        .collect();
    let batched = score::span_log_likelihoods(&mlm, &tok, &items, 4, &device).unwrap();
    for ((seq, span), got) in items.iter().zip(&batched) {
        // The definition, computed the long way: mask the covering tokens, run the whole
        // model, log-softmax over the vocabulary at every position, sum the true tokens'.
        let enc = tok.encode(seq).unwrap();
        let mut ids = enc.ids().to_vec();
        let covered: Vec<usize> = (1..ids.len() - 1)
            .filter(|&i| {
                let (s, e) = enc.offsets()[i];
                s < span.end && span.start < e
            })
            .collect();
        let truth: Vec<u32> = covered.iter().map(|&i| ids[i]).collect();
        for &i in &covered {
            ids[i] = tok.mask_id().unwrap();
        }
        let logits = mlm
            .forward(dnabert2_model::BertInput::<B>::from_ids(&[ids.clone()], &device).unwrap())
            .logits;
        let v = logits.dims()[2];
        let lp = log_softmax(logits.reshape([ids.len(), v]), 1)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        let want: f64 = covered
            .iter()
            .zip(&truth)
            .map(|(&i, &t)| lp[i * v + t as usize] as f64)
            .sum();
        assert!(want < 0.0);
        assert!((got - want).abs() < 1e-4, "{seq}: {got} vs {want}");
        let single = score::span_log_likelihood(&mlm, &tok, seq, span.clone(), &device).unwrap();
        assert!((single - want).abs() < 1e-4);
    }
    let alt = format!("{}T{}", &batch[0][..5], &batch[0][6..]);
    let pairs = [
        ((batch[0].as_str(), 5..6), (alt.as_str(), 5..6)),
        ((batch[0].as_str(), 5..6), (batch[0].as_str(), 5..6)),
        ((alt.as_str(), 5..6), (batch[0].as_str(), 5..6)),
    ];
    let l = score::llrs(&mlm, &tok, &pairs, 8, &device).unwrap();
    assert_eq!(l[1], 0.0);
    assert!(l[0] != 0.0 && (l[0] + l[2]).abs() < 1e-9, "{l:?}");
}
