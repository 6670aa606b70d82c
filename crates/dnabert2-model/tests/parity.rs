//! Parity with the upstream PyTorch model on the golden fixtures (tiny12: 12 heads, non-power
//! of two ALiBi slopes; tiny8: 8 heads), through both checkpoint formats and both attention
//! paths: the CPU kernel (`cpu_attention`, used by the plain CPU backend) and burn's fused
//! `attention` op with a `[B, H, S, S]` bias (used by GPU and autodiff backends).

use crate::common;

use burn::prelude::*;
use common::{B, Fx, assert_close, fixture, input, read_st};
use dnabert2_model::backend::CpuAutodiff;
use dnabert2_model::cpu_attention;
use dnabert2_model::{
    BertConfig, BertForMaskedLM, BertInput, ForwardOptions, MlmOutput, checkpoint,
};

const TOL: f32 = 1e-4;

fn mean_pool<B: Backend>(h: Tensor<B, 3>, mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
    let m = mask.float().unsqueeze_dim::<3>(2);
    let [b, _, d] = h.dims();
    (h * m.clone()).sum_dim(1).reshape([b, d]) / m.sum_dim(1).reshape([b, 1])
}

/// `BertForMaskedLM::forward` with forward options.
fn mlm_forward<B: Backend>(
    mlm: &BertForMaskedLM<B>,
    x: BertInput<B>,
    opts: ForwardOptions,
) -> MlmOutput<B> {
    let hidden = mlm.bert.forward_with(x, opts).last_hidden_state;
    let word = mlm.bert.embeddings.word_embeddings.weight.val();
    MlmOutput {
        logits: mlm.cls.forward(hidden.clone(), word),
        hidden,
    }
}

pub(crate) fn check<B: Backend>(model_dir: &str, weights: &str, opts: ForwardOptions) {
    let device = Default::default();
    let cfg = BertConfig::from_file(fixture(&format!("{model_dir}/config.json"))).unwrap();
    let path = fixture(&format!("{model_dir}/{weights}"));
    let out = read_st(&format!("{model_dir}/outputs.safetensors"));
    let inp = read_st("inputs.safetensors");

    let mut w = checkpoint::Weights::read(&path).unwrap();
    let mlm = checkpoint::mlm_from_weights::<B>(&mut w, &cfg, &device).unwrap();
    let mut w = checkpoint::Weights::read(&path).unwrap();
    let cls = checkpoint::classifier_from_weights::<B>(&mut w, &cfg, &device).unwrap();
    let path_name = if opts.tensor_attention {
        "burn attention op"
    } else if cpu_attention::applies::<B>(&device) {
        "cpu kernel"
    } else {
        "fused kernel"
    };
    let tag = format!("{model_dir}/{weights} [{path_name}]");

    // Padded batch of 6.
    let x = input::<B>(&inp, "input_ids", "attention_mask", &device);
    let o = mlm_forward(&mlm, x.clone(), opts);
    assert_close(
        &format!("{tag} last_hidden_state"),
        o.hidden.clone(),
        out["last_hidden_state"].f32(),
        TOL,
    );
    assert_close(
        &format!("{tag} mlm_logits"),
        o.logits,
        out["mlm_logits"].f32(),
        TOL,
    );
    assert_close(
        &format!("{tag} mean_pooled"),
        mean_pool(o.hidden.clone(), x.attention_mask.clone()),
        out["mean_pooled"].f32(),
        TOL,
    );
    // Pad rows are exact zeros.
    let (shape, ids) = inp["attention_mask"].i64();
    let h = o.hidden.into_data().into_vec::<f32>().unwrap();
    let d = cfg.hidden_size;
    for (pos, &m) in ids.iter().enumerate() {
        if m == 0 {
            assert!(
                h[pos * d..(pos + 1) * d].iter().all(|&v| v == 0.0),
                "pad row not zero"
            );
        }
    }
    assert_eq!(shape, &[6, 25]);
    let full = cls.bert.forward_with(x.clone(), opts);
    assert_close(
        &format!("{tag} pooler_output"),
        full.pooler_output.clone().unwrap(),
        out["pooler_output"].f32(),
        TOL,
    );
    assert_close(
        &format!("{tag} cls_logits"),
        cls.classifier.forward(full.pooler_output.unwrap()),
        out["cls_logits"].f32(),
        TOL,
    );

    // 700-token input (> alibi_starting_size 512).
    let x = input::<B>(&inp, "long_input_ids", "long_attention_mask", &device);
    let o = mlm_forward(&mlm, x.clone(), opts);
    assert_close(
        &format!("{tag} long_last_hidden_state"),
        o.hidden.clone(),
        out["long_last_hidden_state"].f32(),
        TOL,
    );
    let Fx::I(_, positions) = &out["long_mlm_logits_positions"] else {
        panic!()
    };
    let idx = Tensor::<B, 1, Int>::from_data(
        TensorData::new(positions.clone(), [positions.len()]),
        &device,
    );
    let picked = o.logits.select(1, idx);
    assert_close(
        &format!("{tag} long_mlm_logits_at_positions"),
        picked,
        out["long_mlm_logits_at_positions"].f32(),
        TOL,
    );
    assert_close(
        &format!("{tag} long_mean_pooled"),
        mean_pool(o.hidden, x.attention_mask.clone()),
        out["long_mean_pooled"].f32(),
        TOL,
    );
    let full = cls.bert.forward_with(x.clone(), opts);
    assert_close(
        &format!("{tag} long_pooler_output"),
        full.pooler_output.clone().unwrap(),
        out["long_pooler_output"].f32(),
        TOL,
    );
    assert_close(
        &format!("{tag} long_cls_logits"),
        cls.classifier.forward(full.pooler_output.unwrap()),
        out["long_cls_logits"].f32(),
        TOL,
    );
}

#[test]
fn tiny12_safetensors() {
    check::<B>("tiny12", "model.safetensors", Default::default());
}

#[test]
fn tiny12_pytorch_bin() {
    check::<B>("tiny12", "pytorch_model.bin", Default::default());
}

#[test]
fn tiny8_safetensors() {
    check::<B>("tiny8", "model.safetensors", Default::default());
}

#[test]
fn tiny8_pytorch_bin() {
    check::<B>("tiny8", "pytorch_model.bin", Default::default());
}

/// The same fixtures through burn's fused attention op with a `[B, H, S, S]` bias (the path
/// GPU and autodiff backends take).
#[test]
fn tiny12_burn_attention_op() {
    assert!(cpu_attention::applies::<B>(&Default::default()));
    assert!(!cpu_attention::applies::<CpuAutodiff>(&Default::default()));
    let opts = ForwardOptions {
        tensor_attention: true,
        ..Default::default()
    };
    check::<B>("tiny12", "model.safetensors", opts);
}

#[test]
fn tiny8_burn_attention_op() {
    let opts = ForwardOptions {
        tensor_attention: true,
        ..Default::default()
    };
    check::<B>("tiny8", "pytorch_model.bin", opts);
}

/// The oracle itself: a NaN anywhere in the output must fail the comparison (a fold with
/// `f32::max` drops NaN, which let a NaN model pass every parity test).
#[test]
fn nan_output_fails_the_oracle() {
    let device = Default::default();
    let want = (&[2usize, 2][..], &[1.0f32, 2.0, 3.0, 4.0][..]);
    let good = Tensor::<B, 2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
    assert_eq!(common::max_err(good, want), 0.0);
    let bad = Tensor::<B, 2>::from_floats([[1.0, f32::NAN], [3.0, 4.0]], &device);
    assert!(common::max_err(bad.clone(), want).is_nan());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_close("nan", bad, want, 1e-4)
    }));
    assert!(caught.is_err(), "assert_close accepted a NaN output");
    // A model whose weights hold a NaN produces NaN hidden states, and fails parity.
    let mut w =
        dnabert2_model::checkpoint::Weights::read(fixture("tiny8/model.safetensors")).unwrap();
    let cfg = dnabert2_model::BertConfig::from_file(fixture("tiny8/config.json")).unwrap();
    let model = dnabert2_model::checkpoint::mlm_from_weights::<B>(&mut w, &cfg, &device).unwrap();
    let emb = model.bert.embeddings.word_embeddings.weight.val();
    let poisoned = emb
        .clone()
        .mask_fill(emb.lower_elem(-1e9).bool_not(), f32::NAN);
    let mut model = model;
    model.bert.embeddings.word_embeddings.weight = burn::module::Param::from_tensor(poisoned);
    let fx = read_st("inputs.safetensors");
    let out = read_st("tiny8/outputs.safetensors");
    let h = model
        .bert
        .forward(input::<B>(&fx, "input_ids", "attention_mask", &device));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_close("poisoned", h, out["last_hidden_state"].f32(), 1e-4)
    }));
    assert!(caught.is_err(), "a NaN model passed the parity oracle");
}
