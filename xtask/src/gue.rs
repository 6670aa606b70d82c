//! `cargo xtask gue`: fine-tune on GUE tasks x seeds through gue-bench's resumable runner,
//! then write `OUT/results.jsonl`, `OUT/report.md` and `OUT/report.png`.

use std::path::PathBuf;
use std::time::Instant;

use dnabert2_train::gue::{GueOverrides, GueTuner};
use gue_bench::{Registry, RunnerConfig, run_benchmark};

use crate::finetune::source;
use crate::pretrain::{Backend, with_backend};

/// Flags of `cargo xtask gue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the datasets (`ROOT/prom/prom_core_tata/train.csv`, ...);
    /// default `$GUE_DATA_ROOT`.
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Comma-separated task paths (`prom/prom_core_tata,tf/2,mouse/2`).
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Number of seeds per task (seeds 0..N).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Output directory (results.jsonl, report.md, runs/...). Re-running skips finished runs.
    #[arg(long)]
    out: PathBuf,
    /// Start every run from this model directory.
    #[arg(long, conflicts_with = "preset")]
    model: Option<PathBuf>,
    /// Start every run from a random model of this size (default small).
    #[arg(long)]
    preset: Option<String>,
    /// Model label stored in results (default: derived from --model / --preset).
    #[arg(long)]
    label: Option<String>,
    /// Registry file (default: the embedded datasets.toml).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Epochs instead of the registry's.
    #[arg(long)]
    epochs: Option<f64>,
    /// Cap on optimizer steps per run (quick runs).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Examples per optimizer step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate (default 3e-5).
    #[arg(long)]
    lr: Option<f64>,
    /// Dev evaluation interval instead of the registry's.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Warmup steps instead of the registry's.
    #[arg(long)]
    warmup: Option<u64>,
    /// Early-stopping patience in evaluations.
    #[arg(long)]
    patience: Option<usize>,
    /// Train on a class-stratified, seed-dependent subsample of this fraction of each
    /// task's training rows (results are labelled `LABEL@trainF`).
    #[arg(long)]
    train_fraction: Option<f64>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = crate::finetune::default_backend())]
    backend: Backend,
    /// Devices, one worker thread each (`N`, `0,1`, `cuda:0,cuda:1`); `--batch-size` is the
    /// global batch.
    #[arg(long, default_value = "1")]
    devices: crate::pretrain::DeviceList,
    /// LoRA instead of full fine-tuning (`--lora-r 8 ...`); results are named `LABEL+lora-r8`.
    #[command(flatten)]
    lora: dnabert2_lora::cli::LoraArgs,
}

/// Runs the command.
pub fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let registry = match &a.registry {
        Some(p) => Registry::from_path(p)?,
        None => Registry::embedded()?,
    };
    let tasks = registry.select(&a.tasks)?;
    let data_root = gue_bench::data_root(a.data_root.as_deref())
        .ok_or("no data root: pass --data-root or set GUE_DATA_ROOT")?;
    let src = source(&a.model, &a.preset);
    let lora = a.lora.config()?;
    let label = a
        .label
        .clone()
        .unwrap_or_else(|| match (&a.model, &a.preset) {
            (Some(m), _) => m
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into()),
            (None, p) => format!("{}-scratch", p.as_deref().unwrap_or("small")),
        });
    let overrides = GueOverrides {
        epochs: a.epochs,
        max_steps: a.max_steps,
        batch_size: a.batch_size,
        lr: a.lr,
        eval_every: a.eval_every,
        warmup: a.warmup,
        patience: a.patience,
        train_fraction: a.train_fraction,
    };
    let cfg = RunnerConfig {
        out_dir: a.out.clone(),
        data_root,
        seeds: (0..a.seeds).collect(),
        progress: true,
    };
    std::fs::create_dir_all(&a.out)?;
    let start = Instant::now();
    let ids = &a.devices.0;
    let summary = with_backend!(a.backend, devices ids, |B, devs| {
        let tuner = GueTuner::<B> {
            label: label.clone(),
            source: src.clone(),
            overrides: overrides.clone(),
            devices: devs,
            progress: true,
            lora: lora.clone(),
        };
        run_benchmark(&registry, &tasks, &tuner, &cfg)?
    });
    for (task, report) in &summary.unavailable {
        eprintln!("skipped {task}: data unavailable or invalid:\n{report:?}");
    }
    for (task, seed, e) in &summary.failed {
        eprintln!("FAILED {task} seed {seed}: {e}");
    }
    eprintln!(
        "{} runs done, {} skipped (already in results.jsonl), {} failed in {:.1} s",
        summary.ran.len(),
        summary.skipped.len(),
        summary.failed.len(),
        start.elapsed().as_secs_f64()
    );
    let report = a.out.join("report.md");
    if let Ok(text) = std::fs::read_to_string(&report) {
        println!("{text}");
    }
    if summary.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} runs failed", summary.failed.len()).into())
    }
}
