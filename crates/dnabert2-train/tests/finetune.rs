//! Fine-tuning protocol on a real 200-row slice of GUE prom_core_tata (tiny model, CPU).

use std::path::{Path, PathBuf};

use dnabert2_model::backend::{CpuAutodiff, CpuBackend};
use dnabert2_model::checkpoint::{Weights, find_weights, load_classifier};
use dnabert2_train::finetune::encode::{Encoded, tokenizer_for};
use dnabert2_train::finetune::evaluate::evaluate;
use dnabert2_train::finetune::{FinetuneOptions, ModelSource, Problem, TaskSplits, finetune_with};
use dnabert2_train::metrics_log::MetricsLog;
use dnabert2_train::predict::{PredictOptions, predict_file};

use crate::common::serial;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/finetune")
        .join(name)
}

fn tiny_opts(out: &Path) -> FinetuneOptions {
    let mut o = FinetuneOptions::new(out);
    o.seed = 7;
    o.epochs = Some(10.0);
    o.max_steps = Some(24);
    o.batch_size = 16;
    o.lr = Some(2e-3);
    o.warmup_steps = Some(4);
    o.eval_every = 4;
    o.max_len = Some(20);
    o.dropout = Some(0.0);
    o.progress = false;
    o
}

fn run(splits: &TaskSplits, opts: &FinetuneOptions) -> dnabert2_train::finetune::FinetuneSummary {
    let src = ModelSource::Preset("tiny".into());
    finetune_with::<CpuAutodiff, _, _>(&src, splits, opts, &[Default::default()], |m| m)
        .unwrap()
        .0
}

#[test]
fn keeps_lowest_dev_loss_checkpoint_and_reports_its_test_metrics() {
    let _g = serial();
    let splits = TaskSplits::read_dir(&data("prom")).unwrap();
    assert_eq!(
        (splits.problem, splits.num_labels, splits.train.len()),
        (Problem::SingleLabel, 2, 200)
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = tiny_opts(dir.path());
    let s = run(&splits, &opts);

    // The chosen step is the argmin of the logged dev losses (first one on ties).
    let rows = MetricsLog::read(&dir.path().join("metrics.jsonl")).unwrap();
    let evals: Vec<(u64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r.get("eval_loss")?.as_f64()?)))
        .collect();
    assert_eq!(
        evals.iter().map(|e| e.0).collect::<Vec<_>>(),
        [4, 8, 12, 16, 20, 24]
    );
    let min = evals
        .iter()
        .cloned()
        .fold((0, f64::INFINITY), |b, e| if e.1 < b.1 { e } else { b });
    assert_eq!((s.step, s.dev_loss), min);
    assert!(
        s.dev_loss < evals[0].1 || s.step == 4,
        "training should lower the dev loss"
    );

    // test_metrics.json carries the protocol fields.
    let tm: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("test_metrics.json")).unwrap(),
    )
    .unwrap();
    for k in [
        "accuracy",
        "f1",
        "mcc",
        "precision",
        "recall",
        "dev_loss",
        "step",
        "seed",
        "train_seconds",
        "test_loss",
    ] {
        assert!(tm.get(k).is_some(), "test_metrics.json lacks {k}: {tm}");
    }
    assert_eq!(tm["step"].as_u64(), Some(s.step));
    assert_eq!(tm["seed"].as_u64(), Some(7));
    let acc = tm["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));

    // The saved directory is an HF model with pooler + classifier and label maps...
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["num_labels"], 2);
    assert_eq!(cfg["id2label"]["1"], "1");
    let w = Weights::read(find_weights(dir.path()).unwrap()).unwrap();
    for k in [
        "bert.pooler.dense.weight",
        "classifier.weight",
        "classifier.bias",
        "bert.encoder.layer.1.mlp.wo.weight",
    ] {
        assert!(w.contains(k), "missing {k}");
    }
    // ... and reloading it reproduces the chosen checkpoint's test loss and metrics.
    let device = Default::default();
    let (model, _) = load_classifier::<CpuBackend>(dir.path(), None, &device).unwrap();
    let tok = tokenizer_for(dna_bpe::Tokenizer::dnabert2(), Some(20)).unwrap();
    let test = Encoded::new(&tok, &splits.test).unwrap();
    let ev = evaluate(
        |x| model.forward(x),
        &test,
        Problem::SingleLabel,
        2,
        64,
        &device,
    )
    .unwrap();
    assert!(
        (ev.loss - s.test_loss).abs() < 1e-5,
        "{} vs {}",
        ev.loss,
        s.test_loss
    );
    assert_eq!(ev.metrics, s.test);

    // Same seed, same run.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = run(&splits, &tiny_opts(dir2.path()));
    assert_eq!(
        (s2.step, s2.dev_loss, s2.test_loss),
        (s.step, s.dev_loss, s.test_loss)
    );

    // Prediction from the saved directory: CSV and FASTA.
    let out_csv = dir.path().join("pred/test.csv");
    let p = predict_file::<CpuBackend>(
        dir.path(),
        &data("prom/test.csv"),
        &out_csv,
        &PredictOptions {
            batch_size: 7,
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    assert_eq!(p.rows, 60);
    let text = std::fs::read_to_string(&out_csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,label,prob_0,prob_1");
    assert_eq!(lines.len(), 61);
    let mut correct = 0;
    let truth: Vec<u32> = match &splits.test.targets {
        dnabert2_train::finetune::Targets::Class(y) => y.clone(),
        _ => unreachable!(),
    };
    for (i, l) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[0], i.to_string());
        let (p0, p1): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert!((p0 + p1 - 1.0).abs() < 1e-5);
        assert_eq!(f[1], if p1 > p0 { "1" } else { "0" });
        correct += (f[1] == truth[i].to_string()) as usize;
    }
    let acc_pred = correct as f64 / 60.0;
    assert!(
        (acc_pred - acc).abs() < 1e-9,
        "predict accuracy {acc_pred} vs reported {acc}"
    );

    let out_fa = dir.path().join("pred/fa.csv");
    let p = predict_file::<CpuBackend>(
        dir.path(),
        &data("predict.fa"),
        &out_fa,
        &PredictOptions::default(),
        &device,
    )
    .unwrap();
    assert_eq!(p.rows, 25);
    let text = std::fs::read_to_string(&out_fa).unwrap();
    let l1: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(l1[0], "rec0");
    let s: f64 = l1[2..].iter().map(|v| v.parse::<f64>().unwrap()).sum();
    assert!((s - 1.0).abs() < 1e-5);
    // No temp files left next to the outputs.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("pred"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn pair_input_with_class_weights_and_regression_run() {
    let _g = serial();
    let pair = TaskSplits::read_dir(&data("pair")).unwrap();
    assert!(pair.is_pair());
    let dir = tempfile::tempdir().unwrap();
    let mut o = tiny_opts(dir.path());
    o.max_steps = Some(6);
    o.eval_every = 3;
    o.class_weights = Some(dnabert2_train::finetune::ClassWeights::Balanced);
    let s = run(&pair, &o);
    assert_eq!(
        (s.problem, s.num_labels, s.steps_run),
        (Problem::SingleLabel, 2, 6)
    );
    assert!(s.test.is_some());
    let settings = std::fs::read_to_string(dir.path().join("finetune.json")).unwrap();
    assert!(settings.contains("\"pair\": true"));
    // Pair model refuses single-sequence input, naming the file.
    let err = predict_file::<CpuBackend>(
        dir.path(),
        &data("prom/test.csv"),
        &dir.path().join("p.csv"),
        &PredictOptions::default(),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("prom/test.csv") && err.contains("seq1,seq2"),
        "{err}"
    );

    let reg = TaskSplits::read_dir(&data("regression")).unwrap();
    assert_eq!((reg.problem, reg.num_labels), (Problem::Regression, 1));
    let dir = tempfile::tempdir().unwrap();
    let mut o = tiny_opts(dir.path());
    o.max_steps = Some(6);
    o.eval_every = 3;
    o.lr = Some(1e-3);
    let s = run(&reg, &o);
    assert_eq!(s.problem, Problem::Regression);
    assert!(s.test.is_none());
    let mse = s.test_mse.unwrap();
    assert!((mse - s.test_loss).abs() < 1e-6 && mse.is_finite());
    let p = predict_file::<CpuBackend>(
        dir.path(),
        &data("regression/test.csv"),
        &dir.path().join("p.csv"),
        &PredictOptions::default(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(p.rows, 60);
    let text = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    assert!(text.starts_with("id,prediction\n"));
}

#[test]
fn bad_inputs_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "train.csv",
            "sequence,label\nACGTACGT,0\nACGTTT,1\nACGGG,x\n",
        ),
        ("dev.csv", "sequence,label\nACGT,0\n"),
        ("test.csv", "sequence,label\nACGT,1\n"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let err = TaskSplits::read_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("train.csv") && err.contains("line 4") && err.contains("`x`"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("train.csv"),
        "sequence,label\nACGTACGT,0\nACGTTT,1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        "sequence,label\nACGT,1\nACGT,5\n",
    )
    .unwrap();
    let err = TaskSplits::read_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("test.csv") && err.contains("line 3") && err.contains("label 5"),
        "{err}"
    );

    std::fs::write(dir.path().join("test.csv"), "seq,label\nACGT,1\n").unwrap();
    std::fs::write(dir.path().join("dev.csv"), "label,other\n1,2\n").unwrap();
    let err = TaskSplits::read_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("dev.csv") && err.contains("line 1") && err.contains("sequence"),
        "{err}"
    );

    std::fs::write(dir.path().join("dev.csv"), "sequence,label\n,1\n").unwrap();
    let err = TaskSplits::read_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("dev.csv") && err.contains("line 2"), "{err}");
}

#[test]
fn gue_runner_records_runs_and_resumes() {
    use dnabert2_train::gue::{GueOverrides, GueTuner};
    let _g = serial();
    let root = tempfile::tempdir().unwrap();
    let task_dir = root.path().join("prom/slice");
    std::fs::create_dir_all(&task_dir).unwrap();
    for s in ["train", "dev", "test"] {
        std::fs::copy(
            data(&format!("prom/{s}.csv")),
            task_dir.join(format!("{s}.csv")),
        )
        .unwrap();
    }
    let registry = gue_bench::Registry::from_str(
        "[[task]]\ngroup = \"prom\"\nname = \"slice\"\nbenchmark = \"GUE\"\ncategory = \"test\"\n\
         input = \"single\"\nnum_labels = 2\nmetric = \"mcc\"\nmax_length = 20\nepochs = 10\n\
         warmup_steps = 2\neval_steps = 3\n",
        "inline.toml",
    )
    .unwrap();
    let tasks = registry.select(&["prom/slice".to_string()]).unwrap();
    let tuner = GueTuner::<CpuAutodiff> {
        label: "tiny-test".into(),
        source: ModelSource::Preset("tiny".into()),
        overrides: GueOverrides {
            max_steps: Some(6),
            lr: Some(1e-3),
            ..Default::default()
        },
        devices: vec![Default::default()],
        progress: false,
        lora: None,
    };
    // Registry settings reach the run options; overrides win.
    let o = tuner.options(tasks[0], 1, Path::new("x"));
    assert_eq!(
        (
            o.max_len,
            o.eval_every,
            o.warmup_steps,
            o.max_steps,
            o.epochs
        ),
        (Some(20), 3, Some(2), Some(6), Some(10.0))
    );
    let out = tempfile::tempdir().unwrap();
    let cfg = gue_bench::RunnerConfig {
        out_dir: out.path().into(),
        data_root: root.path().into(),
        seeds: vec![0, 1],
        progress: false,
    };
    let s = gue_bench::run_benchmark(&registry, &tasks, &tuner, &cfg).unwrap();
    assert_eq!((s.ran.len(), s.failed.len()), (2, 0), "{:?}", s.failed);
    let recs = gue_bench::runner::read_results(&out.path().join("results.jsonl")).unwrap();
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let tm: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join(format!(
                "runs/tiny-test/prom/slice/seed{}/test_metrics.json",
                r.seed
            )))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(tm["mcc"].as_f64(), Some(r.mcc));
        assert_eq!(tm["steps_run"], 6);
    }
    assert!(out.path().join("report.md").is_file());
    let again = gue_bench::run_benchmark(&registry, &tasks, &tuner, &cfg).unwrap();
    assert_eq!((again.ran.len(), again.skipped.len()), (0, 2));
}

/// Data-parallel fine-tuning: two worker threads (each half of every batch, gradients
/// summed) log the same losses and choose the same checkpoint as one worker, with class
/// weights on (the loss share follows the weights, not the row count) and an odd last
/// batch of the epoch (200 rows, batch 16: 8 rows, 4 per worker).
#[test]
fn two_worker_threads_match_one() {
    let _g = serial();
    let splits = TaskSplits::read_dir(&data("prom")).unwrap();
    let src = ModelSource::Preset("tiny".into());
    let run = |n: usize| {
        let dir = tempfile::tempdir().unwrap();
        let mut o = tiny_opts(dir.path());
        o.max_steps = Some(14);
        o.log_every = 1;
        o.class_weights = Some(dnabert2_train::finetune::ClassWeights::Balanced);
        let devices = vec![Default::default(); n];
        let s = finetune_with::<CpuAutodiff, _, _>(&src, &splits, &o, &devices, |m| m)
            .unwrap()
            .0;
        let rows = MetricsLog::read(&dir.path().join("metrics.jsonl")).unwrap();
        let losses: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.get("loss")?.as_f64())
            .collect();
        (s, losses)
    };
    let (one, l1) = run(1);
    let (two, l2) = run(2);
    assert_eq!(l1.len(), 14);
    assert_eq!(l2.len(), 14, "the leader logs every step once");
    for (i, (a, b)) in l1.iter().zip(&l2).enumerate() {
        assert!((a - b).abs() < 1e-5, "step {}: {a} vs {b}", i + 1);
    }
    assert_eq!(one.step, two.step);
    assert!((one.dev_loss - two.dev_loss).abs() < 1e-5);
    let (m1, m2) = (one.test.unwrap(), two.test.unwrap());
    assert!((m1.mcc - m2.mcc).abs() < 1e-9, "{} vs {}", m1.mcc, m2.mcc);
}
