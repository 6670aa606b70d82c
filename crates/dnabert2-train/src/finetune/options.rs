//! Settings of a fine-tuning run ([`FinetuneOptions`]) and where the model comes from
//! ([`ModelSource`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Where the encoder comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModelSource {
    /// A Hugging Face-style directory (`config.json` + `model.safetensors` or
    /// `pytorch_model.bin`): released DNABERT-2, a pretraining checkpoint, or a
    /// fine-tuned model. A missing pooler / classifier is initialised (loudly).
    Checkpoint(PathBuf),
    /// Random initialisation from a named preset (`tiny`, `small`, `base`).
    Preset(String),
}

/// Class weighting of the cross-entropy (single-label only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClassWeights {
    /// `n / (k * count_c)` from the train labels (scikit-learn's `balanced`).
    Balanced,
    /// One weight per class.
    Manual(Vec<f32>),
}

impl ClassWeights {
    /// Parses `balanced` or a comma-separated list of weights (`1,2.5`).
    pub fn parse(s: &str) -> Result<Self> {
        if s == "balanced" {
            return Ok(Self::Balanced);
        }
        s.split(',')
            .map(|t| {
                t.trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        TrainError::Config(format!(
                            "class weight `{t}` is not a non-negative number"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()
            .map(Self::Manual)
    }
}

/// What a run starts from; it decides the defaults of learning rate, warmup and epochs
/// ([`Start::recipe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Pretrained weights, all parameters trained: the paper's GUE protocol.
    Pretrained,
    /// LoRA adapters on a frozen base (pretrained or not).
    Lora,
    /// A randomly initialised preset.
    Scratch,
}

/// Default learning rate, warmup and epochs of a [`Start`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps.
    pub warmup_steps: u64,
    /// Training epochs.
    pub epochs: f64,
}

impl Start {
    /// The starting point of a model source, with or without LoRA.
    pub fn of(source: &ModelSource, lora: bool) -> Self {
        match (source, lora) {
            (_, true) => Self::Lora,
            (ModelSource::Checkpoint(_), false) => Self::Pretrained,
            (ModelSource::Preset(_), false) => Self::Scratch,
        }
    }

    /// Defaults that work for this starting point:
    /// - pretrained: the paper's protocol, lr 3e-5, warmup 50, 3 epochs;
    /// - LoRA: lr 1e-4 (the paper's LoRA runs), warmup 50, 3 epochs;
    /// - scratch: SCRATCH_RECIPE, measured on the committed GUE tasks (docs/TRAINING.md:
    ///   3e-5 on a random init ends at chance level).
    pub fn recipe(self) -> Recipe {
        match self {
            Self::Pretrained => Recipe {
                lr: 3e-5,
                warmup_steps: 50,
                epochs: 3.0,
            },
            Self::Lora => Recipe {
                lr: 1e-4,
                warmup_steps: 50,
                epochs: 3.0,
            },
            Self::Scratch => SCRATCH_RECIPE,
        }
    }
}

/// The from-scratch recipe (see [`Start::recipe`]).
pub const SCRATCH_RECIPE: Recipe = Recipe {
    lr: 1e-3,
    warmup_steps: 100,
    epochs: 10.0,
};

/// The fine-tuning protocol's settings. [`FinetuneOptions::new`] gives the GUE
/// protocol (weight decay 0.01, batch 32, dev evaluation every 200 steps, lowest dev loss
/// kept); learning rate, warmup and epochs default per starting point
/// ([`FinetuneOptions::resolved`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneOptions {
    /// Output directory (best checkpoint, `test_metrics.json`, `metrics.jsonl`).
    pub out_dir: PathBuf,
    /// Seed of every random draw (head init, shuffling, dropout).
    pub seed: u64,
    /// Training epochs (the run length unless `max_steps` is smaller; 0 = `max_steps` alone);
    /// `None`: the starting point's default.
    pub epochs: Option<f64>,
    /// Cap on optimizer steps.
    pub max_steps: Option<u64>,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Examples per evaluation batch.
    pub eval_batch_size: usize,
    /// Peak learning rate; `None`: the starting point's default.
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Linear warmup steps (then linear decay to 0 at the last step); `None`: the starting
    /// point's default.
    pub warmup_steps: Option<u64>,
    /// The starting point the defaults were resolved for (set by [`Self::resolved`]).
    #[serde(default)]
    pub start: Option<Start>,
    /// Evaluate on dev every this many steps (and after the last step).
    pub eval_every: u64,
    /// Maximum tokens per input, specials included (truncation); `None` = no limit.
    pub max_len: Option<usize>,
    /// Stop after this many evaluations without a lower dev loss.
    pub patience: Option<usize>,
    /// Cross-entropy class weights.
    pub class_weights: Option<ClassWeights>,
    /// Overrides every dropout probability of the model (e.g. 0 for exact tests).
    pub dropout: Option<f64>,
    /// Clip the global gradient norm to this value (HF Trainer: 1.0); `None` disables.
    pub grad_clip: Option<f32>,
    /// Log the training loss every this many steps.
    pub log_every: u64,
    /// Draw a progress bar.
    pub progress: bool,
    /// Train on a class-stratified, seed-dependent subsample of this fraction of the
    /// training rows ([`crate::finetune::data::Examples::subsample`]); `None`: all rows.
    #[serde(default)]
    pub train_fraction: Option<f64>,
}

impl FinetuneOptions {
    /// GUE protocol defaults writing to `out_dir`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            seed: 42,
            epochs: None,
            max_steps: None,
            batch_size: 32,
            eval_batch_size: 64,
            lr: None,
            weight_decay: 0.01,
            warmup_steps: None,
            start: None,
            eval_every: 200,
            max_len: None,
            patience: None,
            class_weights: None,
            dropout: None,
            grad_clip: Some(1.0),
            log_every: 10,
            progress: true,
            train_fraction: None,
        }
    }

    /// These options with every default filled in for `start`. Explicit settings win: the
    /// user's flags, and a GUE task's published warmup and epochs (the registry's protocol,
    /// which the GUE runner sets), so only what nobody chose comes from [`Start::recipe`].
    pub fn resolved(&self, start: Start) -> Self {
        let recipe = start.recipe();
        Self {
            lr: Some(self.lr.unwrap_or(recipe.lr)),
            warmup_steps: Some(self.warmup_steps.unwrap_or(recipe.warmup_steps)),
            epochs: Some(self.epochs.unwrap_or(recipe.epochs)),
            start: Some(start),
            ..self.clone()
        }
    }

    /// Peak learning rate (the pretrained default when unresolved).
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(Start::Pretrained.recipe().lr)
    }

    /// Warmup steps (the pretrained default when unresolved).
    pub fn warmup(&self) -> u64 {
        self.warmup_steps
            .unwrap_or(Start::Pretrained.recipe().warmup_steps)
    }

    /// One line with the effective settings, printed at the start of a run.
    pub fn describe(&self, n_train: usize) -> String {
        format!(
            "{} start: lr {:.1e}, warmup {} steps, {} epochs -> {} steps of {} examples, weight decay {}, \
             clip {}, eval every {} steps, seed {}",
            match self.start {
                Some(Start::Pretrained) => "pretrained",
                Some(Start::Lora) => "LoRA",
                Some(Start::Scratch) => "from-scratch",
                None => "custom",
            },
            self.lr(),
            self.warmup(),
            self.epochs.unwrap_or(3.0),
            self.total_steps(n_train),
            self.batch_size,
            self.weight_decay,
            self.grad_clip
                .map_or("off".into(), |c| format!("{c} (global norm)")),
            self.eval_every,
            self.seed
        )
    }

    /// Number of optimizer steps for `n_train` examples.
    pub fn total_steps(&self, n_train: usize) -> u64 {
        let per_epoch = n_train.div_ceil(self.batch_size.max(1)) as f64;
        let epochs = self.epochs.unwrap_or(3.0);
        let by_epochs = if epochs > 0.0 {
            (epochs * per_epoch).ceil().max(1.0) as u64
        } else {
            u64::MAX
        };
        match self.max_steps {
            Some(m) => m.min(by_epochs).max(1),
            None => by_epochs,
        }
    }

    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(TrainError::Config(m.into()));
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("--batch-size must be at least 1");
        }
        if self.eval_every == 0 {
            return bad("--eval-every must be at least 1");
        }
        if self.lr.is_some_and(|lr| !(lr > 0.0 && lr.is_finite())) {
            return bad("--lr must be a positive number");
        }
        if self.train_fraction.is_some_and(|f| !(f > 0.0 && f <= 1.0)) {
            return bad("--train-fraction must be in (0, 1]");
        }
        let epochs = self.epochs.unwrap_or(3.0);
        if epochs.is_nan() || (epochs <= 0.0 && self.max_steps.is_none()) {
            return bad("--epochs must be positive (or give --max-steps)");
        }
        if self.max_steps == Some(0) {
            return bad("--max-steps must be at least 1");
        }
        if self.max_len.is_some_and(|m| m < 3) {
            return bad("--max-len must be at least 3 (CLS, one token, SEP)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_starting_point_and_explicit_settings_win() {
        let o = FinetuneOptions::new("out");
        let pre = o.resolved(Start::Pretrained);
        assert_eq!(
            (pre.lr, pre.warmup_steps, pre.epochs),
            (Some(3e-5), Some(50), Some(3.0))
        );
        let lora = o.resolved(Start::Lora);
        assert_eq!(lora.lr, Some(1e-4));
        let scratch = o.resolved(Start::Scratch);
        assert_eq!(scratch.lr, Some(SCRATCH_RECIPE.lr));
        assert_eq!(scratch.start, Some(Start::Scratch));
        let mut mine = o.clone();
        (mine.lr, mine.warmup_steps, mine.epochs) = (Some(7e-4), Some(30), Some(1.0));
        let r = mine.resolved(Start::Scratch);
        assert_eq!(
            (r.lr, r.warmup_steps, r.epochs),
            (Some(7e-4), Some(30), Some(1.0))
        );
        assert!(
            r.describe(100)
                .starts_with("from-scratch start: lr 7.0e-4, warmup 30")
        );
    }

    #[test]
    fn start_of_source() {
        let ck = ModelSource::Checkpoint("m".into());
        let pre = ModelSource::Preset("tiny".into());
        assert_eq!(Start::of(&ck, false), Start::Pretrained);
        assert_eq!(Start::of(&pre, false), Start::Scratch);
        assert_eq!(Start::of(&ck, true), Start::Lora);
    }
}
