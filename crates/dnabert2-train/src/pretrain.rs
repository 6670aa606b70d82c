//! MLM pretraining from FASTA, top to bottom (nanoGPT style):
//! corpus -> model -> optimizer -> (resume) -> schedule -> loop
//! { batches, forward/backward, accumulate, step, log, eval, checkpoint }.
//!
//! Everything random is derived from `(seed, step)` (see [`crate::rng`]), so
//! a run resumed from a checkpoint reproduces the losses of an uninterrupted
//! run exactly on CPU. Two caveats, both about the backend rather than this
//! loop: burn-flex's dropout RNG is process-global (do not train two models
//! concurrently in one process), and its multi-threaded reductions may sum in
//! a different order from run to run; `RAYON_NUM_THREADS=1` makes CPU runs
//! bit-reproducible (this is what the resume test uses).

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{
    AdamWConfig, GradientsAccumulator, GradientsParams, MultiGradientsParams, Optimizer,
};
use burn::prelude::*;
use burn::tensor::backend::{AutodiffBackend, DeviceOps};
use dnabert2_model::{BertConfig, BertForMaskedLM};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::batch::MlmBatch;
use crate::checkpoint::{self, CheckpointManager, TrainState};
use crate::corpus::{self, CorpusConfig, Split, TokenCorpus, WindowSampler};
use crate::curves;
use crate::error::{Result, TrainError, io_err};
use crate::eval::{self, EvalSet, MlmScore};
use crate::metrics_log::MetricsLog;
use crate::mlm::MaskingConfig;
use crate::rng::{Stream, derive_seed, rng_for};
use crate::schedule::LinearWarmupDecay;

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Budget {
    /// A fixed number of optimizer steps (the schedule decays to 0 there).
    Steps(u64),
    /// A wall-clock budget: the step count is estimated from timed
    /// calibration steps before training, and training also stops when the
    /// budget (counted across resumes) is spent.
    Minutes(f64),
}

/// Everything `cargo xtask pretrain` can set.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainConfig {
    /// The corpus and its token cache.
    pub corpus: CorpusConfig,
    /// Run directory: `metrics.jsonl`, `curves.png`, `checkpoints/`, `model/`.
    pub out_dir: PathBuf,
    /// Model preset: `tiny`, `small` or `base` (117M).
    pub preset: String,
    /// Tokens per window including `[CLS]`/`[SEP]` (128 upstream).
    pub max_len: usize,
    /// Windows per micro-batch (summed over devices).
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Peak learning rate (5e-4 upstream).
    pub lr: f64,
    /// Warmup steps; `None`: 6% of the run (30k of 500k upstream).
    pub warmup: Option<u64>,
    /// Run length.
    pub budget: Budget,
    /// AdamW weight decay (1e-5 upstream).
    pub weight_decay: f32,
    /// AdamW betas (0.9, 0.98 upstream).
    pub betas: (f32, f32),
    /// AdamW epsilon (1e-6 upstream).
    pub eps: f32,
    /// Per-parameter gradient-norm clip (burn's `GradientClipping::Norm`); `None` disables.
    pub grad_clip: Option<f32>,
    /// MLM corruption.
    pub masking: MaskingConfig,
    /// Dropout of the model (`None`: the preset's 0.1).
    pub dropout: Option<f64>,
    /// Log a metrics row every this many steps.
    pub log_every: u64,
    /// Evaluate on the held-out windows every this many steps (and at the end).
    pub eval_every: u64,
    /// Held-out windows per evaluation.
    pub eval_windows: usize,
    /// Checkpoint every this many steps (and at the end).
    pub save_every: u64,
    /// Newest checkpoints kept (the best one is kept as well).
    pub keep_last: usize,
    /// Seed of all randomness.
    pub seed: u64,
    /// Continue from the newest checkpoint in `out_dir/checkpoints`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Testing hook: make the loss of this step NaN (exercises the
    /// non-finite-loss stop without a numerically fragile setup).
    #[doc(hidden)]
    pub fault_nan_at_step: Option<u64>,
}

impl PretrainConfig {
    /// The paper's optimizer settings with CPU-sized defaults for the rest:
    /// max length 128, batch 32, lr 5e-4, AdamW(0.9, 0.98, eps 1e-6, wd 1e-5),
    /// clip 1.0, eval every 200 steps on 256 windows, save every 200, keep 3.
    pub fn new(corpus: CorpusConfig, out_dir: PathBuf, preset: &str, budget: Budget) -> Self {
        Self {
            corpus,
            out_dir,
            preset: preset.to_string(),
            max_len: 128,
            batch_size: 32,
            grad_accum: 1,
            lr: 5e-4,
            warmup: None,
            budget,
            weight_decay: 1e-5,
            betas: (0.9, 0.98),
            eps: 1e-6,
            grad_clip: Some(1.0),
            masking: MaskingConfig::default(),
            dropout: None,
            log_every: 10,
            eval_every: 200,
            eval_windows: 256,
            save_every: 200,
            keep_last: 3,
            seed: 42,
            resume: false,
            progress: true,
            fault_nan_at_step: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.max_len < 8 {
            return bad(format!("--max-len {} is below 8", self.max_len));
        }
        if self.batch_size == 0 || self.grad_accum == 0 {
            return bad("--batch-size and --grad-accum must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr {} must be positive", self.lr));
        }
        if self.log_every == 0 || self.eval_every == 0 || self.save_every == 0 {
            return bad("--log-every, --eval-every and --save-every must be at least 1".into());
        }
        match self.budget {
            Budget::Steps(0) => bad("--steps must be at least 1".into()),
            Budget::Minutes(m) if !(m.is_finite() && m > 0.0) => {
                bad(format!("--minutes {m} must be positive"))
            }
            _ => Ok(()),
        }
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainSummary {
    /// Optimizer steps done (in total, across resumes).
    pub steps: u64,
    /// Training tokens consumed (in total).
    pub tokens: u64,
    /// Step the run resumed from (0 for a fresh run).
    pub resumed_from: u64,
    /// Final held-out score.
    pub eval: MlmScore,
    /// Unigram baseline on the same held-out positions.
    pub baseline: MlmScore,
    /// Training throughput of this process (tokens/s, excluding evaluation and saving).
    pub tokens_per_sec: f64,
    /// The best checkpoint directory (HF `config.json` + `model.safetensors` inside).
    pub best_checkpoint: Option<PathBuf>,
}

/// Runs MLM pretraining on `devices` (one or more devices of backend `B`;
/// with several, each micro-batch is split across them, gradients are
/// summed with burn's `MultiGradientsParams` and one optimizer step is taken).
pub fn pretrain<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    devices: &[B::Device],
) -> Result<PretrainSummary> {
    cfg.validate()?;
    let Some(device) = devices.first().cloned() else {
        return Err(TrainError::Config("no device given".into()));
    };
    std::fs::create_dir_all(&cfg.out_dir).map_err(io_err(&cfg.out_dir))?;

    // ---- data: tokenize once (or reuse the cache), samplers, fixed eval set
    let corpus = corpus::prepare(&cfg.corpus)?;
    report_corpus(&corpus);
    let train = WindowSampler::new(&corpus, Split::Train, cfg.max_len)?;
    let eval_set = EvalSet::new(
        &corpus,
        cfg.max_len,
        cfg.eval_windows,
        cfg.batch_size,
        &cfg.masking,
        cfg.seed,
    )?;
    let baseline = eval_set.unigram_baseline(
        &corpus.manifest().train_unigram_counts,
        cfg.masking.first_regular_id,
    );

    // ---- model and optimizer
    let mut model_cfg = BertConfig::preset(&cfg.preset)?;
    if let Some(p) = cfg.dropout {
        model_cfg = model_cfg.with_dropout(p);
    }
    if model_cfg.vocab_size != corpus.manifest().vocab_size as usize {
        return Err(TrainError::Config(format!(
            "tokenizer vocabulary {} != model vocabulary {}",
            corpus.manifest().vocab_size,
            model_cfg.vocab_size
        )));
    }
    B::seed(&device, derive_seed(cfg.seed, Stream::Init, 0, 0));
    let mut model = BertForMaskedLM::<B>::init(&model_cfg, &device);
    let mut optim = AdamWConfig::new()
        .with_beta_1(cfg.betas.0)
        .with_beta_2(cfg.betas.1)
        .with_epsilon(cfg.eps)
        .with_weight_decay(cfg.weight_decay)
        .with_grad_clipping(cfg.grad_clip.map(GradientClippingConfig::Norm))
        .init::<B, BertForMaskedLM<B>>();

    // ---- resume or start fresh
    let ckpts = CheckpointManager::new(cfg.out_dir.join("checkpoints"), cfg.keep_last)?;
    let metrics_path = cfg.out_dir.join("metrics.jsonl");
    let latest = ckpts.latest()?;
    let (mut state, mut log) = match (&latest, cfg.resume) {
        (Some(ck), true) => {
            model = checkpoint::load_module(model, &ck.dir, checkpoint::MODEL_RECORD, &device)?;
            optim =
                checkpoint::load_optimizer(optim, &ck.dir, checkpoint::OPTIMIZER_RECORD, &device)?;
            if ck.state.seed != cfg.seed {
                eprintln!(
                    "note: resuming with the checkpoint's seed {} (not {})",
                    ck.state.seed, cfg.seed
                );
            }
            eprintln!(
                "resuming from {} (step {})",
                ck.dir.display(),
                ck.state.step
            );
            (
                ck.state.clone(),
                MetricsLog::open_resumed(&metrics_path, ck.state.step)?,
            )
        }
        (Some(ck), false) => {
            return Err(TrainError::Config(format!(
                "{} already holds checkpoints (newest: step {}); pass --resume to continue or choose another --out",
                ckpts.root().display(),
                ck.state.step
            )));
        }
        (None, resume) => {
            if resume {
                eprintln!(
                    "--resume: no checkpoint in {}, starting fresh",
                    ckpts.root().display()
                );
            }
            let total = match cfg.budget {
                Budget::Steps(n) => n,
                Budget::Minutes(m) => calibrate_steps::<B>(cfg, &model, &train, devices, m)?,
            };
            let warmup = cfg.warmup.unwrap_or(total * 6 / 100);
            let mut s = TrainState::new(0, 0, LinearWarmupDecay::new(cfg.lr, warmup, total));
            s.seed = cfg.seed;
            s.extra = json!({ "preset": cfg.preset, "max_len": cfg.max_len, "batch_size": cfg.batch_size,
                              "grad_accum": cfg.grad_accum, "devices": devices.len() });
            (s, MetricsLog::create(&metrics_path)?)
        }
    };
    let seed = state.seed;
    let schedule = state.schedule;
    let resumed_from = state.step;
    eprintln!(
        "model {} ({} params), {} steps, warmup {}, peak lr {:.1e}, {} x {} windows of {} tokens per step on {} device(s)",
        cfg.preset,
        model.num_params(),
        schedule.total_steps,
        schedule.warmup_steps,
        schedule.peak_lr,
        cfg.grad_accum,
        cfg.batch_size,
        cfg.max_len,
        devices.len()
    );
    eprintln!(
        "unigram baseline on held-out masks: loss {:.4}, accuracy {:.4}",
        baseline.loss, baseline.accuracy
    );

    // ---- the loop
    let bar = progress_bar(cfg, schedule.total_steps, state.step);
    let start = Instant::now();
    let elapsed_before = state.elapsed_secs;
    let (mut train_secs, mut train_tokens) = (0.0f64, 0u64);
    let mut last_eval: Option<(u64, MlmScore)> = None;
    while state.step < schedule.total_steps {
        let step = state.step;
        let lr = schedule.lr(step);
        let t0 = Instant::now();

        // Draw all micro-batches of this step; weight each part's mean loss by
        // its share of the step's masked tokens, so the update equals one big batch.
        let micro: Vec<MlmBatch> = (0..cfg.grad_accum as u64)
            .map(|m| {
                MlmBatch::sample(
                    &train,
                    cfg.batch_size,
                    &cfg.masking,
                    &mut rng_for(seed, Stream::Data, step, m),
                )
            })
            .collect();
        let total_masked: usize = micro.iter().map(MlmBatch::num_masked).sum();
        let mut accums: Vec<GradientsAccumulator<BertForMaskedLM<B>>> = devices
            .iter()
            .map(|_| GradientsAccumulator::new())
            .collect();
        let replicas: Vec<BertForMaskedLM<B>> = if devices.len() == 1 {
            vec![model.clone()]
        } else {
            devices.iter().map(|d| model.clone().fork(d)).collect()
        };
        let (mut loss_sum, mut correct, mut masked, mut tokens) = (0.0f64, 0u64, 0u64, 0u64);
        for (m, batch) in micro.iter().enumerate() {
            for (d, part) in split_rows(batch, devices.len()).into_iter().enumerate() {
                if part.rows == 0 || part.num_masked() == 0 {
                    continue;
                }
                let dev = &devices[d];
                B::seed(
                    dev,
                    derive_seed(seed, Stream::Dropout, step, (m * devices.len() + d) as u64),
                );
                let (input, labels) = part.to_tensors::<B>(dev)?;
                let out = replicas[d].forward_masked(input, labels);
                let weight = part.num_masked() as f64 / total_masked as f64;
                let grads = (out.loss.clone() * weight).backward();
                let (l, c, k) = eval::masked_stats(dnabert2_model::MaskedLmOutput {
                    loss: out.loss.inner(),
                    logits: out.logits.inner(),
                    labels: out.labels.inner(),
                });
                let l = if cfg.fault_nan_at_step == Some(step) {
                    f64::NAN
                } else {
                    l
                };
                loss_sum += l;
                correct += c;
                masked += k;
                tokens += part.num_tokens() as u64;
                accums[d].accumulate(
                    &replicas[d],
                    GradientsParams::from_grads(grads, &replicas[d]),
                );
            }
        }
        let loss = loss_sum / masked.max(1) as f64;
        if !loss.is_finite() {
            bar.abandon();
            let _ = log.append(&json!({ "step": step + 1, "event": "non_finite_loss", "loss": loss.to_string(), "lr": lr }));
            return Err(TrainError::NonFiniteLoss { step, loss, lr });
        }
        model = if devices.len() == 1 {
            optim.step(lr, model, accums[0].grads())
        } else {
            let grads = accums
                .iter_mut()
                .zip(devices)
                .map(|(a, d)| (a.grads(), d.id()))
                .collect();
            optim.step_multi(lr, model, MultiGradientsParams { grads })
        };
        state.step += 1;
        state.tokens += tokens;
        state.windows_drawn += (cfg.batch_size * cfg.grad_accum) as u64;
        train_secs += t0.elapsed().as_secs_f64();
        train_tokens += tokens;
        state.elapsed_secs = elapsed_before + start.elapsed().as_secs_f64();
        let accuracy = correct as f64 / masked.max(1) as f64;
        let tps = train_tokens as f64 / train_secs.max(1e-9);

        bar.set_position(state.step);
        bar.set_message(format!(
            "loss {loss:.3} acc {accuracy:.3} lr {lr:.2e} {tps:.0} tok/s"
        ));
        if state.step % cfg.log_every == 0 {
            log.append(
                &json!({ "step": state.step, "tokens": state.tokens, "loss": loss, "lr": lr,
                                "masked_accuracy": accuracy, "tokens_per_sec": tps,
                                "elapsed_secs": state.elapsed_secs }),
            )?;
        }

        let out_of_time =
            matches!(cfg.budget, Budget::Minutes(m) if state.elapsed_secs >= m * 60.0);
        let last = state.step == schedule.total_steps || out_of_time;
        let save = state.step % cfg.save_every == 0 || last;
        if state.step % cfg.eval_every == 0 || save {
            let score = eval::evaluate(&model.valid(), &eval_set, &device)?;
            log.append(&json!({ "step": state.step, "tokens": state.tokens, "eval_loss": score.loss,
                                "eval_masked_accuracy": score.accuracy, "baseline_loss": baseline.loss,
                                "baseline_accuracy": baseline.accuracy, "eval_masked_tokens": score.masked }))?;
            bar.println(format!(
                "step {:>7}  eval loss {:.4}  eval acc {:.4}  (unigram baseline {:.4} / {:.4})",
                state.step, score.loss, score.accuracy, baseline.loss, baseline.accuracy
            ));
            last_eval = Some((state.step, score));
            curves::draw(&metrics_path, &cfg.out_dir.join("curves.png"))?;
        }
        if save {
            state.eval_loss = last_eval
                .filter(|(s, _)| *s == state.step)
                .map(|(_, e)| e.loss);
            ckpts.save(&state, |dir| {
                dnabert2_model::checkpoint::save_mlm(&model, &model_cfg, dir)?;
                checkpoint::save_module(&model, dir, checkpoint::MODEL_RECORD)?;
                checkpoint::save_optimizer::<B, _, _>(&optim, dir, checkpoint::OPTIMIZER_RECORD)
            })?;
        }
        if out_of_time {
            bar.println("time budget spent");
            break;
        }
    }
    bar.finish_and_clear();

    let eval = match last_eval {
        Some((_, e)) => e,
        None => eval::evaluate(&model.valid(), &eval_set, &device)?,
    };
    curves::draw(&metrics_path, &cfg.out_dir.join("curves.png"))?;
    let best = ckpts.best()?.map(|c| c.dir);
    let summary = PretrainSummary {
        steps: state.step,
        tokens: state.tokens,
        resumed_from,
        eval,
        baseline,
        tokens_per_sec: train_tokens as f64 / train_secs.max(1e-9),
        best_checkpoint: best,
    };
    crate::atomic::write_json(&cfg.out_dir.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Splits a batch into `n` nearly equal row ranges (one per device).
fn split_rows(batch: &MlmBatch, n: usize) -> Vec<MlmBatch> {
    if n == 1 {
        return vec![batch.clone()];
    }
    (0..n)
        .map(|d| batch.slice_rows(batch.rows * d / n..batch.rows * (d + 1) / n))
        .collect()
}

/// Estimates how many optimizer steps fit in `minutes` from two timed
/// forward/backward passes (no update; the model is untouched).
fn calibrate_steps<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    model: &BertForMaskedLM<B>,
    train: &WindowSampler<'_>,
    devices: &[B::Device],
    minutes: f64,
) -> Result<u64> {
    let device = &devices[0];
    let mut times = Vec::new();
    for i in 0..3u64 {
        let batch = MlmBatch::sample(
            train,
            cfg.batch_size / devices.len().max(1),
            &cfg.masking,
            &mut rng_for(cfg.seed, Stream::Eval, 1, i),
        );
        let t0 = Instant::now();
        let (input, labels) = batch.to_tensors::<B>(device)?;
        let _grads = model.forward_masked(input, labels).loss.backward();
        times.push(t0.elapsed().as_secs_f64());
    }
    // The first pass includes one-off allocation; use the later ones. Eval adds
    // about eval_windows / (3 * windows per step) of a step per eval interval.
    let per_micro = times[1..].iter().sum::<f64>() / (times.len() - 1) as f64;
    let per_step = per_micro * cfg.grad_accum as f64 * 1.1;
    let eval_share = cfg.eval_windows as f64
        / (3.0 * (cfg.batch_size * cfg.grad_accum) as f64 * cfg.eval_every as f64);
    let steps = (minutes * 60.0 / (per_step * (1.0 + eval_share))).floor() as u64;
    eprintln!("calibration: {per_step:.3} s/step -> {steps} steps in {minutes} min");
    Ok(steps.max(1))
}

fn report_corpus(corpus: &TokenCorpus) {
    let m = corpus.manifest();
    let bases: u64 = m.files.iter().map(|f| f.bases).sum();
    eprintln!(
        "corpus: {} files, {} contigs, {:.1} Mbp -> {} train + {} held-out tokens ({} chunks){} [{}]",
        m.files.len(),
        m.contigs.len(),
        bases as f64 / 1e6,
        m.train_tokens,
        m.eval_tokens,
        m.units.len(),
        if corpus.reused() { ", cached" } else { "" },
        corpus.dir().display()
    );
}

fn progress_bar(cfg: &PretrainConfig, total: u64, pos: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_position(pos);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if !cfg.progress || std::env::var_os("DNABERT2_NO_PROGRESS").is_some() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
