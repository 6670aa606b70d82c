//! Config parsing/validation, ALiBi slopes, and typed checkpoint errors.

use crate::common;

use common::{B, fixture};
use dnabert2_model::attention::alibi_slopes;
use dnabert2_model::checkpoint::{self, Weights};
use dnabert2_model::{BertConfig, ModelError};

#[test]
fn parses_hf_configs() {
    let c = BertConfig::from_file(fixture("tiny12/config.json")).unwrap();
    assert_eq!(
        (
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (96, 2, 12, 192)
    );
    assert_eq!(c.labels(), 3, "num_labels from id2label");
    assert_eq!(c.layer_norm_eps, 1e-12);
    let base = BertConfig::preset("base").unwrap();
    assert_eq!(
        (
            base.hidden_size,
            base.num_hidden_layers,
            base.num_attention_heads,
            base.intermediate_size
        ),
        (768, 12, 12, 3072)
    );
    assert_eq!(BertConfig::preset("small").unwrap().hidden_size, 256);
    assert_eq!(BertConfig::preset("tiny").unwrap().hidden_size, 128);
    assert!(BertConfig::preset("huge").is_err());
    let json = r#"{"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8, "num_labels": 1}"#;
    assert_eq!(BertConfig::from_json_str(json).unwrap().labels(), 1);
}

#[test]
fn rejects_bad_configs() {
    let bad = [
        (
            r#"{"hidden_size": 100, "num_hidden_layers": 1, "num_attention_heads": 12, "intermediate_size": 8}"#,
            "divisible",
        ),
        (
            r#"{"hidden_size": 0, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8}"#,
            "positive",
        ),
        (
            r#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "hidden_act": "relu"}"#,
            "relu",
        ),
        (
            r#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "num_labels": 0}"#,
            "num_labels",
        ),
    ];
    for (json, needle) in bad {
        let e = BertConfig::from_json_str(json).unwrap_err();
        assert!(matches!(e, ModelError::InvalidConfig(_)), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    let e = BertConfig::from_json_str("{\n \"hidden_size\": }").unwrap_err();
    assert!(matches!(e, ModelError::ConfigParse { .. }));
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = BertConfig::from_file(fixture("nope/config.json")).unwrap_err();
    assert!(matches!(e, ModelError::ConfigIo { .. }));
}

#[test]
fn alibi_slopes_match_spec() {
    let s12 = alibi_slopes(12);
    let want: Vec<f64> = (1..=8)
        .map(|k| 2f64.powi(-k))
        .chain([-0.5, -1.5, -2.5, -3.5].map(|e: f64| 2f64.powf(e)))
        .collect();
    for (a, b) in s12.iter().zip(&want) {
        assert!((a - b).abs() < 1e-15, "{s12:?}");
    }
    assert_eq!(
        alibi_slopes(8),
        (1..=8).map(|k| 2f64.powi(-k)).collect::<Vec<_>>()
    );
    // 6 heads: 4-head slopes then the even-indexed 8-head slopes 2^-1, 2^-3.
    let s6 = alibi_slopes(6);
    let want6 = [
        2f64.powi(-2),
        2f64.powi(-4),
        2f64.powi(-6),
        2f64.powi(-8),
        0.5,
        0.125,
    ];
    for (a, b) in s6.iter().zip(&want6) {
        assert!((a - b).abs() < 1e-15, "{s6:?}");
    }
}

fn tiny12() -> (BertConfig, Weights) {
    (
        BertConfig::from_file(fixture("tiny12/config.json")).unwrap(),
        Weights::read(fixture("tiny12/model.safetensors")).unwrap(),
    )
}

#[test]
fn missing_tensor_is_named() {
    let (cfg, w) = tiny12();
    let mut map: std::collections::BTreeMap<_, _> = w
        .shapes()
        .keys()
        .map(|k| (k.clone(), w.get(k).unwrap().clone()))
        .collect();
    map.remove("bert.encoder.layer.1.mlp.wo.bias");
    let mut w = Weights::from_map("mem", map);
    let e = checkpoint::mlm_from_weights::<B>(&mut w, &cfg, &Default::default()).unwrap_err();
    assert!(
        matches!(&e, ModelError::MissingTensor { key, .. } if key == "bert.encoder.layer.1.mlp.wo.bias"),
        "{e}"
    );
}

#[test]
fn wrong_shape_and_unexpected_keys_are_named() {
    let (cfg, w) = tiny12();
    let mut map: std::collections::BTreeMap<_, _> = w
        .shapes()
        .keys()
        .map(|k| (k.clone(), w.get(k).unwrap().clone()))
        .collect();
    map.insert(
        "bert.encoder.layer.0.attention.self.Wqkv.bias".into(),
        (vec![10], vec![0.0; 10]),
    );
    let mut w2 = Weights::from_map("mem", map.clone());
    let e = checkpoint::mlm_from_weights::<B>(&mut w2, &cfg, &Default::default()).unwrap_err();
    match e {
        ModelError::ShapeMismatch {
            key,
            found,
            expected,
            ..
        } => {
            assert_eq!(key, "bert.encoder.layer.0.attention.self.Wqkv.bias");
            assert_eq!((found, expected), (vec![10], vec![288]));
        }
        other => panic!("{other}"),
    }
    let (_, w) = tiny12();
    let mut map: std::collections::BTreeMap<_, _> = w
        .shapes()
        .keys()
        .map(|k| (k.clone(), w.get(k).unwrap().clone()))
        .collect();
    map.insert(
        "bert.encoder.layer.9.mlp.wo.bias".into(),
        (vec![96], vec![0.0; 96]),
    );
    let mut w3 = Weights::from_map("mem", map);
    let e = checkpoint::mlm_from_weights::<B>(&mut w3, &cfg, &Default::default()).unwrap_err();
    assert!(
        matches!(&e, ModelError::UnexpectedTensors { keys, .. } if keys == &["bert.encoder.layer.9.mlp.wo.bias"]),
        "{e}"
    );
}

#[test]
fn config_that_does_not_match_weights_fails() {
    let cfg8 = BertConfig::from_file(fixture("tiny8/config.json")).unwrap();
    let mut w = Weights::read(fixture("tiny12/pytorch_model.bin")).unwrap();
    let e = checkpoint::encoder_from_weights::<B>(&mut w, &cfg8, &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{e}");
    let e = checkpoint::load_mlm::<B>(fixture("nope"), &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::ConfigIo { .. }), "{e}");
    let e = Weights::read(fixture("tiny12/config.json")).unwrap_err();
    assert!(matches!(e, ModelError::CheckpointRead { .. }), "{e}");
}
