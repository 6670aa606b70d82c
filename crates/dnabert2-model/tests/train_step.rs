//! One MLM training step on tiny8 against PyTorch: loss, every gradient (including the
//! `padding_idx` semantics of the `[UNK]` lookup), and the parameters after one AdamW step.

use crate::common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use burn::backend::Autodiff;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use common::{B, Fx, assert_close, fixture, input, read_st};
use dnabert2_model::{BertConfig, BertForMaskedLM, ForwardOptions, checkpoint, loss};

/// Gradients of every parameter in HF layout (`[out, in]` for Linear weights; 1-D as `[1, n]`).
fn hf_grads<Bi: Backend>(
    m: &BertForMaskedLM<Autodiff<Bi>>,
    g: &<Autodiff<Bi> as AutodiffBackend>::Gradients,
) -> BTreeMap<String, Tensor<Bi, 2>> {
    let out = RefCell::new(BTreeMap::new());
    let put2 = |k: String, t: Tensor<Autodiff<Bi>, 2>, transpose: bool| {
        let gr = t.grad(g).unwrap_or_else(|| panic!("no grad for {k}"));
        out.borrow_mut()
            .insert(k, if transpose { gr.transpose() } else { gr });
    };
    let put1 = |k: String, t: Tensor<Autodiff<Bi>, 1>| {
        let gr = t.grad(g).unwrap_or_else(|| panic!("no grad for {k}"));
        out.borrow_mut().insert(k, gr.unsqueeze());
    };
    let lin = |k: &str, l: &burn::nn::Linear<Autodiff<Bi>>| {
        put2(format!("{k}.weight"), l.weight.val(), true);
        if let Some(b) = &l.bias {
            put1(format!("{k}.bias"), b.val());
        }
    };
    let ln = |k: &str, l: &burn::nn::LayerNorm<Autodiff<Bi>>| {
        put1(format!("{k}.weight"), l.gamma.val());
        put1(format!("{k}.bias"), l.beta.as_ref().expect("beta").val());
    };
    let e = &m.bert.embeddings;
    put2(
        "bert.embeddings.word_embeddings.weight".into(),
        e.word_embeddings.weight.val(),
        false,
    );
    put2(
        "bert.embeddings.token_type_embeddings.weight".into(),
        e.token_type_embeddings.weight.val(),
        false,
    );
    ln("bert.embeddings.LayerNorm", &e.layer_norm);
    for (i, l) in m.bert.encoder.layer.iter().enumerate() {
        let p = format!("bert.encoder.layer.{i}");
        lin(&format!("{p}.attention.self.Wqkv"), &l.attention.wqkv);
        lin(&format!("{p}.attention.output.dense"), &l.attention.dense);
        ln(
            &format!("{p}.attention.output.LayerNorm"),
            &l.attention.layer_norm,
        );
        lin(&format!("{p}.mlp.gated_layers"), &l.mlp.gated_layers);
        lin(&format!("{p}.mlp.wo"), &l.mlp.wo);
        ln(&format!("{p}.mlp.layernorm"), &l.mlp.layernorm);
    }
    lin("cls.predictions.transform.dense", &m.cls.dense);
    ln("cls.predictions.transform.LayerNorm", &m.cls.layer_norm);
    put1(
        "cls.predictions.decoder.bias".into(),
        m.cls.decoder_bias.val(),
    );
    out.into_inner()
}

fn flat(fx: &Fx) -> (Vec<usize>, Vec<f32>) {
    let (s, v) = fx.f32();
    (s.to_vec(), v.to_vec())
}

/// How the step computes its loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Path {
    /// `forward_masked`: the MLM head at labelled positions only, the CPU kernels' fused
    /// attention and GEGLU backward (what pretraining runs on the CPU backends).
    Masked,
    /// `forward_loss`: logits at every position, then the masked loss.
    FullLogits,
    /// burn's composed attention ops with a `[B, H, S, S]` bias (the GPU backends' path).
    TensorAttention,
}

pub(crate) fn train_step_matches_pytorch<Bi: Backend>(path: Path) {
    type AD<Bi> = Autodiff<Bi>;
    let device = Default::default();
    let cfg = BertConfig::from_file(fixture("tiny8/config.json"))
        .unwrap()
        .with_dropout(0.0);
    let mut w = checkpoint::Weights::read(fixture("tiny8/model.safetensors")).unwrap();
    let model = checkpoint::mlm_from_weights::<AD<Bi>>(&mut w, &cfg, &device).unwrap();
    let fx = read_st("tiny8/train_step.safetensors");
    let x = input::<AD<Bi>>(&fx, "input_ids", "attention_mask", &device);
    let (ls, labels) = fx["labels"].i64();
    let labels = Tensor::<AD<Bi>, 2, Int>::from_data(
        TensorData::new(labels.to_vec(), [ls[0], ls[1]]),
        &device,
    );
    let (_, pos) = fx["masked_positions"].i64();

    let loss = match path {
        Path::Masked => {
            let out = model.forward_masked(x, labels);
            assert_close(
                "masked logits",
                out.logits.inner(),
                fx["masked_logits"].f32(),
                1e-4,
            );
            let (_, all_labels) = fx["labels"].i64();
            let want: Vec<i64> = pos
                .chunks(2)
                .map(|p| all_labels[(p[0] * 25 + p[1]) as usize])
                .collect();
            let got = out
                .labels
                .into_data()
                .convert::<i64>()
                .into_vec::<i64>()
                .unwrap();
            assert_eq!(got, want, "labels at the masked positions");
            out.loss
        }
        Path::FullLogits | Path::TensorAttention => {
            let logits = if path == Path::FullLogits {
                model.forward(x).logits
            } else {
                let opts = ForwardOptions {
                    tensor_attention: true,
                    ..Default::default()
                };
                let hidden = model.bert.forward_with(x, opts).last_hidden_state;
                model
                    .cls
                    .forward(hidden, model.bert.embeddings.word_embeddings.weight.val())
            };
            // Logits at the masked positions, row-major.
            let v = logits.dims()[2];
            let flat_logits = logits.clone().inner().reshape([6 * 25, v]);
            let rows: Vec<i64> = pos.chunks(2).map(|p| p[0] * 25 + p[1]).collect();
            let idx = Tensor::<Bi, 1, Int>::from_data(TensorData::new(rows, [13]), &device);
            assert_close(
                "masked_logits",
                flat_logits.select(0, idx),
                fx["masked_logits"].f32(),
                1e-4,
            );
            loss::mlm_loss(logits, labels)
        }
    };
    assert_close("loss", loss.clone().inner(), fx["loss"].f32(), 1e-5);

    let grads = loss.backward();
    let ours = hf_grads(&model, &grads);
    let mut n = 0;
    for (key, t) in &fx {
        let Some(name) = key.strip_prefix("grad.") else {
            continue;
        };
        let (shape, vals) = flat(t);
        let mine = ours
            .get(name)
            .unwrap_or_else(|| panic!("no grad for {name}"));
        let mine = if shape.len() == 1 {
            mine.clone().reshape([1, shape[0]])
        } else {
            mine.clone()
        };
        let shape2 = if shape.len() == 1 {
            vec![1, shape[0]]
        } else {
            shape.clone()
        };
        assert_close(&format!("grad {name}"), mine, (&shape2, &vals), 1e-5);
        n += 1;
    }
    assert_eq!(n, 42, "every parameter's gradient was compared");

    // padding_idx: row 0 of the word embeddings gets only the decoder's gradient. The fixture
    // checks this through grad.word_embeddings above; assert the row is sensitive at all.
    let (_, g_words) = fx["grad.bert.embeddings.word_embeddings.weight"].f32();
    assert!(g_words[..64].iter().any(|v| v.abs() > 1e-4));

    // One AdamW step with torch's hyper-parameters.
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.98)
        .with_epsilon(1e-6)
        .with_weight_decay(1e-5)
        .init::<AD<Bi>, BertForMaskedLM<AD<Bi>>>();
    let gp = GradientsParams::from_grads(grads, &model);
    let model = optim.step(5e-4, model, gp);
    let after = checkpoint::mlm_tensors(&model);
    for name in [
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.attention.self.Wqkv.weight",
        "bert.encoder.layer.2.mlp.gated_layers.weight",
    ] {
        let (s, v) = &after[name];
        let t = Tensor::<Bi, 2>::from_data(TensorData::new(v.clone(), [s[0], s[1]]), &device);
        assert_close(
            &format!("after {name}"),
            t,
            fx[&format!("after.{name}")].f32(),
            1e-4,
        );
    }
}

#[test]
fn tiny8_mlm_train_step_matches_pytorch() {
    train_step_matches_pytorch::<B>(Path::FullLogits);
}

#[test]
fn tiny8_train_step_masked_head_fused_kernels() {
    train_step_matches_pytorch::<B>(Path::Masked);
}

#[test]
fn tiny8_train_step_burn_attention_ops() {
    train_step_matches_pytorch::<B>(Path::TensorAttention);
}

#[cfg(feature = "flex")]
#[test]
fn tiny8_train_step_fused_on_flex() {
    train_step_matches_pytorch::<burn::backend::Flex>(Path::Masked);
    train_step_matches_pytorch::<burn::backend::Flex>(Path::FullLogits);
}

#[cfg(feature = "ndarray")]
#[test]
fn tiny8_train_step_fused_on_ndarray() {
    train_step_matches_pytorch::<burn::backend::NdArray>(Path::Masked);
    train_step_matches_pytorch::<burn::backend::NdArray>(Path::FullLogits);
    train_step_matches_pytorch::<burn::backend::NdArray>(Path::TensorAttention);
}
