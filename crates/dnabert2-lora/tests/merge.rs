//! LoRA forward vs. base and vs. the merged model, and the merged HF export.

use crate::common;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{B, batch, data, max_abs, small_cfg};
use dnabert2_lora::{LoraClassifier, LoraConfig, apply_lora, merge_lora, save_merged};
use dnabert2_model::BertForSequenceClassification;
use dnabert2_model::checkpoint::load_classifier;

fn randomise_b<Bk: Backend>(model: LoraClassifier<Bk>, device: &Bk::Device) -> LoraClassifier<Bk> {
    model.map_linears(|_, mut lin| {
        if let Some(ad) = lin.adapter.as_mut() {
            let dims = ad.b.dims();
            ad.b = Param::from_tensor(Tensor::random(dims, Distribution::Normal(0.0, 0.2), device));
        }
        lin
    })
}

#[test]
fn zero_b_lora_model_equals_base_exactly() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let input = batch::<B>(4, 12, 64, 1, &device);
    let want = data(base.forward(input.clone()));
    let lora = apply_lora(base, &LoraConfig::default()).unwrap();
    // A is random, B is zero: the update is exactly zero.
    let got = data(lora.forward(input));
    assert_eq!(want, got);
}

#[test]
fn merged_model_equals_base_plus_adapter() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let input = batch::<B>(4, 12, 64, 2, &device);
    let base_out = data(base.forward(input.clone()));
    let lora = randomise_b(apply_lora(base, &LoraConfig::default()).unwrap(), &device);
    let lora_out = data(lora.forward(input.clone()));
    // The adapter really changes the output ...
    assert!(
        max_abs(&base_out, &lora_out) > 1e-3,
        "adapter had no effect"
    );
    // ... and folding it into W gives the same function.
    let merged = merge_lora(lora);
    let merged_out = data(merged.forward(input));
    let err = max_abs(&lora_out, &merged_out);
    assert!(err <= 1e-5, "merged vs LoRA max abs err {err}");
}

#[test]
fn subset_of_targets_only_wraps_those() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let lora = apply_lora(base, &LoraConfig::from_cli(4, 8.0, 0.0, "wo").unwrap()).unwrap();
    for (name, lin) in lora.bert.linears() {
        assert_eq!(lin.adapter.is_some(), name.ends_with(".mlp.wo"), "{name}");
    }
}

#[test]
fn merged_checkpoint_loads_as_plain_model() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let input = batch::<B>(3, 10, 64, 3, &device);
    let lora = randomise_b(apply_lora(base, &LoraConfig::default()).unwrap(), &device);
    let want = data(lora.forward(input.clone()));
    let dir = tempfile::tempdir().unwrap();
    save_merged(&lora, &cfg, dir.path()).unwrap();
    let (plain, _) = load_classifier::<B>(dir.path(), None, &device).unwrap();
    let got = data(plain.forward(input));
    let err = max_abs(&want, &got);
    assert!(err <= 1e-5, "reloaded merged model max abs err {err}");
}
