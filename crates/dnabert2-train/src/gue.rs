//! The GUE benchmark's [`gue_bench::FineTuner`], backed by [`crate::finetune`]: each
//! (task, seed) run fine-tunes with the task's registry settings (max length, epochs,
//! step cap, warmup, evaluation interval) and reports the test metrics of the
//! lowest-dev-loss checkpoint.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use gue_bench::{FineTuner, RunResult, TaskData, TaskSpec, TuneError};
use serde_json::json;

use crate::finetune::{Examples, FinetuneOptions, ModelSource, TaskSplits, finetune_source};

/// Command-line overrides of the registry settings (all optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GueOverrides {
    /// Epochs instead of the registry's.
    pub epochs: Option<f64>,
    /// Step cap instead of the registry's (a quick run).
    pub max_steps: Option<u64>,
    /// Batch size (default 32).
    pub batch_size: Option<usize>,
    /// Peak learning rate (default: per starting point, see `FinetuneOptions::resolved`).
    pub lr: Option<f64>,
    /// Dev evaluation interval instead of the registry's.
    pub eval_every: Option<u64>,
    /// Warmup steps instead of the registry's.
    pub warmup: Option<u64>,
    /// Early-stopping patience in evaluations.
    pub patience: Option<usize>,
    /// Train on this class-stratified fraction of each task's training rows.
    pub train_fraction: Option<f64>,
}

/// A [`FineTuner`] fine-tuning DNABERT-2 classifiers on backend `B`.
pub struct GueTuner<B: AutodiffBackend> {
    /// Label stored in every record (e.g. `small-scratch`).
    pub label: String,
    /// Where the encoder comes from.
    pub source: ModelSource,
    /// Overrides of the registry's protocol settings.
    pub overrides: GueOverrides,
    /// Devices to train on (one worker thread each; data-parallel when several).
    pub devices: Vec<B::Device>,
    /// Draw per-run progress bars.
    pub progress: bool,
    /// Fine-tune with LoRA adapters instead of in full (each run also writes
    /// `adapter/` in the PEFT layout); the results' model name gets `+lora-r{r}`.
    pub lora: Option<dnabert2_lora::LoraConfig>,
}

impl<B: AutodiffBackend> GueTuner<B> {
    /// The fine-tuning options of one (task, seed) run.
    pub fn options(&self, task: &TaskSpec, seed: u64, out_dir: &Path) -> FinetuneOptions {
        let o = &self.overrides;
        let mut opts = FinetuneOptions::new(out_dir);
        opts.seed = seed;
        // Overrides, else the registry's protocol; what neither sets (the learning rate, a
        // missing warmup) comes from the starting point's recipe (FinetuneOptions::resolved).
        opts.epochs = o.epochs.or(task.epochs.map(f64::from));
        opts.max_steps = o.max_steps.or(task.max_steps);
        opts.batch_size = o.batch_size.unwrap_or(32);
        opts.lr = o.lr;
        opts.eval_every = o.eval_every.or(task.eval_steps).unwrap_or(200);
        opts.warmup_steps = o.warmup.or(task.warmup_steps);
        opts.patience = o.patience;
        opts.train_fraction = o.train_fraction;
        opts.max_len = task.max_length;
        opts.progress = self.progress;
        opts
    }
}

impl<B: AutodiffBackend> FineTuner for GueTuner<B> {
    /// The label, with `+lora-r{r}` for LoRA runs and `@train{F}` for `--train-fraction`
    /// runs, so that a resumed benchmark never mixes them with full runs under one name.
    fn name(&self) -> String {
        let mut name = match &self.lora {
            Some(c) => format!("{}+lora-r{}", self.label, c.r),
            None => self.label.clone(),
        };
        if let Some(f) = self.overrides.train_fraction.filter(|&f| f < 1.0) {
            name.push_str(&format!("@train{f}"));
        }
        name
    }

    fn run(
        &self,
        task: &TaskSpec,
        data: &TaskData,
        seed: u64,
        out_dir: &Path,
    ) -> Result<RunResult, TuneError> {
        let split = |s: &Option<gue_bench::Split>, name: &str| {
            s.as_ref()
                .map(Examples::from_gue)
                .ok_or_else(|| format!("{}: no {name} split", task.path()))
        };
        let splits = TaskSplits::new(
            split(&data.train, "train")?,
            split(&data.dev, "dev")?,
            split(&data.test, "test")?,
        )?;
        let opts = self.options(task, seed, out_dir);
        let s = finetune_source::<B>(
            &self.source,
            &splits,
            &opts,
            &self.devices,
            self.lora.as_ref(),
        )?;
        let test = s
            .test
            .ok_or("GUE tasks are classification tasks; no metrics were computed")?;
        Ok(RunResult {
            test,
            train_seconds: s.train_seconds,
            extra: json!({"dev_loss": s.dev_loss, "dev": s.dev, "step": s.step, "steps_run": s.steps_run,
                          "total_steps": s.total_steps, "test_loss": s.test_loss, "early_stopped": s.early_stopped,
                          "train_examples": s.train_examples, "train_fraction": s.train_fraction}),
        })
    }
}
