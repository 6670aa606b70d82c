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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use dna_bpe::progress::Bar;
use dnabert2_model::{BertConfig, BertForMaskedLM};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::batch::MlmBatch;
use crate::checkpoint::{self, CheckpointManager, TrainState};
use crate::corpus::{self, CorpusConfig, Split, TokenCorpus, WindowSampler};
use crate::curves;
use crate::distributed::Cluster;
use crate::distributed::control::Control;
use crate::distributed::sync::Sync;
use crate::error::{Result, TrainError, io_err};
use crate::eval::{self, EvalSet, MlmScore};
use crate::metrics_log::MetricsLog;
use crate::mlm::MaskingConfig;
use crate::optim::{AdamWSettings, HfAdamW};
use crate::rng::{Stream, derive_seed, rng_for};
use crate::schedule::LinearWarmupDecay;
use crate::step::StepStats;

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

/// Peak learning rate of continued pretraining from released weights (the paper's further
/// MLM pretraining on the GUE training sets: 5e-5, batch 32, max length 128).
pub const FURTHER_PRETRAINING_LR: f64 = 5e-5;

/// Everything `cargo xtask pretrain` can set.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainConfig {
    /// The corpus and its token cache.
    pub corpus: CorpusConfig,
    /// Run directory: `metrics.jsonl`, `curves.png`, `checkpoints/`, `model/`.
    pub out_dir: PathBuf,
    /// Model preset: `tiny`, `small` or `base` (117M); unused with `init_from`.
    pub preset: String,
    /// Continue pretraining from this model directory (or hub id): its encoder and MLM head
    /// (a fresh head when it has none), its `config.json` and `tokenizer.json`; a new
    /// optimizer and schedule.
    pub init_from: Option<PathBuf>,
    /// Tokens per window including `[CLS]`/`[SEP]` (128 upstream).
    pub max_len: usize,
    /// Windows per micro-batch: the global batch, split over every worker of every process.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Peak learning rate (5e-4 upstream).
    pub lr: f64,
    /// Warmup steps; `None`: 6% of the run (30k of 500k upstream).
    pub warmup: Option<u64>,
    /// Run length.
    pub budget: Budget,
    /// AdamW (0.9, 0.98, eps 1e-6, weight decay 1e-5 upstream; no decay on biases and
    /// LayerNorm weights) and the global gradient-norm clip (1.0).
    pub optimizer: AdamWSettings,
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
            init_from: None,
            max_len: 128,
            batch_size: 32,
            grad_accum: 1,
            lr: 5e-4,
            warmup: None,
            budget,
            optimizer: AdamWSettings {
                betas: (0.9, 0.98),
                eps: 1e-6,
                weight_decay: 1e-5,
                max_grad_norm: Some(1.0),
            },
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
        // lr 0 is allowed: a run that must leave the weights as loaded (checks of
        // `init_from`); it still evaluates and writes checkpoints.
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(format!("--lr {} must be a non-negative number", self.lr));
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

/// Runs MLM pretraining on `devices` (one or more devices of backend `B`). With several,
/// each gets a worker thread holding a replica; every step's global batch is split over
/// them and the gradients are summed before one identical optimizer step on each (see
/// [`crate::distributed`]).
pub fn pretrain<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    devices: &[B::Device],
) -> Result<PretrainSummary> {
    pretrain_distributed::<B>(cfg, devices, &Cluster::single())
}

/// [`pretrain`] as one process of a multi-process run (`cluster`: world size, rank,
/// coordinator; [`Cluster::single`] for one process). Every process runs the same
/// configuration; rank 0 writes the outputs and every process returns the same summary.
pub fn pretrain_distributed<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    devices: &[B::Device],
    cluster: &Cluster,
) -> Result<PretrainSummary> {
    cfg.validate()?;
    cluster.validate()?;
    if devices.is_empty() {
        return Err(TrainError::Config("no device given".into()));
    }
    if cluster.world_size > 1 && cluster.is_coordinator() {
        crate::distributed::sync::start_orchestrator(cluster.orchestrator_port()?)?;
    }
    let control = match cluster.world_size {
        1 => None,
        _ => Some(Arc::new(Control::connect(
            cluster,
            &run_fingerprint(cfg, devices.len()),
        )?)),
    };
    let out = prepare_and_train::<B>(cfg, devices, cluster, control.as_ref());
    if let Some(c) = &control {
        match &out {
            Ok(_) => c.finish(),
            Err(e) => c.abort(&e.to_string()),
        }
    }
    out
}

/// The settings every rank must share (checked at the rendezvous).
fn run_fingerprint(cfg: &PretrainConfig, local_devices: usize) -> String {
    crate::distributed::fingerprint(&[
        ("preset", cfg.preset.clone()),
        ("init_from", format!("{:?}", cfg.init_from)),
        ("batch_size", cfg.batch_size.to_string()),
        ("grad_accum", cfg.grad_accum.to_string()),
        ("max_len", cfg.max_len.to_string()),
        ("lr", cfg.lr.to_string()),
        ("budget", format!("{:?}", cfg.budget)),
        ("seed", cfg.seed.to_string()),
        ("dropout", format!("{:?}", cfg.dropout)),
        ("resume", cfg.resume.to_string()),
        ("local_devices", local_devices.to_string()),
    ])
}

/// What every worker of a process reads: data, settings and where outputs go.
struct Shared<'a> {
    cfg: &'a PretrainConfig,
    train: &'a WindowSampler<'a>,
    eval_set: &'a EvalSet,
    baseline: MlmScore,
    ckpts: &'a CheckpointManager,
    model_cfg: &'a BertConfig,
    tokenizer_json: &'a str,
    /// Workers over all processes.
    workers: usize,
}

/// One worker: its device, its index among all workers, and its collective handle.
struct Worker<B: AutodiffBackend> {
    index: usize,
    device: B::Device,
    sync: Option<Sync<B>>,
}

impl<B: AutodiffBackend> Worker<B> {
    fn is_leader(&self) -> bool {
        self.index == 0
    }
}

/// Data, model and resume state of this process, agreed with the other ranks; then one
/// worker per device.
fn prepare_and_train<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    devices: &[B::Device],
    cluster: &Cluster,
    control: Option<&Arc<Control>>,
) -> Result<PretrainSummary> {
    let device = devices[0].clone();
    let workers = devices.len() * cluster.world_size;
    if cfg.batch_size < workers {
        return Err(TrainError::Config(format!(
            "--batch-size {} is smaller than the {workers} workers: each needs at least one window",
            cfg.batch_size
        )));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(io_err(&cfg.out_dir))?;

    // ---- data: tokenize once (or reuse the cache), samplers, fixed eval set. Rank 0
    // tokenizes first; the other ranks then find its cache (on a shared filesystem) or
    // build their own identical one.
    let init = cfg.init_from.as_deref().map(resolve_init).transpose()?;
    let corpus_cfg = corpus_config(cfg, init.as_ref())?;
    let corpus = match control {
        Some(c) if c.rank() != 0 => {
            c.gather("corpus ready", 0)?;
            corpus::prepare(&corpus_cfg)?
        }
        Some(c) => {
            let corpus = corpus::prepare(&corpus_cfg)?;
            c.gather("corpus ready", 0)?;
            corpus
        }
        None => corpus::prepare(&corpus_cfg)?,
    };
    let tokenizer_json = corpus::load_tokenizer(corpus_cfg.tokenizer.as_deref())?
        .0
        .to_json_string()?;
    report_corpus(&corpus);
    let train = WindowSampler::new(&corpus, Split::Train, cfg.max_len)?;
    let (eval_set, baseline) = held_out(cfg, &corpus)?;

    // ---- model, optimizer, and where the run stands
    let vocab = corpus.manifest().vocab_size as usize;
    B::seed(&device, derive_seed(cfg.seed, Stream::Init, 0, 0));
    let (model_cfg, model) = match &init {
        Some(dir) => crate::init_from::load::<B>(dir, vocab, &device)?,
        None => {
            let c = model_config(cfg, vocab)?;
            let m = BertForMaskedLM::<B>::init(&c, &device);
            (c, m)
        }
    };
    let optim = HfAdamW::new(cfg.optimizer);
    let ckpts = CheckpointManager::new(cfg.out_dir.join("checkpoints"), cfg.keep_last)?;
    let leader_process = cluster.is_coordinator();
    let run = start_or_resume(
        cfg,
        &ckpts,
        model,
        optim,
        &train,
        &device,
        workers,
        leader_process,
    )?;
    let Run {
        model,
        optim,
        mut state,
        log,
        resumed_dir,
    } = run;
    if let Some(c) = control {
        agree(c, &mut state, &model)?;
    }
    if leader_process {
        log_plan(cfg, model.num_params(), &state, workers, &baseline);
    }

    let shared = Shared {
        cfg,
        train: &train,
        eval_set: &eval_set,
        baseline,
        ckpts: &ckpts,
        model_cfg: &model_cfg,
        tokenizer_json: &tokenizer_json,
        workers,
    };
    if workers == 1 {
        let worker = Worker {
            index: 0,
            device,
            sync: None,
        };
        return train_worker(&shared, worker, model, optim, state, log);
    }

    // One thread per local device, each with its replica and optimizer state; the first
    // keeps this process's model (already on device 0), optimizer and metrics log.
    let others = devices[1..]
        .iter()
        .map(|d| -> Result<_> {
            let o = match &resumed_dir {
                Some(dir) => checkpoint::load_optimizer(
                    HfAdamW::new(cfg.optimizer),
                    dir,
                    checkpoint::OPTIMIZER_RECORD,
                    d,
                )?,
                None => HfAdamW::new(cfg.optimizer),
            };
            Ok((model.clone().fork(d), o, None))
        })
        .collect::<Result<Vec<_>>>()?;
    let replicas: Vec<_> = std::iter::once((model, optim, log)).chain(others).collect();
    let results = crate::distributed::launch::<B, _, _>(
        cluster,
        devices,
        control,
        replicas,
        |local, device, sync, (model, optim, log)| {
            let worker = Worker {
                index: cluster.rank * devices.len() + local,
                device,
                sync: Some(sync),
            };
            train_worker(&shared, worker, model, optim, state.clone(), log)
        },
    )?;
    results
        .into_iter()
        .next()
        .ok_or_else(|| TrainError::Distributed("no worker ran".into()))
}

/// Multi-process agreement before the first step: every rank resumes from the same step,
/// adopts rank 0's schedule (a `--minutes` budget is calibrated on each machine) and starts
/// from the same weights.
fn agree<B: AutodiffBackend>(
    c: &Control,
    state: &mut TrainState,
    model: &BertForMaskedLM<B>,
) -> Result<()> {
    let steps = c.gather("resume step", state.step)?;
    if let Some((r, s)) = steps.iter().enumerate().find(|(_, s)| **s != steps[0]) {
        return Err(TrainError::Distributed(format!(
            "rank {r} starts at step {s} but rank 0 at step {}: every rank must see the same \
             checkpoints (OUT on a shared filesystem)",
            steps[0]
        )));
    }
    let total = c.gather("total steps", state.schedule.total_steps)?[0];
    let warmup = c.gather("warmup steps", state.schedule.warmup_steps)?[0];
    if (total, warmup) != (state.schedule.total_steps, state.schedule.warmup_steps) {
        log::info!(
            "rank {}: adopting rank 0's schedule of {total} steps",
            c.rank()
        );
        state.schedule = LinearWarmupDecay::new(state.schedule.peak_lr, warmup, total);
    }
    let sum = weight_checksum(model);
    let sums = c.gather("weights", sum.to_bits())?;
    let first = f64::from_bits(sums[0]);
    for (r, bits) in sums.iter().enumerate() {
        let v = f64::from_bits(*bits);
        if (v - first).abs() > 1e-6 * first.abs().max(1.0) {
            return Err(TrainError::Distributed(format!(
                "rank {r}'s initial weights differ from rank 0's (checksum {v} vs {first}): \
                 same seed, backend and --init-from on every rank"
            )));
        }
    }
    Ok(())
}

/// Sum of squares of every parameter (a cheap comparison of replicas).
fn weight_checksum<B: AutodiffBackend>(model: &BertForMaskedLM<B>) -> f64 {
    struct Sum(f64);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Sum {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<B, D>>) {
            self.0 += p.val().powi_scalar(2).sum().into_scalar().elem::<f64>();
        }
    }
    let mut s = Sum(0.0);
    model.visit(&mut s);
    s.0
}

// Long by design: the loop reads top to bottom (step, log, evaluate, save); each part is a
// small function beside it and the step is crate::step.
/// The training loop of one worker (every worker runs it in lockstep; the leader logs,
/// evaluates into the log, draws the curves and saves the checkpoints).
fn train_worker<B: AutodiffBackend>(
    sh: &Shared<'_>,
    worker: Worker<B>,
    mut model: BertForMaskedLM<B>,
    mut optim: HfAdamW<B, BertForMaskedLM<B>>,
    mut state: TrainState,
    mut log: Option<MetricsLog>,
) -> Result<PretrainSummary> {
    let cfg = sh.cfg;
    let leader = worker.is_leader();
    let schedule = state.schedule;
    let resumed_from = state.step;
    let metrics_path = cfg.out_dir.join("metrics.jsonl");
    let bar = progress_bar(cfg, schedule.total_steps, state.step, leader);
    let start = Instant::now();
    let elapsed_before = state.elapsed_secs;
    let mut speed = Throughput::default();
    let mut last_eval: Option<(u64, MlmScore)> = None;
    while state.step < schedule.total_steps {
        let t0 = Instant::now();
        let elapsed = elapsed_before + start.elapsed().as_secs_f64();
        let (m, row) =
            mlm_step(sh, model, &mut optim, &state, &worker, elapsed).inspect_err(|e| {
                bar.abandon();
                if let Some(log) = &mut log {
                    log_failure(log, e);
                }
            })?;
        model = m;
        state.step += 1;
        state.tokens += row.tokens;
        state.windows_drawn += (cfg.batch_size * cfg.grad_accum) as u64;
        speed.add(row.tokens, t0.elapsed().as_secs_f64());
        // The workers' mean clock, so that every worker takes the same stop decision.
        state.elapsed_secs = row.elapsed_secs + t0.elapsed().as_secs_f64();
        bar.set_position(state.step);
        bar.set_message(format!(
            "loss {:.3} acc {:.3} lr {:.2e} {:.0} tok/s",
            row.stats.loss,
            row.accuracy(),
            row.stats.lr,
            speed.tokens_per_sec()
        ));
        if let Some(log) = &mut log
            && state.step.is_multiple_of(cfg.log_every)
        {
            log.append(&row.to_json(&state, speed.tokens_per_sec()))?;
        }

        let out_of_time = matches!(cfg.budget, Budget::Minutes(m) if row.elapsed_secs >= m * 60.0);
        let last = state.step == schedule.total_steps || out_of_time;
        let save = state.step.is_multiple_of(cfg.save_every) || last;
        if state.step.is_multiple_of(cfg.eval_every) || save {
            let score = evaluate(sh, &model, &worker)?;
            if let Some(log) = &mut log {
                log_eval(log, &score, &sh.baseline, &state)?;
                bar.println(format!(
                    "step {:>7}  eval loss {:.4}  eval acc {:.4}  (unigram baseline {:.4} / {:.4})",
                    state.step, score.loss, score.accuracy, sh.baseline.loss, sh.baseline.accuracy
                ));
                curves::draw(&metrics_path, &cfg.out_dir.join("curves.png"))?;
            }
            last_eval = Some((state.step, score));
        }
        if save && leader {
            state.eval_loss = last_eval
                .filter(|(s, _)| *s == state.step)
                .map(|(_, e)| e.loss);
            save_checkpoint(sh, &state, &model, &optim)?;
        }
        if out_of_time {
            bar.println("time budget spent");
            break;
        }
    }
    bar.finish_and_clear();

    let eval = match last_eval {
        Some((_, e)) => e,
        None => evaluate(sh, &model, &worker)?,
    };
    if let Some(sync) = worker.sync {
        sync.finish();
    }
    let tokens_per_sec = speed.or_run_average(&state);
    let summary = PretrainSummary {
        steps: state.step,
        tokens: state.tokens,
        resumed_from,
        eval,
        baseline: sh.baseline,
        tokens_per_sec,
        best_checkpoint: sh.ckpts.best()?.map(|c| c.dir),
    };
    if leader {
        curves::draw(&metrics_path, &cfg.out_dir.join("curves.png"))?;
        crate::atomic::write_json(&cfg.out_dir.join("summary.json"), &summary)?;
    }
    Ok(summary)
}

/// The fixed held-out windows and the unigram baseline on their masked positions.
fn held_out(cfg: &PretrainConfig, corpus: &TokenCorpus) -> Result<(EvalSet, MlmScore)> {
    let eval_set = EvalSet::new(
        corpus,
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
    Ok((eval_set, baseline))
}

/// Prints the effective plan of this invocation.
fn log_plan(
    cfg: &PretrainConfig,
    params: usize,
    state: &TrainState,
    workers: usize,
    baseline: &MlmScore,
) {
    let s = state.schedule;
    log::info!(
        "model {} ({params} params), {} steps (from step {}), warmup {}, peak lr {:.1e}, {} x {} windows of {} tokens per step on {workers} worker(s)",
        cfg.init_from
            .as_ref()
            .map_or_else(|| cfg.preset.clone(), |d| format!("from {}", d.display())),
        s.total_steps,
        state.step,
        s.warmup_steps,
        s.peak_lr,
        cfg.grad_accum,
        cfg.batch_size,
        cfg.max_len,
    );
    log::info!(
        "unigram baseline on held-out masks: loss {:.4}, accuracy {:.4}",
        baseline.loss,
        baseline.accuracy
    );
}

/// Records a non-finite loss in the metrics log before the error ends the run.
fn log_failure(log: &mut MetricsLog, e: &TrainError) {
    if let TrainError::NonFiniteLoss { step, loss, lr } = e {
        let row = json!({ "step": step + 1, "event": "non_finite_loss", "loss": loss.to_string(), "lr": lr });
        if let Err(io) = log.append(&row) {
            log::warn!("could not log the non-finite loss: {io}");
        }
    }
}

/// The model directory of `--init-from` (a directory or an offline hub id).
fn resolve_init(source: &Path) -> Result<PathBuf> {
    Ok(dnabert2_model::pretrained::resolve(
        &source.to_string_lossy(),
    )?)
}

/// The corpus settings of this run: with `--init-from`, the tokenizer is the model's
/// (`tokenizer.json` in its directory, else the embedded DNABERT-2 one); a different
/// `--tokenizer` is an error, since the embeddings are indexed by the model's vocabulary.
fn corpus_config(cfg: &PretrainConfig, init: Option<&PathBuf>) -> Result<corpus::CorpusConfig> {
    let mut c = cfg.corpus.clone();
    let Some(dir) = init else {
        return Ok(c);
    };
    let own = dir.join("tokenizer.json");
    let own = own.is_file().then_some(own);
    if let Some(given) = &c.tokenizer {
        let sha = |p: Option<&Path>| corpus::load_tokenizer(p).map(|t| t.1);
        if sha(Some(given))? != sha(own.as_deref())? {
            return Err(TrainError::Config(format!(
                "--tokenizer {} differs from the tokenizer of --init-from {}: the model's \
                 embeddings are indexed by its own vocabulary (drop --tokenizer)",
                given.display(),
                dir.display()
            )));
        }
    }
    c.tokenizer = own;
    Ok(c)
}

/// The preset with the run's dropout, checked against the tokenizer's vocabulary.
fn model_config(cfg: &PretrainConfig, vocab: usize) -> Result<BertConfig> {
    let mut model_cfg = BertConfig::preset(&cfg.preset)?;
    if let Some(p) = cfg.dropout {
        model_cfg = model_cfg.with_dropout(p);
    }
    if model_cfg.vocab_size != vocab {
        return Err(TrainError::Config(format!(
            "tokenizer vocabulary {vocab} != model vocabulary {}",
            model_cfg.vocab_size
        )));
    }
    Ok(model_cfg)
}

/// Model, optimizer, state and metrics log (rank 0 only) of this invocation, and the
/// checkpoint it resumed from.
struct Run<B: AutodiffBackend> {
    model: BertForMaskedLM<B>,
    optim: HfAdamW<B, BertForMaskedLM<B>>,
    state: TrainState,
    log: Option<MetricsLog>,
    resumed_dir: Option<PathBuf>,
}

/// Starts a fresh run, or continues from the newest checkpoint with `--resume`
/// (re-planning the schedule when the budget changed; see [`plan_resumed`]).
#[allow(clippy::too_many_arguments)]
fn start_or_resume<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    ckpts: &CheckpointManager,
    model: BertForMaskedLM<B>,
    optim: HfAdamW<B, BertForMaskedLM<B>>,
    train: &WindowSampler<'_>,
    device: &B::Device,
    workers: usize,
    writes_log: bool,
) -> Result<Run<B>> {
    let metrics_path = cfg.out_dir.join("metrics.jsonl");
    let latest = ckpts.latest()?;
    let calibrate =
        |minutes: f64| calibrate_steps::<B>(cfg, &model, train, device, workers, minutes);
    match (latest, cfg.resume) {
        (Some(ck), true) => {
            let mut state = ck.state.clone();
            if state.seed != cfg.seed {
                log::warn!(
                    "resuming with the checkpoint's seed {} (not {})",
                    state.seed,
                    cfg.seed
                );
            }
            log::info!("resuming from {} (step {})", ck.dir.display(), state.step);
            state.schedule = plan_resumed(cfg, &state, calibrate)?;
            state.extra["budget"] = json!(cfg.budget);
            let model = checkpoint::load_module(model, &ck.dir, checkpoint::MODEL_RECORD, device)?;
            let optim =
                checkpoint::load_optimizer(optim, &ck.dir, checkpoint::OPTIMIZER_RECORD, device)?;
            let log = match writes_log {
                true => Some(MetricsLog::open_resumed(&metrics_path, state.step)?),
                false => None,
            };
            Ok(Run {
                model,
                optim,
                state,
                log,
                resumed_dir: Some(ck.dir),
            })
        }
        (Some(ck), false) => Err(TrainError::Config(format!(
            "{} already holds checkpoints (newest: step {}); pass --resume to continue or choose another --out",
            ckpts.root().display(),
            ck.state.step
        ))),
        (None, resume) => {
            if resume {
                log::warn!(
                    "--resume: no checkpoint in {}, starting fresh",
                    ckpts.root().display()
                );
            }
            let total = match cfg.budget {
                Budget::Steps(n) => n,
                Budget::Minutes(m) => calibrate(m)?,
            };
            let warmup = cfg.warmup.unwrap_or(total * 6 / 100);
            let mut state = TrainState::new(0, 0, LinearWarmupDecay::new(cfg.lr, warmup, total));
            state.seed = cfg.seed;
            state.extra = json!({ "preset": cfg.preset, "init_from": cfg.init_from, "max_len": cfg.max_len, "batch_size": cfg.batch_size,
                                  "grad_accum": cfg.grad_accum, "workers": workers, "budget": cfg.budget });
            let log = match writes_log {
                true => Some(MetricsLog::create(&metrics_path)?),
                false => None,
            };
            Ok(Run {
                model,
                optim,
                state,
                log,
                resumed_dir: None,
            })
        }
    }
}

/// The schedule of a resumed run. An unchanged budget keeps the checkpoint's schedule, so
/// an interrupted run finishes exactly as planned. A new target (`--steps N` other than the
/// planned total, or a `--minutes` budget other than the saved one) re-plans it the way
/// Hugging Face Trainer does when `max_steps` changes on resume: the same peak learning
/// rate and warmup steps (the scheduler state is restored), linear decay re-aimed at the
/// new total, continuing from the saved step. `--minutes` counts time across resumes, so
/// the new total is the saved step plus what fits in the time left (calibrated again).
pub fn plan_resumed(
    cfg: &PretrainConfig,
    state: &TrainState,
    calibrate: impl FnOnce(f64) -> Result<u64>,
) -> Result<LinearWarmupDecay> {
    let old = state.schedule;
    let saved: Option<Budget> = serde_json::from_value(state.extra["budget"].clone()).ok();
    let total = match cfg.budget {
        Budget::Steps(n) if n == old.total_steps => return Ok(old),
        Budget::Steps(n) => n,
        Budget::Minutes(m) if saved == Some(Budget::Minutes(m)) => return Ok(old),
        Budget::Minutes(m) => {
            let left = m * 60.0 - state.elapsed_secs;
            if left <= 0.0 {
                state.step
            } else {
                state.step + calibrate(left / 60.0)?
            }
        }
    };
    let warmup = cfg.warmup.unwrap_or(old.warmup_steps);
    let new = LinearWarmupDecay::new(old.peak_lr, warmup, total);
    if total <= state.step {
        log::warn!(
            "the checkpoint is at step {} and the new budget ends at step {total}: nothing left to train",
            state.step
        );
    } else {
        log::info!(
            "re-planned the schedule for the new budget: {} -> {total} steps (warmup {warmup}, peak lr {:.1e}); lr at step {} is now {:.3e}",
            old.total_steps,
            new.peak_lr,
            state.step,
            new.lr(state.step)
        );
    }
    if (cfg.lr - old.peak_lr).abs() > f64::EPSILON * old.peak_lr {
        log::warn!(
            "--lr {:.1e} ignored on resume: the run keeps its peak lr {:.1e}",
            cfg.lr,
            old.peak_lr
        );
    }
    Ok(new)
}

/// Masked-token counts of one step.
struct StepRow {
    stats: StepStats,
    correct: u64,
    masked: u64,
    tokens: u64,
    /// The run's clock at the step (the mean over the workers).
    elapsed_secs: f64,
    /// This worker's time in the all-reduce (gradients and statistics), when there are
    /// several workers: communication plus waiting for the slowest worker.
    allreduce_secs: Option<f64>,
}

impl StepRow {
    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.masked.max(1) as f64
    }

    fn to_json(&self, state: &TrainState, tokens_per_sec: f64) -> serde_json::Value {
        let mut row = json!({ "step": state.step, "tokens": state.tokens, "loss": self.stats.loss, "lr": self.stats.lr,
                "grad_norm": self.stats.grad_norm, "masked_accuracy": self.accuracy(),
                "tokens_per_sec": tokens_per_sec, "elapsed_secs": state.elapsed_secs });
        if let Some(t) = self.allreduce_secs {
            row["allreduce_secs"] = json!(t);
        }
        row
    }
}

/// One MLM optimizer step at `state.step`: draw the step's micro-batches (a pure function of
/// `(seed, step)`, the same on every worker), keep this worker's rows of each, weight each
/// part's mean loss by its share of the step's masked tokens (so the update equals one big
/// batch), sum gradients and statistics over the workers, and step.
fn mlm_step<B: AutodiffBackend>(
    sh: &Shared<'_>,
    model: BertForMaskedLM<B>,
    optim: &mut HfAdamW<B, BertForMaskedLM<B>>,
    state: &TrainState,
    worker: &Worker<B>,
    elapsed_secs: f64,
) -> Result<(BertForMaskedLM<B>, StepRow)> {
    let cfg = sh.cfg;
    let (seed, step) = (state.seed, state.step);
    let (w, n) = (worker.index, sh.workers);
    let micro: Vec<MlmBatch> = (0..cfg.grad_accum as u64)
        .map(|m| {
            let mut rng = rng_for(seed, Stream::Data, step, m);
            MlmBatch::sample(sh.train, cfg.batch_size, &cfg.masking, &mut rng)
        })
        .collect();
    let total_masked: usize = micro.iter().map(MlmBatch::num_masked).sum();
    let parts = micro.iter().enumerate().filter_map(|(m, batch)| {
        let part = match n {
            1 => batch.clone(),
            _ => batch.slice_rows(batch.rows * w / n..batch.rows * (w + 1) / n),
        };
        (part.rows > 0 && part.num_masked() > 0).then_some((m, part))
    });
    let fault = cfg.fault_nan_at_step == Some(step);
    let lr = state.schedule.lr(step);
    let dev = &worker.device;
    let acc = crate::step::accumulate(&model, parts, |replica, (m, part)| {
        B::seed(
            dev,
            derive_seed(seed, Stream::Dropout, step, (m * n + w) as u64),
        );
        let (input, labels) = part.to_tensors::<B>(dev)?;
        let out = replica.forward_masked(input, labels);
        let weight = part.num_masked() as f64 / total_masked as f64;
        let mut weighted = out.loss.clone() * weight;
        if fault {
            weighted = weighted * f32::NAN;
        }
        let (_, correct, masked) = eval::masked_stats(dnabert2_model::MaskedLmOutput {
            loss: out.loss.inner(),
            logits: out.logits.inner(),
            labels: out.labels.inner(),
        });
        Ok((weighted, (correct, masked, part.num_tokens() as u64)))
    })?;
    let (mut correct, mut masked, mut tokens) = (0u64, 0u64, 0u64);
    for (c, k, t) in &acc.outs {
        correct += c;
        masked += k;
        tokens += t;
    }
    let mut values = [
        acc.loss,
        correct as f64,
        masked as f64,
        tokens as f64,
        elapsed_secs,
    ];
    let t_sync = Instant::now();
    let grads = match &worker.sync {
        Some(sync) => sync.all_reduce(&model, acc.grads, &mut values)?,
        None => acc.grads,
    };
    let allreduce_secs = worker.sync.as_ref().map(|_| t_sync.elapsed().as_secs_f64());
    let (model, stats) = crate::step::apply(model, optim, step, lr, grads, values[0])?;
    let row = StepRow {
        stats,
        correct: values[1].round() as u64,
        masked: values[2].round() as u64,
        tokens: values[3].round() as u64,
        elapsed_secs: values[4] / n as f64,
        allreduce_secs,
    };
    Ok((model, row))
}

/// Held-out evaluation, each worker scoring its share of the batches.
fn evaluate<B: AutodiffBackend>(
    sh: &Shared<'_>,
    model: &BertForMaskedLM<B>,
    worker: &Worker<B>,
) -> Result<MlmScore> {
    let mut sums = eval::evaluate_shard(
        &model.valid(),
        sh.eval_set,
        &worker.device,
        worker.index,
        sh.workers,
    )?;
    if let Some(sync) = &worker.sync {
        sync.sum_values(&mut sums)?;
    }
    Ok(eval::MlmScore::from_sums(sums))
}

/// Appends an evaluation row to the metrics log.
fn log_eval(
    log: &mut MetricsLog,
    score: &MlmScore,
    baseline: &MlmScore,
    state: &TrainState,
) -> Result<()> {
    log.append(&json!({ "step": state.step, "tokens": state.tokens, "eval_loss": score.loss,
                        "eval_masked_accuracy": score.accuracy, "baseline_loss": baseline.loss,
                        "baseline_accuracy": baseline.accuracy, "eval_masked_tokens": score.masked }))
}

/// Saves a checkpoint: the HF directory (config + safetensors) and the burn records of the
/// model and optimizer that exact resumption needs.
fn save_checkpoint<B: AutodiffBackend>(
    sh: &Shared<'_>,
    state: &TrainState,
    model: &BertForMaskedLM<B>,
    optim: &HfAdamW<B, BertForMaskedLM<B>>,
) -> Result<()> {
    let tokenizer_json = sh.tokenizer_json;
    sh.ckpts.save(state, |dir| {
        dnabert2_model::checkpoint::save_mlm(model, sh.model_cfg, dir)?;
        // The tokenizer travels with the weights, so `--model DIR` tokenizes as training did.
        crate::atomic::write_bytes(&dir.join("tokenizer.json"), tokenizer_json.as_bytes())?;
        checkpoint::save_module(model, dir, checkpoint::MODEL_RECORD)?;
        checkpoint::save_optimizer::<B, _, _>(optim, dir, checkpoint::OPTIMIZER_RECORD)
    })?;
    Ok(())
}

/// Training tokens per second of this process (evaluation and saving excluded).
#[derive(Debug, Default)]
struct Throughput {
    tokens: u64,
    secs: f64,
}

impl Throughput {
    fn add(&mut self, tokens: u64, secs: f64) {
        self.tokens += tokens;
        self.secs += secs;
    }

    fn tokens_per_sec(&self) -> f64 {
        self.tokens as f64 / self.secs.max(1e-9)
    }

    /// This process's throughput, or the run's average when nothing was left to train.
    fn or_run_average(&self, state: &TrainState) -> f64 {
        if self.secs > 0.0 {
            self.tokens_per_sec()
        } else {
            state.tokens as f64 / state.elapsed_secs.max(1e-9)
        }
    }
}

/// Estimates how many optimizer steps fit in `minutes` from two timed
/// forward/backward passes (no update; the model is untouched).
fn calibrate_steps<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    model: &BertForMaskedLM<B>,
    train: &WindowSampler<'_>,
    device: &B::Device,
    workers: usize,
    minutes: f64,
) -> Result<u64> {
    let mut times = Vec::new();
    for i in 0..3u64 {
        let batch = MlmBatch::sample(
            train,
            cfg.batch_size.div_ceil(workers.max(1)),
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
    log::info!("calibration: {per_step:.3} s/step -> {steps} steps in {minutes:.2} min");
    Ok(steps.max(1))
}

fn report_corpus(corpus: &TokenCorpus) {
    let m = corpus.manifest();
    let bases: u64 = m.files.iter().map(|f| f.bases).sum();
    log::info!(
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

/// The leader's progress bar (hidden on the other workers).
fn progress_bar(cfg: &PretrainConfig, total: u64, pos: u64, leader: bool) -> Bar {
    let bar = Bar::new(
        total,
        "{elapsed_precise} {bar:30} {pos}/{len} {msg}",
        cfg.progress && leader,
    );
    bar.set_position(pos);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(budget: Budget) -> PretrainConfig {
        let corpus = CorpusConfig::new(vec![], PathBuf::from("cache"));
        PretrainConfig::new(corpus, PathBuf::from("out"), "tiny", budget)
    }

    fn state(step: u64, total: u64, budget: Budget, elapsed: f64) -> TrainState {
        let mut s = TrainState::new(step, 0, LinearWarmupDecay::new(5e-4, 10, total));
        s.elapsed_secs = elapsed;
        s.extra = json!({ "budget": budget });
        s
    }

    #[test]
    fn unchanged_budget_keeps_the_schedule() {
        let s = state(30, 100, Budget::Steps(100), 5.0);
        let plan =
            plan_resumed(&cfg(Budget::Steps(100)), &s, |_| panic!("no calibration")).unwrap();
        assert_eq!(plan, s.schedule);
        let s = state(30, 100, Budget::Minutes(2.0), 60.0);
        let plan =
            plan_resumed(&cfg(Budget::Minutes(2.0)), &s, |_| panic!("no calibration")).unwrap();
        assert_eq!(plan, s.schedule);
    }

    #[test]
    fn new_step_target_replans_decay_keeping_peak_and_warmup() {
        let s = state(30, 30, Budget::Steps(30), 5.0);
        let plan = plan_resumed(&cfg(Budget::Steps(60)), &s, |_| panic!("no calibration")).unwrap();
        assert_eq!(plan, LinearWarmupDecay::new(5e-4, 10, 60));
        assert!(plan.lr(30) > 0.0);
    }

    #[test]
    fn new_time_budget_calibrates_the_time_left() {
        let s = state(30, 30, Budget::Minutes(1.0), 60.0);
        let plan = plan_resumed(&cfg(Budget::Minutes(3.0)), &s, |m| {
            assert!((m - 2.0).abs() < 1e-9, "two minutes left, got {m}");
            Ok(50)
        })
        .unwrap();
        assert_eq!(plan.total_steps, 80);
        // A budget already spent: nothing left.
        let plan =
            plan_resumed(&cfg(Budget::Minutes(0.5)), &s, |_| panic!("no calibration")).unwrap();
        assert_eq!(plan.total_steps, 30);
    }
}
