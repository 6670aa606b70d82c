//! `pretrained::load` on every kind of source: a plain model directory, a Hugging Face cache
//! (blobs + symlinked snapshot + refs/main) by hub id and by entry path, and the errors for
//! what cannot be found.

use crate::common;

use std::path::Path;

use burn::prelude::*;
use common::{B, fixture, input, read_st};
use dnabert2_model::pretrained::{self, Model};
use dnabert2_model::{ModelError, checkpoint};

fn bits<const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
    t.into_data()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// A fake HF cache under `root` holding `files` of `model_dir` as `ORG/NAME` at commit `rev`.
fn fake_cache(root: &Path, id: &str, rev: &str, model_dir: &Path, files: &[&str]) {
    let entry = root.join(format!("models--{}", id.replace('/', "--")));
    let (blobs, snap) = (entry.join("blobs"), entry.join("snapshots").join(rev));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(entry.join("refs")).unwrap();
    std::fs::write(entry.join("refs/main"), rev).unwrap();
    for (i, f) in files.iter().enumerate() {
        let blob = blobs.join(format!("blob{i:04}"));
        std::fs::copy(model_dir.join(f), &blob).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/blob{i:04}"), snap.join(f)).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, snap.join(f)).unwrap();
    }
}

#[test]
fn loads_a_directory_and_picks_the_head_from_the_weights() {
    let device = Default::default();
    let p = pretrained::load::<B>(fixture("tiny12").to_str().unwrap(), &device).unwrap();
    // The fixture holds MLM head, pooler and classifier: the classifier wins.
    assert!(matches!(p.model, Model::Classifier(ref m) if m.num_labels == 3));
    assert!(!p.tokenizer_from_dir, "the fixture has no tokenizer.json");
    let (want, _) = checkpoint::load_classifier::<B>(fixture("tiny12"), None, &device).unwrap();
    let x = input::<B>(
        &read_st("inputs.safetensors"),
        "input_ids",
        "attention_mask",
        &device,
    );
    let Model::Classifier(m) = &p.model else {
        unreachable!()
    };
    assert_eq!(bits(m.forward(x.clone())), bits(want.forward(x)));
}

#[test]
fn hub_id_resolves_offline_from_the_cache() {
    let device = Default::default();
    let cache = tempfile::tempdir().unwrap();
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let files = ["config.json", "model.safetensors"];
    fake_cache(
        cache.path(),
        "example/tiny12",
        rev,
        &fixture("tiny12"),
        &files,
    );
    // The tokenizer comes from the snapshot when present.
    let tok = dna_bpe::Tokenizer::dnabert2();
    let entry = cache.path().join("models--example--tiny12");
    tok.save(entry.join("snapshots").join(rev).join("tokenizer.json"))
        .unwrap();

    // SAFETY (test): the variable is only read by this process's resolve().
    unsafe { std::env::set_var("HF_HUB_CACHE", cache.path()) };
    let dir = pretrained::resolve("example/tiny12").unwrap();
    assert_eq!(dir, entry.join("snapshots").join(rev));
    let p = pretrained::load::<B>("example/tiny12", &device).unwrap();
    assert!(p.tokenizer_from_dir);
    assert_eq!(p.config.hidden_size, 96);
    // By revision and by the cache entry's path too.
    assert_eq!(
        pretrained::resolve(&format!("example/tiny12@{rev}")).unwrap(),
        dir
    );
    assert_eq!(pretrained::resolve(entry.to_str().unwrap()).unwrap(), dir);

    // Absent: the error says where it looked and how to download.
    let e = pretrained::resolve("example/absent").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::ModelNotFound { .. }), "{e}");
    assert!(msg.contains(cache.path().to_str().unwrap()), "{msg}");
    assert!(
        msg.contains("huggingface-cli download example/absent"),
        "{msg}"
    );
    // A revision the cache does not have.
    let e = pretrained::resolve("example/tiny12@feedface").unwrap_err();
    assert!(e.to_string().contains("no snapshot feedface"), "{e}");
}

#[test]
fn not_a_directory_nor_an_id_is_an_error() {
    let e = pretrained::resolve("./no/such/dir/at/all").unwrap_err();
    assert!(e.to_string().contains("no such directory"), "{e}");
}

#[test]
fn exported_config_names_the_remote_code() {
    let dir = tempfile::tempdir().unwrap();
    let (m, cfg) = checkpoint::load_mlm::<B>(fixture("tiny12"), &Default::default()).unwrap();
    checkpoint::save_mlm(&m, &cfg, dir.path()).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(v["architectures"][0], "BertForMaskedLM");
    assert_eq!(v["model_type"], "bert");
    assert_eq!(
        v["auto_map"]["AutoModelForMaskedLM"],
        "zhihan1996/DNABERT-2-117M--bert_layers.BertForMaskedLM"
    );
    // And it still loads here.
    pretrained::load::<B>(dir.path().to_str().unwrap(), &Default::default()).unwrap();
}
