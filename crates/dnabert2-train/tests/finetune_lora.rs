//! A LoRA fine-tune through the library path ([`finetune_source`]) writes the merged best
//! checkpoint and the PEFT adapter directory.

use std::collections::BTreeSet;
use std::path::Path;

use dnabert2_model::BertConfig;
use dnabert2_model::backend::CpuAutodiff;
use dnabert2_model::checkpoint::Weights;
use dnabert2_train::finetune::{
    ADAPTER_DIR, FinetuneOptions, ModelSource, TaskSplits, finetune_source,
};

/// Tensor names of a safetensors file, read from its JSON header.
fn safetensors_keys(path: &Path) -> BTreeSet<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k != "__metadata__")
        .collect()
}

#[test]
fn lora_finetune_writes_peft_adapter_and_merged_checkpoint() {
    let _g = crate::common::serial();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/finetune/prom");
    let splits = TaskSplits::read_dir(&data).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut o = FinetuneOptions::new(out.path());
    (o.seed, o.max_steps, o.batch_size, o.lr) = (3, Some(4), 16, Some(1e-3));
    (o.warmup_steps, o.eval_every, o.max_len, o.progress) = (Some(1), 2, Some(20), false);
    let lora =
        dnabert2_lora::LoraConfig::from_cli(4, 8.0, 0.05, "Wqkv,dense,gated_layers,wo").unwrap();
    let src = ModelSource::Preset("tiny".into());
    let s = finetune_source::<CpuAutodiff>(&src, &splits, &o, &[Default::default()], Some(&lora))
        .unwrap();
    assert_eq!(s.steps_run, 4);

    // Merged best checkpoint: plain HF names, no adapter tensors.
    let merged = safetensors_keys(&out.path().join("model.safetensors"));
    assert!(merged.contains("bert.encoder.layer.0.attention.self.Wqkv.weight"));
    assert!(merged.contains("classifier.weight"));
    assert!(!merged.iter().any(|k| k.contains("lora_")), "{merged:?}");

    // Adapter: PEFT config and exactly PEFT's keys (4 targets x A/B per layer + head).
    let dir = out.path().join(ADAPTER_DIR);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(
        (cfg["r"].as_u64(), cfg["lora_alpha"].as_f64()),
        (Some(4), Some(8.0))
    );
    assert_eq!(cfg["task_type"], "SEQ_CLS");
    assert_eq!(cfg["target_modules"].as_array().map(Vec::len), Some(4));
    let layers = BertConfig::preset("tiny").unwrap().num_hidden_layers;
    let mut expected: BTreeSet<String> = [
        "classifier.weight",
        "classifier.bias",
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
    ]
    .iter()
    .map(|k| format!("base_model.model.{k}"))
    .collect();
    for i in 0..layers {
        for m in [
            "attention.self.Wqkv",
            "attention.output.dense",
            "mlp.gated_layers",
            "mlp.wo",
        ] {
            for ab in ['A', 'B'] {
                expected.insert(format!(
                    "base_model.model.bert.encoder.layer.{i}.{m}.lora_{ab}.weight"
                ));
            }
        }
    }
    let file = dir.join("adapter_model.safetensors");
    assert_eq!(safetensors_keys(&file), expected);

    // The saved adapter is the trained one: B starts at zero and has moved.
    let w = Weights::read(&file).unwrap();
    let key =
        |ab| format!("base_model.model.bert.encoder.layer.0.attention.self.Wqkv.lora_{ab}.weight");
    let d = BertConfig::preset("tiny").unwrap().hidden_size;
    let (a_shape, _) = w.get(&key('A')).unwrap();
    let (b_shape, b) = w.get(&key('B')).unwrap();
    assert_eq!(
        (a_shape.as_slice(), b_shape.as_slice()),
        ([4, d].as_slice(), [3 * d, 4].as_slice())
    );
    assert!(b.iter().any(|v| *v != 0.0), "lora_B never trained");
}
