//! The benchmark runner: tasks x seeds for one model, driving an abstract
//! [`FineTuner`]. Finished runs are stored in `results.jsonl` (one record per
//! task and seed) and skipped when the runner is started again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::data::{TaskData, load_task};
use crate::error::RunnerError;
use crate::metrics::Metrics;
use crate::registry::{MetricKind, Registry, TaskSpec};
use crate::report::write_report;
use crate::validate::ValidationReport;

/// File name of the run records inside the output directory.
pub const RESULTS_JSONL: &str = "results.jsonl";
/// File name of the CSV copy of the run records.
pub const RESULTS_CSV: &str = "results.csv";

/// Error type a fine-tuner may return.
pub type TuneError = Box<dyn std::error::Error + Send + Sync>;

/// What a fine-tuner reports for one (task, seed) run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Test-set metrics of the selected checkpoint.
    pub test: Metrics,
    /// Wall-clock training time in seconds.
    pub train_seconds: f64,
    /// Anything else worth keeping (dev metrics, steps, checkpoint path...).
    pub extra: serde_json::Value,
}

/// A model that can be fine-tuned and evaluated on one task.
///
/// Implemented by `dnabert2-train`; this crate knows nothing about models.
pub trait FineTuner {
    /// Label of the model configuration, stored in every record (e.g. `"dnabert2-117m"`).
    fn name(&self) -> String;

    /// Fine-tune on `data.train` (selecting on `data.dev`), evaluate on
    /// `data.test` and return the test metrics. `out_dir` is private to this
    /// (task, seed) run and already exists. The runner only calls this with
    /// all three splits present.
    fn run(
        &self,
        task: &TaskSpec,
        data: &TaskData,
        seed: u64,
        out_dir: &Path,
    ) -> Result<RunResult, TuneError>;
}

/// One finished run, as stored in `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`FineTuner::name`] of the model.
    pub model: String,
    /// Task path `group/name`.
    pub task: String,
    /// Random seed.
    pub seed: u64,
    /// Headline metric of the task.
    pub metric: MetricKind,
    /// Value of the headline metric (same scale as `mcc` / `f1`).
    pub score: f64,
    /// Matthews correlation coefficient.
    pub mcc: f64,
    /// Macro F1.
    pub f1: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Macro precision.
    pub precision: f64,
    /// Macro recall.
    pub recall: f64,
    /// Training time in seconds.
    pub train_seconds: f64,
    /// Extra information from the fine-tuner.
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl RunRecord {
    /// Build a record from a fine-tuner's result.
    pub fn new(model: &str, task: &TaskSpec, seed: u64, r: &RunResult) -> Self {
        RunRecord {
            model: model.to_string(),
            task: task.path(),
            seed,
            metric: task.metric,
            score: r.test.get(task.metric),
            mcc: r.test.mcc,
            f1: r.test.f1,
            accuracy: r.test.accuracy,
            precision: r.test.precision,
            recall: r.test.recall,
            train_seconds: r.train_seconds,
            extra: r.extra.clone(),
        }
    }

    fn same_run(&self, model: &str, task: &str, seed: u64) -> bool {
        self.model == model && self.task == task && self.seed == seed
    }
}

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Output directory (results, report, one sub-directory per run).
    pub out_dir: PathBuf,
    /// Directory holding the datasets (`<root>/<group>/<name>/train.csv`).
    pub data_root: PathBuf,
    /// Seeds to run for every task.
    pub seeds: Vec<u64>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What happened in one [`run_benchmark`] call.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// (task, seed) runs executed now.
    pub ran: Vec<(String, u64)>,
    /// (task, seed) runs skipped because `results.jsonl` already has them.
    pub skipped: Vec<(String, u64)>,
    /// (task, seed, error) runs whose fine-tuner failed.
    pub failed: Vec<(String, u64, String)>,
    /// Tasks skipped because their data is absent or invalid, with the findings.
    pub unavailable: Vec<(String, ValidationReport)>,
}

/// Read `results.jsonl` (a missing file is an empty list).
pub fn read_results(path: &Path) -> Result<Vec<RunRecord>, RunnerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RunnerError::Io {
                file: path.to_path_buf(),
                source,
            });
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RunnerError::Results {
                file: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Holds `out_dir/results.jsonl.lock` exclusively (an OS file lock, released on drop or
/// when the process dies), so several `run_benchmark` processes sharing one `out_dir` merge
/// their records instead of overwriting each other's.
struct ResultsLock(std::fs::File);

impl ResultsLock {
    fn acquire(out_dir: &Path) -> Result<Self, RunnerError> {
        let path = out_dir.join(format!("{RESULTS_JSONL}.lock"));
        let io = |source| RunnerError::Io {
            file: path.clone(),
            source,
        };
        std::fs::create_dir_all(out_dir).map_err(|source| RunnerError::Io {
            file: out_dir.to_path_buf(),
            source,
        })?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(Self(file))
    }
}

impl Drop for ResultsLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Merges `new` into the records on disk (a record of the same model, task and seed is
/// replaced) and writes them, under [`ResultsLock`]; returns the merged list. Records
/// another process wrote since this one read the file are kept.
pub fn merge_results(out_dir: &Path, new: &[RunRecord]) -> Result<Vec<RunRecord>, RunnerError> {
    let _lock = ResultsLock::acquire(out_dir)?;
    let mut records = read_results(&out_dir.join(RESULTS_JSONL))?;
    for r in new {
        records.retain(|o| !o.same_run(&r.model, &r.task, r.seed));
        records.push(r.clone());
    }
    write_results(out_dir, &records)?;
    Ok(records)
}

/// Write `results.jsonl` and `results.csv` in `out_dir` atomically.
pub fn write_results(out_dir: &Path, records: &[RunRecord]) -> Result<(), RunnerError> {
    let mut jsonl = String::new();
    for r in records {
        // A record of plain numbers and strings always serializes.
        jsonl.push_str(&serde_json::to_string(r).unwrap_or_default());
        jsonl.push('\n');
    }
    write_atomic(&out_dir.join(RESULTS_JSONL), jsonl.as_bytes())?;
    write_atomic(&out_dir.join(RESULTS_CSV), results_csv(records).as_bytes())
}

/// The CSV form of the records (no `extra` column).
pub fn results_csv(records: &[RunRecord]) -> String {
    let mut s = String::from(
        "model,task,seed,metric,score,mcc,f1,accuracy,precision,recall,train_seconds\n",
    );
    for r in records {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&r.model),
            csv_field(&r.task),
            r.seed,
            r.metric.as_str(),
            r.score,
            r.mcc,
            r.f1,
            r.accuracy,
            r.precision,
            r.recall,
            r.train_seconds
        ));
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Run every (task, seed) pair not yet in `results.jsonl`, then rewrite
/// `results.jsonl`, `results.csv`, `report.md` and `report.png`.
///
/// Results are saved after every finished run, so an interrupted benchmark
/// resumes where it stopped. Tasks whose data is missing or invalid are
/// reported in [`RunSummary::unavailable`] and skipped; a failing fine-tuner
/// run is recorded in [`RunSummary::failed`] and the others go on.
pub fn run_benchmark(
    registry: &Registry,
    tasks: &[&TaskSpec],
    tuner: &dyn FineTuner,
    cfg: &RunnerConfig,
) -> Result<RunSummary, RunnerError> {
    let model = tuner.name();
    let results_path = cfg.out_dir.join(RESULTS_JSONL);
    let records = read_results(&results_path)?;
    let mut summary = RunSummary::default();

    let total = (tasks.len() * cfg.seeds.len()) as u64;
    let bar = dna_bpe::progress::Bar::new(
        total,
        "{bar:30} {pos}/{len} runs [{elapsed_precise}] {msg}",
        cfg.progress,
    );

    for task in tasks {
        let path = task.path();
        let pending: Vec<u64> = cfg
            .seeds
            .iter()
            .copied()
            .filter(|&s| !records.iter().any(|r| r.same_run(&model, &path, s)))
            .collect();
        for &s in cfg.seeds.iter().filter(|s| !pending.contains(s)) {
            summary.skipped.push((path.clone(), s));
            bar.inc(1);
        }
        if pending.is_empty() {
            continue;
        }
        let loaded = load_task(&cfg.data_root, task);
        if !loaded.is_usable() {
            summary.unavailable.push((path.clone(), loaded.report));
            bar.inc(pending.len() as u64);
            continue;
        }
        for seed in pending {
            // Another process sharing out_dir may have finished this run meanwhile.
            if read_results(&results_path)?
                .iter()
                .any(|r| r.same_run(&model, &path, seed))
            {
                summary.skipped.push((path.clone(), seed));
                bar.inc(1);
                continue;
            }
            bar.set_message(format!("{path} seed {seed}"));
            let run_dir = cfg
                .out_dir
                .join("runs")
                .join(sanitize(&model))
                .join(&task.group)
                .join(&task.name)
                .join(format!("seed{seed}"));
            std::fs::create_dir_all(&run_dir).map_err(|source| RunnerError::Io {
                file: run_dir.clone(),
                source,
            })?;
            match tuner.run(task, &loaded.data, seed, &run_dir) {
                Ok(r) => {
                    merge_results(&cfg.out_dir, &[RunRecord::new(&model, task, seed, &r)])?;
                    summary.ran.push((path.clone(), seed));
                }
                Err(e) => summary.failed.push((path.clone(), seed, e.to_string())),
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let records = merge_results(&cfg.out_dir, &[])?;
    write_report(&cfg.out_dir, registry, &records)?;
    Ok(summary)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
