//! `cargo xtask finetune`: flags -> [`dnabert2_train::finetune::FinetuneOptions`] ->
//! [`dnabert2_train::finetune::finetune_source`] (full or LoRA).

use std::path::PathBuf;

use dnabert2_train::finetune::{
    ADAPTER_DIR, ClassWeights, FinetuneOptions, ModelSource, TaskSplits, finetune_source,
};

use crate::pretrain::{Backend, with_backend};

/// Flags of `cargo xtask finetune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory with train.csv, dev.csv, test.csv (`sequence,label` or `seq1,seq2,label`).
    #[arg(long)]
    data: PathBuf,
    /// Output directory: best checkpoint (HF layout), test_metrics.json, metrics.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Start from this model directory (config.json + model.safetensors / pytorch_model.bin).
    #[arg(long, conflicts_with = "preset")]
    model: Option<PathBuf>,
    /// Start from a random model of this size (tiny, small, base); default small.
    #[arg(long)]
    preset: Option<String>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training epochs (default: 3 from pretrained weights or with LoRA, the from-scratch
    /// recipe's otherwise; printed at start).
    #[arg(long)]
    epochs: Option<f64>,
    /// Cap on optimizer steps.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Peak learning rate (default: 3e-5 from pretrained weights as in the paper, 1e-4 with
    /// LoRA, the from-scratch recipe's from a random preset; printed at start).
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Maximum tokens per input (specials included); default: no truncation.
    #[arg(long)]
    max_len: Option<usize>,
    /// Evaluate on dev every N steps (the lowest dev loss is kept).
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Warmup steps (default: 50, or the from-scratch recipe's).
    #[arg(long)]
    warmup: Option<u64>,
    /// Stop after N evaluations without a lower dev loss.
    #[arg(long)]
    patience: Option<usize>,
    /// `balanced` or comma-separated weights per class.
    #[arg(long)]
    class_weights: Option<String>,
    /// Override every dropout probability.
    #[arg(long)]
    dropout: Option<f64>,
    /// Train on a class-stratified, seed-dependent subsample of this fraction of the
    /// training rows (recorded in test_metrics.json).
    #[arg(long)]
    train_fraction: Option<f64>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = default_backend())]
    backend: Backend,
    /// Devices, one worker thread each (`N`, `0,1`, `cuda:0,cuda:1`; on CPU backends each
    /// entry is one more worker on the same CPU). `--batch-size` is the global batch.
    #[arg(long, default_value = "1")]
    devices: crate::pretrain::DeviceList,
    /// LoRA (`--lora-r 8 --lora-alpha 16 --lora-dropout 0.05 --lora-targets Wqkv,dense,gated_layers,wo`).
    #[command(flatten)]
    lora: dnabert2_lora::cli::LoraArgs,
}

/// The first compiled backend.
pub fn default_backend() -> Backend {
    *<Backend as clap::ValueEnum>::value_variants()
        .first()
        .expect("at least one backend feature is enabled")
}

/// The model source of `--model` / `--preset` (default preset `small`).
pub fn source(model: &Option<PathBuf>, preset: &Option<String>) -> ModelSource {
    match (model, preset) {
        (Some(m), _) => ModelSource::Checkpoint(m.clone()),
        (None, p) => ModelSource::Preset(p.clone().unwrap_or_else(|| "small".into())),
    }
}

/// Runs the command.
pub fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let splits = TaskSplits::read_dir(&a.data)?;
    let mut o = FinetuneOptions::new(&a.out);
    o.seed = a.seed;
    o.epochs = a.epochs;
    o.max_steps = a.max_steps;
    o.batch_size = a.batch_size;
    o.lr = a.lr;
    o.weight_decay = a.weight_decay;
    o.max_len = a.max_len;
    o.eval_every = a.eval_every;
    o.warmup_steps = a.warmup;
    o.patience = a.patience;
    o.class_weights = a
        .class_weights
        .as_deref()
        .map(ClassWeights::parse)
        .transpose()?;
    o.dropout = a.dropout;
    o.train_fraction = a.train_fraction;
    let src = source(&a.model, &a.preset);
    // LoRA: base frozen, adapters + head train; the best checkpoint is saved merged
    // (W + alpha/r A B), so `predict --model OUT` loads it as a plain model, and the
    // adapter goes to OUT/adapter in the PEFT layout.
    let lora = a.lora.config()?;
    eprintln!(
        "fine-tuning {:?} on {} ({} train / {} dev / {} test, {:?}, {} outputs, {} input)",
        src,
        a.data.display(),
        splits.train.len(),
        splits.dev.len(),
        splits.test.len(),
        splits.problem,
        splits.num_labels,
        if splits.is_pair() { "pair" } else { "single" },
    );
    let ids = &a.devices.0;
    let s = with_backend!(a.backend, devices ids, |B, devs| finetune_source::<B>(
        &src,
        &splits,
        &o,
        &devs,
        lora.as_ref()
    )?);
    println!("{}", serde_json::to_string_pretty(&s)?);
    eprintln!(
        "best checkpoint: step {} (dev loss {:.4}) saved in {}; test metrics in {}",
        s.step,
        s.dev_loss,
        a.out.display(),
        a.out
            .join(dnabert2_train::finetune::TEST_METRICS_JSON)
            .display()
    );
    if lora.is_some() {
        eprintln!("PEFT adapter in {}", a.out.join(ADAPTER_DIR).display());
    }
    if let Some(w) = &s.warning {
        eprintln!("WARNING: {w}");
    }
    Ok(())
}
