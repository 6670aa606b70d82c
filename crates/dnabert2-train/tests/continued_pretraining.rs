//! Continued pretraining (issue 15): `init_from` loads a model losslessly (one step at lr 0
//! leaves every weight bit-identical, decoder tied, tokenizer carried along), a model
//! without an MLM head gets a fresh one, a conflicting tokenizer is refused, a CSV corpus
//! is tokenised as documented, and `train_fraction` subsamples deterministically per seed,
//! keeping every class.

use std::path::{Path, PathBuf};

use dnabert2_model::checkpoint::{self, Weights};
use dnabert2_train::backends::{FlexAutodiff, FlexBackend};
use dnabert2_train::corpus::{self, CorpusConfig};
use dnabert2_train::finetune::data::{Examples, Targets, TaskSplits};
use dnabert2_train::{Budget, PretrainConfig, TrainError, pretrain};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dnabert2-model/tests/fixtures/tiny12")
}

fn gue(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/gue")
        .join(path)
}

/// tiny12's encoder and MLM head alone (no classifier), as a pretraining output would be.
fn mlm_dir(root: &Path) -> PathBuf {
    let (m, cfg) = checkpoint::load_mlm::<FlexBackend>(fixture(), &Default::default()).unwrap();
    let out = root.join("mlm");
    checkpoint::save_mlm(&m, &cfg, &out).unwrap();
    out
}

fn config(corpus: Vec<PathBuf>, out: &Path, cache: &Path, init: &Path) -> PretrainConfig {
    let mut c = CorpusConfig::new(corpus, cache.to_path_buf());
    c.eval_fraction = 0.2;
    let mut cfg = PretrainConfig::new(c, out.to_path_buf(), "tiny", Budget::Steps(1));
    cfg.init_from = Some(init.to_path_buf());
    cfg.lr = 0.0;
    cfg.max_len = 64;
    cfg.batch_size = 4;
    cfg.eval_windows = 8;
    cfg.progress = false;
    cfg
}

fn tensors(dir: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let w = Weights::read(checkpoint::find_weights(dir).unwrap()).unwrap();
    w.shapes()
        .into_keys()
        .map(|k| {
            let v = w.tensor(&k).unwrap().1;
            (k, v)
        })
        .collect()
}

#[test]
fn one_step_at_lr_zero_keeps_every_weight() {
    let _g = crate::common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let init = mlm_dir(tmp.path());
    let out = tmp.path().join("run");
    let cfg = config(
        vec![gue("prom/prom_core_tata/train.csv")],
        &out,
        &tmp.path().join("cache"),
        &init,
    );
    let s = pretrain::<FlexAutodiff>(&cfg, &[Default::default()]).unwrap();
    assert_eq!(s.steps, 1);
    let ck = s.best_checkpoint.unwrap();
    let (a, b) = (tensors(&init), tensors(&ck));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same tensors (the decoder weight stays tied, not stored)"
    );
    assert!(!a.contains_key(checkpoint::DECODER_WEIGHT));
    for (k, v) in &a {
        let d = v
            .iter()
            .zip(&b[k])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(d, 0.0, "{k} changed by {d}");
    }
    // The checkpoint carries the tokenizer and loads back as a model.
    assert!(ck.join("tokenizer.json").is_file());
    let p =
        dnabert2_model::pretrained::load::<FlexBackend>(ck.to_str().unwrap(), &Default::default())
            .unwrap();
    assert!(p.tokenizer_from_dir);
    assert!(matches!(
        p.model,
        dnabert2_model::pretrained::Model::MaskedLm(_)
    ));
}

#[test]
fn a_classifier_gets_a_fresh_head_and_a_foreign_tokenizer_is_refused() {
    let _g = crate::common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let corpus = vec![gue("prom/prom_core_tata/train.csv")];
    let cache = tmp.path().join("cache");
    // tiny12 as shipped has a classifier: its encoder is kept, the MLM head is new.
    let cfg = config(corpus.clone(), &out, &cache, &fixture());
    let s = pretrain::<FlexAutodiff>(&cfg, &[Default::default()]).unwrap();
    let (a, b) = (tensors(&fixture()), tensors(&s.best_checkpoint.unwrap()));
    let enc = "bert.encoder.layer.0.attention.self.Wqkv.weight";
    assert_eq!(a[enc], b[enc], "encoder loaded");
    assert!(b.contains_key("cls.predictions.transform.dense.weight"));
    assert!(!b.keys().any(|k| k.starts_with("classifier")));
    // A tokenizer other than the model's.
    let tok = tmp.path().join("other.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&dna_bpe::Tokenizer::dnabert2().to_json_string().unwrap()).unwrap();
    json["model"]["merges"].as_array_mut().unwrap().pop(); // one merge fewer
    std::fs::write(&tok, json.to_string()).unwrap();
    let mut cfg = config(
        corpus,
        &tmp.path().join("run2"),
        &cache,
        &mlm_dir(tmp.path()),
    );
    cfg.corpus.tokenizer = Some(tok);
    match pretrain::<FlexAutodiff>(&cfg, &[Default::default()]) {
        Err(TrainError::Config(m)) => assert!(m.contains("differs from the tokenizer"), "{m}"),
        other => panic!("expected a tokenizer conflict, got {other:?}"),
    }
}

#[test]
fn csv_rows_are_cleaned_and_each_row_is_a_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let a = "acgtacgtagctagctagcatcgatcgatcgatcgactagctagc"; // 45 bp, lowercase
    let b = "TTGACAGGCTAGCTAGCTTTTAAACGGCATCGAT"; // 34 bp
    let c = "GGGCCCATATATCGCGTATAGCGCTAGAGAGAGATT"; // 36 bp
    let rows = [
        a.to_string(),
        String::new(),           // empty row
        format!("{b}NNNN{c}"),   // an N run cuts the row in two
        "ACGTNACGT".to_string(), // both segments under 32 bp: dropped
        "CAT".repeat(20),
    ];
    let csv = tmp.path().join("rows.csv");
    let text: String = std::iter::once("sequence,label\n".to_string())
        .chain(rows.iter().map(|r| format!("{r},0\n")))
        .collect();
    std::fs::write(&csv, text).unwrap();
    let mut cfg = CorpusConfig::new(vec![csv.clone()], tmp.path().join("cache"));
    cfg.eval_fraction = 0.3;
    let corpus = corpus::prepare(&cfg).unwrap();
    let m = corpus.manifest();
    let names: Vec<&str> = m.contigs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["row2", "row3", "row4", "row5", "row6"],
        "one record per row (file lines)"
    );
    let tok = dna_bpe::Tokenizer::dnabert2();
    let enc = |s: &str| tok.encode_with(s, None, false).unwrap().into_ids();
    let bases: Vec<u64> = m.contigs.iter().map(|c| c.bases).collect();
    assert_eq!(bases, [45, 0, 70, 0, 60]);
    // Units: one per kept segment, never crossing rows, tokens = the tokenizer's.
    let units: Vec<Vec<u32>> = m
        .units
        .iter()
        .map(|u| corpus.tokens(u, 0, u.len as usize))
        .collect();
    let want = [
        enc(&a.to_ascii_uppercase()),
        enc(b),
        enc(c),
        enc(&"CAT".repeat(20)),
    ];
    assert_eq!(units, want);
    assert!(m.units.iter().any(|u| u.eval) && m.units.iter().any(|u| !u.eval));

    // A GUE-style folder contributes its train.csv files only.
    let files = corpus::collect_inputs(&[gue("prom")]).unwrap();
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|f| f.file_name().unwrap() == "train.csv"),
        "{files:?}"
    );
}

#[test]
fn train_fraction_is_deterministic_and_keeps_every_class() {
    let splits = TaskSplits::read_dir(&gue("prom/prom_core_tata")).unwrap();
    let train = &splits.train;
    let Targets::Class(y) = &train.targets else {
        panic!("classification task")
    };
    let classes: std::collections::BTreeSet<u32> = y.iter().copied().collect();
    for f in [0.05, 0.2] {
        let a = train.subsample(f, 0).unwrap();
        assert_eq!(a, train.subsample(f, 0).unwrap(), "same seed, same rows");
        assert_ne!(
            a.seq1,
            train.subsample(f, 1).unwrap().seq1,
            "seed-dependent"
        );
        let Targets::Class(ya) = &a.targets else {
            unreachable!()
        };
        let kept: std::collections::BTreeSet<u32> = ya.iter().copied().collect();
        assert_eq!(kept, classes, "every class kept at {f}");
        let n = (train.len() as f64 * f).round() as i64;
        assert!(
            (a.len() as i64 - n).abs() <= classes.len() as i64,
            "{} vs {n}",
            a.len()
        );
        // Stratified: class proportions within one row of the full set's.
        for &c in &classes {
            let full = y.iter().filter(|&&v| v == c).count() as f64 * f;
            let got = ya.iter().filter(|&&v| v == c).count() as f64;
            assert!((got - full).abs() <= 1.0, "class {c}: {got} vs {full}");
        }
        // Rows stay in file order and pair with their labels (rows renamed to their
        // index, since real splits can repeat a sequence).
        let indexed = Examples {
            seq1: (0..train.len()).map(|i| i.to_string()).collect(),
            ..train.clone()
        };
        let b = indexed.subsample(f, 0).unwrap();
        let pos: Vec<usize> = b.seq1.iter().map(|s| s.parse().unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(b.targets, a.targets);
        assert!(pos.iter().zip(ya).all(|(&i, &l)| y[i] == l));
        assert!(pos.iter().zip(&a.seq1).all(|(&i, s)| &train.seq1[i] == s));
    }
    assert_eq!(train.subsample(1.0, 3).unwrap(), *train);
}

#[test]
fn a_fine_tuning_run_records_its_train_fraction() {
    let _g = crate::common::serial();
    use dnabert2_train::finetune::{FinetuneOptions, ModelSource, finetune_with};
    let splits = TaskSplits::read_dir(&gue("prom/prom_core_tata")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut o = FinetuneOptions::new(dir.path());
    o.max_steps = Some(2);
    o.eval_every = 2;
    o.max_len = Some(24);
    o.progress = false;
    o.train_fraction = Some(0.05);
    let src = ModelSource::Preset("tiny".into());
    let (s, _) =
        finetune_with::<FlexAutodiff, _, _>(&src, &splits, &o, &[Default::default()], |m| m)
            .unwrap();
    let want = splits.train.subsample(0.05, o.seed).unwrap().len();
    assert_eq!(s.train_examples, want);
    let j: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("test_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(j["train_fraction"], 0.05);
    assert_eq!(j["train_examples"], want);
    o.train_fraction = Some(1.5);
    assert!(
        finetune_with::<FlexAutodiff, _, _>(&src, &splits, &o, &[Default::default()], |m| m)
            .is_err()
    );
}
