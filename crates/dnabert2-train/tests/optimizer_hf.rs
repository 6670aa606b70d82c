//! [`HfAdamW`] against Hugging Face Trainer's optimizer: two steps on the tiny8 fixture
//! with fixed gradients, compared with `torch.optim.AdamW` (decay / no-decay groups) and
//! `clip_grad_norm_` (values from `tests/data/hf_adamw/gen.py`), within 1e-6.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use dnabert2_model::checkpoint::{self, Weights};
use dnabert2_model::hf_names::KeyTable;
use dnabert2_model::{BertConfig, BertForMaskedLM};
use dnabert2_train::backends::FlexAutodiff as B;
use dnabert2_train::optim::{AdamWSettings, HfAdamW, decays};
use dnabert2_train::schedule::LinearWarmupDecay;

type Inner = <B as burn::tensor::backend::AutodiffBackend>::InnerBackend;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dnabert2-model/tests/fixtures/tiny8")
}

/// Builds burn gradients from HF-named tensors (`grad.<key>`), scaled by `scale`.
struct FromHf<'a> {
    grads: &'a Weights,
    scale: f32,
    table: KeyTable,
    path: Vec<String>,
    containers: Vec<String>,
    out: GradientsParams,
    seen: usize,
}

impl ModuleVisitor<B> for FromHf<'_> {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.push(name.into());
        self.containers.push(container.into());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
        self.containers.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let key = format!("grad.{}", self.table.file_key(&self.path.join(".")));
        let (shape, data) = self.grads.tensor(&key).unwrap();
        let data: Vec<f32> = data.iter().map(|v| v * self.scale).collect();
        let module = self.containers.last().map(String::as_str).unwrap_or("");
        let mut t = Tensor::<Inner, 2>::from_data(
            TensorData::new(data, [shape[0], shape.get(1).copied().unwrap_or(1)]),
            &Default::default(),
        );
        if self.table.is_transposed(module, &self.path.join(".")) {
            t = t.transpose();
        }
        let dims: [usize; D] = param.val().dims();
        self.out.register(param.id, t.reshape(dims));
        self.seen += 1;
    }
}

fn grads_for(model: &BertForMaskedLM<B>, fx: &Weights, scale: f32) -> GradientsParams {
    let mut v = FromHf {
        grads: fx,
        scale,
        table: KeyTable::dnabert2(),
        path: Vec::new(),
        containers: Vec::new(),
        out: GradientsParams::new(),
        seen: 0,
    };
    model.visit(&mut v);
    assert_eq!(v.seen, 42, "a gradient for every parameter");
    v.out
}

#[test]
fn two_steps_match_torch_adamw_with_hf_groups_and_global_clip() {
    let _g = crate::common::serial();
    let device = Default::default();
    let cfg = BertConfig::from_file(fixtures().join("config.json"))
        .unwrap()
        .with_dropout(0.0);
    let mut w = Weights::read(fixtures().join("model.safetensors")).unwrap();
    let mut model = checkpoint::mlm_from_weights::<B>(&mut w, &cfg, &device).unwrap();
    // The train-step fixture also holds integer inputs: keep its float gradients only.
    let bytes = std::fs::read(fixtures().join("train_step.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let grads: checkpoint::TensorMap = st
        .tensors()
        .into_iter()
        .filter(|(k, _)| k.starts_with("grad."))
        .map(|(k, v)| {
            let data = v
                .data()
                .chunks(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            (k, (v.shape().to_vec(), data.collect()))
        })
        .collect();
    let fx = Weights::from_map("train_step.safetensors", grads);
    let want = Weights::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/hf_adamw/hf_adamw_tiny8.safetensors"),
    )
    .unwrap();

    let mut optim = HfAdamW::<B, BertForMaskedLM<B>>::new(AdamWSettings::hf(0.01));
    let schedule = LinearWarmupDecay::new(1e-3, 0, 4);
    let mut norms = Vec::new();
    for (step, scale) in [20.0f32, 0.1].into_iter().enumerate() {
        let g = grads_for(&model, &fx, scale);
        model = optim.step(schedule.lr(step as u64), model, g);
        norms.push(optim.last_grad_norm());
    }

    let (_, want_norms) = want.tensor("grad_norms").unwrap();
    for (got, want) in norms.iter().zip(&want_norms) {
        assert!(
            (got - *want as f64).abs() < 1e-4 * (*want as f64),
            "grad norm {got} vs torch {want}"
        );
    }
    assert!(
        norms[0] > 1.0 && norms[1] < 1.0,
        "one clipped step, one not: {norms:?}"
    );

    let after: BTreeMap<_, _> = checkpoint::mlm_tensors(&model);
    let mut compared = 0;
    let mut worst = 0.0f32;
    for (key, (shape, got)) in &after {
        let (want_shape, want) = want.tensor(&format!("after.{key}")).unwrap();
        assert_eq!(shape, &want_shape, "{key}");
        for (a, b) in got.iter().zip(&want) {
            let d = (a - b).abs();
            assert!(d.is_finite(), "{key}: {a} vs {b}");
            worst = worst.max(d);
        }
        compared += 1;
    }
    assert_eq!(compared, 42);
    assert!(
        worst <= 1e-6,
        "worst parameter difference {worst:e} after two steps"
    );
}

#[test]
fn decay_groups_follow_hf() {
    let _g = crate::common::serial();
    let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
    assert!(decays(
        &p("bert.encoder.layer.0.attention.wqkv.weight"),
        Some("Struct:Linear")
    ));
    assert!(!decays(
        &p("bert.encoder.layer.0.attention.wqkv.bias"),
        Some("Struct:Linear")
    ));
    assert!(!decays(
        &p("bert.embeddings.layer_norm.gamma"),
        Some("Struct:LayerNorm")
    ));
    assert!(!decays(&p("cls.decoder_bias"), Some("Struct:BertLmHead")));
    assert!(decays(
        &p("bert.embeddings.word_embeddings.weight"),
        Some("Struct:Embedding")
    ));
}
