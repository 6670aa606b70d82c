//! The runner with a fake fine-tuner: resume/skip, results.jsonl/csv contents,
//! report layout.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gue_bench::runner::{RESULTS_CSV, RESULTS_JSONL, read_results};
use gue_bench::{
    FineTuner, Metrics, Registry, RunResult, RunnerConfig, TaskData, TaskSpec, TuneError,
    run_benchmark,
};

/// Deterministic fake: MCC = 0.5 + seed/100, checks the data it is given.
struct Fake {
    calls: Mutex<Vec<(String, u64)>>,
    fail_seed: Option<u64>,
}

impl Fake {
    fn new(fail_seed: Option<u64>) -> Self {
        Fake {
            calls: Mutex::new(Vec::new()),
            fail_seed,
        }
    }
}

impl FineTuner for Fake {
    fn name(&self) -> String {
        "fake-model".into()
    }

    fn run(
        &self,
        task: &TaskSpec,
        data: &TaskData,
        seed: u64,
        out_dir: &Path,
    ) -> Result<RunResult, TuneError> {
        self.calls.lock().unwrap().push((task.path(), seed));
        assert!(out_dir.is_dir());
        assert_eq!(data.train.as_ref().map(|s| s.len()), Some(40));
        if self.fail_seed == Some(seed) {
            return Err("simulated divergence".into());
        }
        let mcc = 0.5 + seed as f64 / 100.0;
        Ok(RunResult {
            test: Metrics {
                accuracy: 0.75,
                f1: 0.7,
                mcc,
                precision: 0.72,
                recall: 0.71,
            },
            train_seconds: 1.5,
            extra: serde_json::json!({ "steps": 10 }),
        })
    }
}

fn cfg(out: &Path, seeds: &[u64]) -> RunnerConfig {
    RunnerConfig {
        out_dir: out.to_path_buf(),
        data_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gue"),
        seeds: seeds.to_vec(),
        progress: false,
    }
}

#[test]
fn runs_resumes_and_reports() {
    let reg = Registry::embedded().unwrap();
    let tasks = reg.select(&["mouse/2".into(), "tf/4".into()]).unwrap();
    let out = tempfile::tempdir().unwrap();

    // First pass: seed 2 fails, tf/4 has no data.
    let fake = Fake::new(Some(2));
    let s = run_benchmark(&reg, &tasks, &fake, &cfg(out.path(), &[0, 1, 2])).unwrap();
    assert_eq!(
        s.ran,
        vec![("mouse/2".to_string(), 0), ("mouse/2".to_string(), 1)]
    );
    assert_eq!(s.failed.len(), 1);
    assert_eq!(
        (s.failed[0].1, s.failed[0].2.as_str()),
        (2, "simulated divergence")
    );
    assert_eq!(s.unavailable.len(), 1);
    assert_eq!(s.unavailable[0].0, "tf/4");
    assert!(out.path().join("runs/fake-model/mouse/2/seed0").is_dir());

    // Second pass: finished runs are skipped, only the failed seed runs again.
    let fake = Fake::new(None);
    let s = run_benchmark(&reg, &tasks, &fake, &cfg(out.path(), &[0, 1, 2])).unwrap();
    assert_eq!(
        *fake.calls.lock().unwrap(),
        vec![("mouse/2".to_string(), 2)]
    );
    assert_eq!(
        s.skipped,
        vec![("mouse/2".to_string(), 0), ("mouse/2".to_string(), 1)]
    );

    // results.jsonl: one object per (task, seed) with the required keys.
    let records = read_results(&out.path().join(RESULTS_JSONL)).unwrap();
    assert_eq!(records.len(), 3);
    let text = std::fs::read_to_string(out.path().join(RESULTS_JSONL)).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for k in [
            "task",
            "seed",
            "mcc",
            "f1",
            "accuracy",
            "precision",
            "recall",
            "train_seconds",
            "model",
            "score",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {line}");
        }
        assert_eq!(v["extra"]["steps"], 10);
    }
    assert_eq!(
        records.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(records[1].score, 0.51);

    // results.csv: header + 3 rows.
    let csv = std::fs::read_to_string(out.path().join(RESULTS_CSV)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "model,task,seed,metric,score,mcc,f1,accuracy,precision,recall,train_seconds"
    );
    assert_eq!(
        lines[1],
        "fake-model,mouse/2,0,mcc,0.5,0.5,0.7,0.75,0.72,0.71,1.5"
    );
    assert_eq!(lines.len(), 4);

    // report.md: mean ± sd of MCC x100 over seeds 0,1,2 = 51.00 ± 1.00, paper 79.32.
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("## fake-model"), "{md}");
    assert!(
        md.contains("| **Transcription Factor Prediction (Mouse) (GUE)** |"),
        "{md}"
    );
    assert!(
        md.contains("| | mouse/2 | MCC | 51.00 ± 1.00 | 3 | 79.32 | – | 71.52 |"),
        "{md}"
    );
    // Paper layout: all 28 GUE rows appear, grouped in paper order.
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| | ")).count(),
        28,
        "{md}"
    );
    let emp = md.find("EMP/H3 |").unwrap();
    let covid = md.find("virus/covid").unwrap();
    let splice = md.find("splice/reconstructed").unwrap();
    assert!(emp < covid && covid < splice);
    assert!(md.contains("| | tf/4 | MCC | – | 0 | 77.43 |"), "{md}");
    assert!(!md.contains("EPI/"), "GUE+ rows only when GUE+ has results");
    assert!(
        md.contains("Average over the 1 tasks with both scores** | | | 51.00 | | 79.32"),
        "{md}"
    );

    // report.png is a real PNG.
    let png = std::fs::read(out.path().join("report.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 5_000);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".tmp")
                || e.file_name().to_string_lossy().contains(".tmp.")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn corrupt_results_file_names_line() {
    let out = tempfile::tempdir().unwrap();
    let p = out.path().join(RESULTS_JSONL);
    std::fs::write(&p, "\n{\"not\": \"a record\"}\n").unwrap();
    let err = read_results(&p).unwrap_err();
    assert!(
        err.to_string()
            .contains("results.jsonl:2: bad result record"),
        "{err}"
    );
}

/// Fake whose runs take a while, so two benchmark runs sharing an out dir interleave.
struct Slow(Fake);

impl FineTuner for Slow {
    fn name(&self) -> String {
        self.0.name()
    }

    fn run(
        &self,
        task: &TaskSpec,
        data: &TaskData,
        seed: u64,
        out_dir: &Path,
    ) -> Result<RunResult, TuneError> {
        std::thread::sleep(std::time::Duration::from_millis(30));
        self.0.run(task, data, seed, out_dir)
    }
}

/// Two runs sharing one `--out` (two `cargo xtask gue` processes): every finished record
/// ends up in results.jsonl. Each used to rewrite the file from its own list, dropping the
/// other's rows.
#[test]
fn concurrent_runs_sharing_an_out_dir_keep_every_record() {
    let reg = Registry::embedded().unwrap();
    let tasks = reg.select(&["mouse/2".into()]).unwrap();
    let out = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for seeds in [[0u64, 2, 4, 6], [1, 3, 5, 7]] {
            let (reg, tasks, out) = (&reg, &tasks, out.path());
            scope.spawn(move || {
                let tuner = Slow(Fake::new(None));
                let s = run_benchmark(reg, tasks, &tuner, &cfg(out, &seeds)).unwrap();
                assert_eq!(s.ran.len(), 4);
            });
        }
    });
    let mut seeds: Vec<u64> = read_results(&out.path().join(RESULTS_JSONL))
        .unwrap()
        .iter()
        .map(|r| r.seed)
        .collect();
    seeds.sort_unstable();
    assert_eq!(seeds, (0..8).collect::<Vec<_>>());
    let csv = std::fs::read_to_string(out.path().join(RESULTS_CSV)).unwrap();
    assert_eq!(csv.lines().count(), 9, "header + 8 rows");
}
