//! The PEFT adapter format: key names, config fields, save/load round trip, errors.

use crate::common;

use std::collections::BTreeMap;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{B, batch, data, small_cfg};
use dnabert2_lora::peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapter_tensors};
use dnabert2_lora::{
    AdapterConfig, LoraClassifier, LoraConfig, LoraError, apply_lora, load_adapter, save_adapter,
};
use dnabert2_model::BertForSequenceClassification;
use dnabert2_model::checkpoint::Weights;

fn trained_like<Bk: Backend>(model: LoraClassifier<Bk>, device: &Bk::Device) -> LoraClassifier<Bk> {
    model.map_linears(|_, mut lin| {
        if let Some(ad) = lin.adapter.as_mut() {
            let dims = ad.b.dims();
            ad.b = Param::from_tensor(Tensor::random(dims, Distribution::Normal(0.0, 0.1), device));
        }
        lin
    })
}

#[test]
fn peft_key_names_and_shapes_for_one_layer() {
    let device = Default::default();
    let cfg = small_cfg(1); // D 32, I 64, 2 labels
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let lora = apply_lora(
        base,
        &LoraConfig::from_cli(4, 8.0, 0.0, "Wqkv,dense,gated_layers,wo").unwrap(),
    )
    .unwrap();
    let got: BTreeMap<String, Vec<usize>> = adapter_tensors(&lora, true)
        .into_iter()
        .map(|(k, (s, _))| (k, s))
        .collect();
    let p = "base_model.model.bert.encoder.layer.0";
    let want: BTreeMap<String, Vec<usize>> = [
        (
            format!("{p}.attention.self.Wqkv.lora_A.weight"),
            vec![4, 32],
        ),
        (
            format!("{p}.attention.self.Wqkv.lora_B.weight"),
            vec![96, 4],
        ),
        (
            format!("{p}.attention.output.dense.lora_A.weight"),
            vec![4, 32],
        ),
        (
            format!("{p}.attention.output.dense.lora_B.weight"),
            vec![32, 4],
        ),
        (format!("{p}.mlp.gated_layers.lora_A.weight"), vec![4, 32]),
        (format!("{p}.mlp.gated_layers.lora_B.weight"), vec![128, 4]),
        (format!("{p}.mlp.wo.lora_A.weight"), vec![4, 64]),
        (format!("{p}.mlp.wo.lora_B.weight"), vec![32, 4]),
        (
            "base_model.model.bert.pooler.dense.weight".into(),
            vec![32, 32],
        ),
        ("base_model.model.bert.pooler.dense.bias".into(), vec![32]),
        ("base_model.model.classifier.weight".into(), vec![2, 32]),
        ("base_model.model.classifier.bias".into(), vec![2]),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

#[test]
fn adapter_config_has_peft_fields() {
    let cfg = LoraConfig::from_cli(8, 16.0, 0.05, "Wqkv,dense").unwrap();
    let json = AdapterConfig::from_lora(&cfg, Some("zhihan1996/DNABERT-2-117M")).to_json_string();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peft_type"], "LORA");
    assert_eq!(v["task_type"], "SEQ_CLS");
    assert_eq!(v["r"], 8);
    assert_eq!(v["lora_alpha"], 16);
    assert_eq!(v["lora_dropout"], 0.05);
    assert_eq!(v["bias"], "none");
    assert_eq!(v["fan_in_fan_out"], false);
    assert_eq!(v["inference_mode"], true);
    assert_eq!(v["init_lora_weights"], true);
    assert_eq!(v["use_rslora"], false);
    assert_eq!(v["use_dora"], false);
    assert_eq!(v["base_model_name_or_path"], "zhihan1996/DNABERT-2-117M");
    assert_eq!(
        v["target_modules"],
        serde_json::json!(["attention.self.Wqkv", "attention.output.dense"])
    );
    assert_eq!(
        v["modules_to_save"],
        serde_json::json!(["classifier", "pooler"])
    );
    // PEFT writes sorted keys.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let pos: Vec<usize> = ["\"alpha_pattern\"", "\"use_rslora\""]
        .iter()
        .map(|k| json.find(k).unwrap())
        .collect();
    assert!(pos[0] < pos[1], "keys are not in sorted order in the file");
}

#[test]
fn reads_a_peft_written_config() {
    // As written by PEFT 0.13 for DNABERT-2 (short target names, extra keys ignored).
    let text = r#"{
  "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "zhihan1996/DNABERT-2-117M",
  "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
  "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
  "loftq_config": {}, "lora_alpha": 16, "lora_dropout": 0.05, "megatron_config": null,
  "megatron_core": "megatron.core", "modules_to_save": ["classifier", "pooler"],
  "peft_type": "LORA", "r": 8, "rank_pattern": {}, "revision": null,
  "target_modules": ["wo", "Wqkv"], "task_type": "SEQ_CLS", "use_dora": false,
  "use_rslora": false, "lora_bias": false, "exclude_modules": null
}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(ADAPTER_CONFIG);
    std::fs::write(&path, text).unwrap();
    let cfg = AdapterConfig::read(&path)
        .unwrap()
        .to_lora_config(&path)
        .unwrap();
    assert_eq!(cfg, LoraConfig::from_cli(8, 16.0, 0.05, "Wqkv,wo").unwrap());
    // The upstream-script trap: query/value do not exist in DNABERT-2.
    std::fs::write(
        &path,
        text.replace(r#"["wo", "Wqkv"]"#, r#"["query", "value"]"#),
    )
    .unwrap();
    let err = AdapterConfig::read(&path)
        .unwrap()
        .to_lora_config(&path)
        .unwrap_err();
    assert!(
        matches!(err, LoraError::UnknownTarget { ref target } if target == "query"),
        "{err}"
    );
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let lora_cfg = LoraConfig::from_cli(4, 8.0, 0.1, "Wqkv,gated_layers,wo").unwrap();
    let lora = trained_like(apply_lora(base.clone(), &lora_cfg).unwrap(), &device);
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&lora, &lora_cfg, Some("base-dir"), dir.path()).unwrap();
    // Only adapter files, no leftover temp files.
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![ADAPTER_CONFIG.to_string(), ADAPTER_WEIGHTS.to_string()]
    );

    // A fresh copy of the base with a different random head: the saved head must win.
    let other_head = BertForSequenceClassification::<B>::init(&cfg, &device);
    let fresh = BertForSequenceClassification {
        classifier: other_head.classifier,
        ..base
    };
    let (loaded, adapter_cfg) = load_adapter(fresh, dir.path()).unwrap();
    assert_eq!(adapter_cfg.to_lora_config(dir.path()).unwrap(), lora_cfg);
    assert_eq!(
        adapter_cfg,
        AdapterConfig::from_lora(&lora_cfg, Some("base-dir"))
    );
    let before = adapter_tensors(&lora, true);
    let after = adapter_tensors(&loaded, true);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (k, (s, d)) in &before {
        let (s2, d2) = &after[k];
        assert_eq!(s, s2, "{k}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(d), bits(d2), "{k}");
    }
    // And the saved file holds exactly those tensors.
    let on_disk = Weights::read(dir.path().join(ADAPTER_WEIGHTS)).unwrap();
    assert_eq!(on_disk.shapes().len(), before.len());
    // Same function.
    let input = batch::<B>(2, 9, 64, 7, &device);
    assert_eq!(
        data(lora.forward(input.clone())),
        data(loaded.forward(input))
    );
}

#[test]
fn load_errors_name_the_key() {
    let device = Default::default();
    let cfg = small_cfg(2);
    let base = BertForSequenceClassification::<B>::init(&cfg, &device);
    let lora_cfg = LoraConfig::from_cli(4, 8.0, 0.0, "wo").unwrap();
    let lora = apply_lora(base.clone(), &lora_cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&lora, &lora_cfg, None, dir.path()).unwrap();
    // Claim more targets than were saved: the first missing key is reported.
    let path = dir.path().join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"mlp.wo\"", "\"mlp.wo\", \"Wqkv\"")).unwrap();
    let err = load_adapter(base.clone(), dir.path()).unwrap_err();
    match err {
        LoraError::MissingTensor { key, .. } => assert_eq!(
            key,
            "base_model.model.bert.encoder.layer.0.attention.self.Wqkv.lora_A.weight"
        ),
        other => panic!("unexpected error {other}"),
    }
    // A different rank: shape mismatch naming the key.
    std::fs::write(&path, text.replace("\"r\": 4", "\"r\": 2")).unwrap();
    let err = load_adapter(base, dir.path()).unwrap_err();
    assert!(
        matches!(err, LoraError::ShapeMismatch { ref key, .. } if key.ends_with("layer.0.mlp.wo.lora_A.weight")),
        "{err}"
    );
}
