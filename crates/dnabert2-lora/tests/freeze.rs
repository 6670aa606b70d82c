//! What trains under LoRA: frozen parameters come out of optimizer steps bit-identical,
//! adapters and the head change; the trainable count matches the formula; bad targets fail.

use crate::common;

use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use common::{AB, B, batch, small_cfg, snapshot};
use dnabert2_lora::{
    LoraConfig, LoraError, LoraTarget, adapter_param_count, apply_lora, expected_trainable_params,
    parse_targets, total_params, trainable_params,
};
use dnabert2_model::{BertConfig, BertForSequenceClassification};

#[test]
fn optimizer_steps_leave_frozen_params_bit_identical() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<AB>::init(&cfg, &device);
    let mut model = apply_lora(
        base,
        &LoraConfig::from_cli(4, 8.0, 0.0, "Wqkv,dense,gated_layers,wo").unwrap(),
    )
    .unwrap();
    let before = snapshot(&model);
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let input = batch::<AB>(4, 10, 64, 11, &device);
    let labels =
        Tensor::<AB, 1, Int>::from_data(TensorData::new(vec![0i64, 1, 1, 0], [4]), &device);
    // Two steps: at step 1 B = 0 gives A a zero gradient; by step 2 A moves too.
    for _ in 0..2 {
        let logits = model.forward(input.clone());
        let loss = model.loss(logits, labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let after = snapshot(&model);
    assert_eq!(before.len(), after.len());
    let (mut frozen, mut trained) = (0, 0);
    for (i, ((t0, d0), (t1, d1))) in before.iter().zip(&after).enumerate() {
        assert_eq!(t0, t1, "param {i}: trainable flag changed");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if *t0 {
            assert_ne!(bits(d0), bits(d1), "trainable param {i} did not change");
            trained += 1;
        } else {
            assert_eq!(bits(d0), bits(d1), "frozen param {i} changed");
            frozen += 1;
        }
    }
    // 2 layers x 4 adapters x (A, B) + pooler (W, b) + classifier (W, b).
    assert_eq!(trained, 2 * 4 * 2 + 4);
    // Embeddings (2 tables + LN) and per layer 4 base weights, 3 biases, 2 LayerNorms.
    assert_eq!(frozen, 4 + 2 * (4 + 3 + 4));
}

#[test]
fn trainable_count_matches_formula() {
    let device = Default::default();
    for (bert, lora) in [
        (small_cfg(2), LoraConfig::default()),
        (
            BertConfig::preset("tiny").unwrap(),
            LoraConfig::from_cli(4, 8.0, 0.0, "Wqkv,wo").unwrap(),
        ),
        (
            small_cfg(3),
            LoraConfig {
                train_head: false,
                ..LoraConfig::from_cli(2, 4.0, 0.0, "dense").unwrap()
            },
        ),
    ] {
        let base = BertForSequenceClassification::<AB>::init(&bert, &device);
        let total_before = total_params(&base);
        let model = apply_lora(base, &lora).unwrap();
        let n = bert.labels();
        assert_eq!(
            trainable_params(&model),
            expected_trainable_params(&bert, &lora, n)
        );
        assert_eq!(
            total_params(&model),
            total_before + adapter_param_count(&bert, &lora)
        );
    }
    // The 117M config with the paper's setting: r 8 on all four targets.
    let base = BertConfig::preset("base").unwrap();
    // per layer 8 * ((768+2304) + (768+768) + (768+6144) + (3072+768)) = 8 * 15360
    assert_eq!(
        adapter_param_count(&base, &LoraConfig::default()),
        12 * 8 * 15360
    );
}

#[test]
fn unknown_targets_are_errors() {
    for bad in ["query,value", "query", "Wq", "pooler.dense", ""] {
        let err = parse_targets(bad).unwrap_err();
        assert!(
            matches!(err, LoraError::UnknownTarget { .. } | LoraError::NoTargets),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        parse_targets("attention.output.dense,dense").unwrap(),
        vec![LoraTarget::Dense]
    );
    // A target that wraps nothing in the model (no layers) is an error at apply time too.
    let device = Default::default();
    let mut cfg = small_cfg(1);
    cfg.num_hidden_layers = 0;
    let model = BertForSequenceClassification::<B>::init(&cfg, &device);
    let err = apply_lora(model, &LoraConfig::default()).unwrap_err();
    assert!(matches!(err, LoraError::UnknownTarget { .. }), "{err}");
    // Invalid hyper-parameters.
    let model = BertForSequenceClassification::<B>::init(&small_cfg(1), &device);
    let err = apply_lora(
        model,
        &LoraConfig {
            r: 0,
            ..LoraConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, LoraError::InvalidConfig(_)), "{err}");
}
