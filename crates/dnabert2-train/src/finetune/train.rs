//! The fine-tuning loop: shuffled batches, AdamW with warmup + linear decay, dev
//! evaluation every N steps, lowest-dev-loss checkpoint, test metrics of that checkpoint.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use dna_bpe::Tokenizer;
use dna_bpe::progress::Bar;
use dnabert2_model::checkpoint::{Weights, classifier_from_weights, find_weights, save_classifier};
use dnabert2_model::{BertConfig, BertForSequenceClassification, LinearLayer};
use gue_bench::Metrics;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::data::{Problem, Targets, TaskSplits};
use super::encode::{Encoded, batch_input, tokenizer_for};
use super::evaluate::{EvalResult, evaluate};
use super::objective::{balanced_weights, batch_loss};
use super::options::{ClassWeights, FinetuneOptions, ModelSource, Start};
use crate::atomic;
use crate::checkpoint::resolve_model_dir;
use crate::error::{Result, TrainError};
use crate::metrics_log::MetricsLog;
use crate::optim::{AdamWSettings, HfAdamW};
use crate::rng::{Stream, derive_seed, rng_for};
use crate::schedule::LinearWarmupDecay;

/// File name of the test report in the output directory.
pub const TEST_METRICS_JSON: &str = "test_metrics.json";
/// File name of the run settings prediction needs (max length, input kind, problem).
pub const SETTINGS_JSON: &str = "finetune.json";

/// What prediction needs to know about a fine-tuned model (`finetune.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Truncation length used in training (tokens, specials included).
    pub max_len: Option<usize>,
    /// Whether inputs are sequence pairs.
    pub pair: bool,
    /// The problem type.
    pub problem: Problem,
    /// Number of outputs.
    pub num_labels: usize,
    /// The full options of the run.
    pub options: FinetuneOptions,
}

impl RunSettings {
    /// Reads `dir/finetune.json` if present.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let p = dir.join(SETTINGS_JSON);
        if p.is_file() {
            atomic::read_json(&p).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The result of a run, also written to `test_metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneSummary {
    /// Test metrics of the chosen checkpoint (`accuracy`, `f1`, `mcc`, `precision`,
    /// `recall`; absent for regression).
    #[serde(flatten)]
    pub test: Option<Metrics>,
    /// Test loss of the chosen checkpoint.
    pub test_loss: f64,
    /// Test MSE (regression only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_mse: Option<f64>,
    /// Dev loss of the chosen checkpoint (the lowest seen).
    pub dev_loss: f64,
    /// Dev metrics of the chosen checkpoint.
    pub dev: Option<Metrics>,
    /// Optimizer step of the chosen checkpoint.
    pub step: u64,
    /// Optimizer steps run.
    pub steps_run: u64,
    /// Steps the schedule was planned for.
    pub total_steps: u64,
    /// Whether early stopping ended the run.
    pub early_stopped: bool,
    /// Seed of the run.
    pub seed: u64,
    /// Wall-clock seconds of the training loop (evaluations included).
    pub train_seconds: f64,
    /// Problem type.
    pub problem: Problem,
    /// Number of outputs.
    pub num_labels: usize,
    /// Training examples (after `--train-fraction`).
    pub train_examples: usize,
    /// The `--train-fraction` the training rows were subsampled to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_fraction: Option<f64>,
    /// Set when the chosen checkpoint is at chance level ([`chance_level_warning`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

/// Builds the classifier for `splits`: loads the encoder (and pooler/classifier when
/// present and of the right size) from a checkpoint directory, or initialises a preset.
/// The head's random init is seeded from `opts.seed`.
pub fn build_classifier<B: Backend>(
    source: &ModelSource,
    splits: &TaskSplits,
    opts: &FinetuneOptions,
    device: &B::Device,
) -> Result<(BertForSequenceClassification<B>, BertConfig)> {
    B::seed(device, derive_seed(opts.seed, Stream::Init, 0, 0));
    let n = splits.num_labels;
    let finish = |mut cfg: BertConfig| {
        cfg = cfg.with_num_labels(n);
        cfg.problem_type = Some(splits.problem.hf_name().into());
        if splits.problem != Problem::Regression && cfg.id2label.is_none() {
            let names: BTreeMap<String, String> =
                (0..n).map(|i| (i.to_string(), i.to_string())).collect();
            cfg.label2id = Some((0..n).map(|i| (i.to_string(), i)).collect());
            cfg.id2label = Some(names);
        }
        if let Some(p) = opts.dropout {
            cfg = cfg.with_dropout(p);
        }
        cfg
    };
    match source {
        ModelSource::Preset(name) => {
            let cfg = finish(BertConfig::preset(name)?);
            Ok((BertForSequenceClassification::init(&cfg, device), cfg))
        }
        ModelSource::Checkpoint(dir) => {
            let dir = &resolve_model_dir(dir);
            let file_cfg = BertConfig::from_file(dir.join("config.json"))?;
            let mut w = Weights::read(find_weights(dir)?)?;
            let stale_head = w
                .shape("classifier.weight")
                .is_some_and(|shape| shape.first() != Some(&n));
            if stale_head {
                log::warn!(
                    "{} has a classifier with a different number of labels; it is replaced by a \
                     fresh [{}, {n}] classifier",
                    dir.display(),
                    file_cfg.hidden_size
                );
                w.retain(|k| !k.starts_with("classifier."));
            }
            let cfg = finish(file_cfg);
            let model = classifier_from_weights(&mut w, &cfg, device)?;
            Ok((model, cfg))
        }
    }
}

/// The tokenizer of a model source: `DIR/tokenizer.json` when present, else the
/// released DNABERT-2 tokenizer.
pub fn tokenizer_of(source: &ModelSource) -> Result<Tokenizer> {
    match source {
        ModelSource::Checkpoint(dir) => {
            Ok(dnabert2_model::pretrained::tokenizer_of(&resolve_model_dir(dir))?.0)
        }
        ModelSource::Preset(_) => Ok(Tokenizer::dnabert2()),
    }
}

/// The lowest-dev-loss model [`finetune`] hands back (inference backend, same linear
/// type: LoRA-wrapped models stay LoRA-wrapped, so their adapters can be saved).
pub type BestModel<B, L> = BertForSequenceClassification<
    <B as AutodiffBackend>::InnerBackend,
    <L as AutodiffModule<B>>::InnerModule,
>;

/// Builds the model from `source`, lets `wrap` transform it (e.g. insert LoRA adapters
/// and freeze the base weights), then runs [`finetune`].
pub fn finetune_with<B, L, F>(
    source: &ModelSource,
    splits: &TaskSplits,
    opts: &FinetuneOptions,
    devices: &[B::Device],
    wrap: F,
) -> Result<(FinetuneSummary, BestModel<B, L>)>
where
    B: AutodiffBackend,
    L: AutodiffModule<B> + LinearLayer<B>,
    L::InnerModule: LinearLayer<B::InnerBackend>,
    F: FnOnce(BertForSequenceClassification<B>) -> BertForSequenceClassification<B, L>,
{
    let opts = match opts.start {
        Some(_) => opts.clone(),
        None => opts.resolved(Start::of(source, false)),
    };
    let device = devices
        .first()
        .ok_or_else(|| TrainError::Config("no device given".into()))?;
    let (model, cfg) = build_classifier::<B>(source, splits, &opts, device)?;
    let tok = tokenizer_of(source)?;
    finetune(wrap(model), &cfg, &tok, splits, &opts, devices)
}

struct Best<M> {
    loss: f64,
    step: u64,
    eval: EvalResult,
    model: M,
}

/// The splits tokenised once, and the class weights of the loss.
struct Prepared {
    train: Encoded,
    dev: Encoded,
    test: Encoded,
    weights: Option<Vec<f32>>,
}

fn prepare(tokenizer: &Tokenizer, splits: &TaskSplits, opts: &FinetuneOptions) -> Result<Prepared> {
    let tok = tokenizer_for(tokenizer.clone(), opts.max_len)?;
    let train = Encoded::new(&tok, &splits.train)?;
    let k = splits.num_labels;
    let weights = match (&opts.class_weights, &train.targets) {
        (None, _) => None,
        (Some(ClassWeights::Balanced), Targets::Class(y)) => Some(balanced_weights(y, k)),
        (Some(ClassWeights::Manual(w)), Targets::Class(_)) if w.len() == k => Some(w.clone()),
        (Some(ClassWeights::Manual(w)), Targets::Class(_)) => {
            return Err(TrainError::Config(format!(
                "{} class weights given for {k} classes",
                w.len()
            )));
        }
        (Some(_), _) => {
            return Err(TrainError::Config(
                "class weights need single-label classification".into(),
            ));
        }
    };
    Ok(Prepared {
        dev: Encoded::new(&tok, &splits.dev)?,
        test: Encoded::new(&tok, &splits.test)?,
        train,
        weights,
    })
}

/// Writes what prediction needs (`finetune.json`, `tokenizer.json`) and opens the metrics log.
fn start_run_files(
    tokenizer: &Tokenizer,
    splits: &TaskSplits,
    opts: &FinetuneOptions,
    total: u64,
    n_train: usize,
) -> Result<MetricsLog> {
    let out = opts.out_dir.as_path();
    std::fs::create_dir_all(out).map_err(crate::error::io_err(out))?;
    let settings = RunSettings {
        max_len: opts.max_len,
        pair: splits.is_pair(),
        problem: splits.problem,
        num_labels: splits.num_labels,
        options: opts.clone(),
    };
    atomic::write_json(&out.join(SETTINGS_JSON), &settings)?;
    let tok_json = tokenizer.to_json_string()?;
    atomic::write_bytes(&out.join("tokenizer.json"), tok_json.as_bytes())?;
    let mut log = MetricsLog::create(&out.join("metrics.jsonl"))?;
    log.append(&json!({"step": 0, "event": "start", "seed": opts.seed, "total_steps": total,
        "train_examples": n_train, "num_labels": splits.num_labels, "problem": splits.problem,
        "max_len": opts.max_len, "lr": opts.lr(), "warmup_steps": opts.warmup(), "start": opts.start}))?;
    Ok(log)
}

fn progress(opts: &FinetuneOptions, total: u64, leader: bool) -> Bar {
    Bar::new(
        total,
        "{spinner} {bar:30} {pos}/{len} steps [{elapsed_precise}<{eta_precise}] {msg}",
        opts.progress && leader,
    )
}

/// The dev row of the metrics log.
fn dev_row(done: u64, ev: &EvalResult, improved: bool) -> serde_json::Value {
    let mut row = json!({"step": done, "eval_loss": ev.loss, "best": improved});
    if let Some(m) = &ev.metrics {
        row["eval_mcc"] = json!(m.mcc);
        row["eval_f1"] = json!(m.f1);
        row["eval_accuracy"] = json!(m.accuracy);
    }
    if let Some(m) = ev.mse {
        row["eval_mse"] = json!(m);
    }
    row
}

/// Why a chosen checkpoint looks like it learned nothing, if it does: dev MCC <= 0 or a
/// single predicted class (single-label classification only).
pub fn chance_level_warning(
    ev: &EvalResult,
    problem: Problem,
    num_labels: usize,
) -> Option<String> {
    if problem != Problem::SingleLabel || num_labels < 2 {
        return None;
    }
    let mcc = ev.metrics.as_ref().map(|m| m.mcc)?;
    let predicted: std::collections::BTreeSet<usize> = ev
        .scores
        .chunks(num_labels)
        .filter_map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
        })
        .collect();
    if mcc > 0.0 && predicted.len() > 1 {
        return None;
    }
    let what = if predicted.len() <= 1 {
        format!("every dev example is predicted as one class (dev MCC {mcc:.3})")
    } else {
        format!("dev MCC is {mcc:.3}")
    };
    Some(format!(
        "the chosen checkpoint is at CHANCE LEVEL: {what}. Likely causes: a learning rate wrong \
         for the starting point (a random init needs ~1e-3, the paper's 3e-5 is for pretrained \
         weights), too few steps or epochs for the data, a random init on a small dataset \
         (fine-tune pretrained weights instead), or labels that do not match the sequences"
    ))
}

/// Fine-tunes `model` (any linear type `L`, e.g. LoRA-wrapped: parameters that do not
/// require gradients are left untouched by the optimizer) on `splits.train`, keeps the
/// state with the lowest dev loss, writes it to `opts.out_dir` with
/// `test_metrics.json`, `metrics.jsonl` and `finetune.json`, and returns the summary with
/// that model (callers save extra artefacts from it, e.g. a LoRA adapter directory).
///
/// Each step is [`crate::step::train_step`] with [`HfAdamW`] (HF Trainer's AdamW groups
/// and global-norm clip). Unresolved defaults (`opts.lr == None`, ...) are the pretrained
/// protocol's; [`finetune_with`] and [`super::finetune_source`] resolve them for the
/// starting point first.
pub fn finetune<B, L>(
    model: BertForSequenceClassification<B, L>,
    cfg: &BertConfig,
    tokenizer: &Tokenizer,
    splits: &TaskSplits,
    opts: &FinetuneOptions,
    devices: &[B::Device],
) -> Result<(FinetuneSummary, BestModel<B, L>)>
where
    B: AutodiffBackend,
    L: AutodiffModule<B> + LinearLayer<B>,
    L::InnerModule: LinearLayer<B::InnerBackend>,
{
    opts.validate()?;
    let Some(first) = devices.first() else {
        return Err(TrainError::Config("no device given".into()));
    };
    let subsampled;
    let splits = match opts.train_fraction {
        Some(f) if f < 1.0 => {
            subsampled = TaskSplits {
                train: splits.train.subsample(f, opts.seed)?,
                ..splits.clone()
            };
            log::info!(
                "--train-fraction {f}: {} of {} training rows (class-stratified, seed {})",
                subsampled.train.len(),
                splits.train.len(),
                opts.seed
            );
            &subsampled
        }
        _ => splits,
    };
    let data = prepare(tokenizer, splits, opts)?;
    let n = data.train.len();
    let total = opts.total_steps(n);
    log::info!("{}", opts.describe(n));
    let run = Run {
        cfg,
        tokenizer,
        splits,
        opts,
        data: &data,
        total,
        workers: devices.len(),
    };
    if devices.len() == 1 {
        let out = run_worker(&run, model, 0, first.clone(), None)?;
        return out.ok_or_else(|| TrainError::Config("no evaluation ran".into()));
    }
    // Data parallel: one worker thread per device, each with a replica; --batch-size is
    // the global batch.
    log::info!(
        "{} workers (one per device), each with its share of the {} rows of every batch",
        devices.len(),
        opts.batch_size
    );
    let replicas: Vec<_> = devices.iter().map(|d| model.clone().fork(d)).collect();
    drop(model);
    let out = crate::distributed::launch::<B, _, _>(
        &crate::distributed::Cluster::single(),
        devices,
        None,
        replicas,
        |i, device, sync, model| run_worker(&run, model, i, device, Some(sync)),
    )?;
    out.into_iter()
        .flatten()
        .next()
        .ok_or_else(|| TrainError::Distributed("the leader returned no model".into()))
}

/// What every fine-tuning worker reads.
struct Run<'a> {
    cfg: &'a BertConfig,
    tokenizer: &'a Tokenizer,
    splits: &'a TaskSplits,
    opts: &'a FinetuneOptions,
    data: &'a Prepared,
    total: u64,
    workers: usize,
}

// Long by design: the loop reads top to bottom (batch, step, log, dev evaluation and selection,
// early stop, test report); each part is a small function or type beside it.
/// The loop of worker `index` (the only one with `index == 0` logs, evaluates, selects and
/// saves; the others follow its decisions). Returns the result on the leader, `None` on the
/// others.
fn run_worker<B, L>(
    run: &Run<'_>,
    mut model: BertForSequenceClassification<B, L>,
    index: usize,
    device: B::Device,
    sync: Option<crate::distributed::sync::Sync<B>>,
) -> Result<Option<(FinetuneSummary, BestModel<B, L>)>>
where
    B: AutodiffBackend,
    L: AutodiffModule<B> + LinearLayer<B>,
    L::InnerModule: LinearLayer<B::InnerBackend>,
{
    let Run {
        cfg,
        tokenizer,
        splits,
        opts,
        data,
        total,
        workers,
    } = *run;
    let device = &device;
    let leader = index == 0;
    let (problem, k, n) = (splits.problem, splits.num_labels, data.train.len());
    let schedule = LinearWarmupDecay::new(opts.lr(), opts.warmup(), total);
    let mut optim = HfAdamW::new(AdamWSettings {
        max_grad_norm: opts.grad_clip,
        ..AdamWSettings::hf(opts.weight_decay as f32)
    });
    let mut log = match leader {
        true => Some(start_run_files(tokenizer, splits, opts, total, n)?),
        false => None,
    };
    let bar = progress(opts, total, leader);
    let start = Instant::now();
    let mut batches = Shuffle::new(n, opts.seed);
    let mut keep = Selection::<BestModel<B, L>>::default();
    let (mut early_stopped, mut steps_run) = (false, 0u64);
    let mut recent = Vec::with_capacity(opts.log_every as usize);
    for step in 0..total {
        let rows = batches.next_rows(opts.batch_size);
        let lr = schedule.lr(step);
        let part = Part {
            rows: &rows,
            index,
            workers,
            sync: sync.as_ref(),
        };
        let (m, stats) = classifier_step(model, &mut optim, data, opts, step, lr, part, device)?;
        model = m;
        let done = step + 1;
        steps_run = done;
        recent.push(stats.loss);
        bar.inc(1);
        if done % opts.log_every.max(1) == 0 || done == total {
            let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            recent.clear();
            if let Some(log) = &mut log {
                log.append(&json!({"step": done, "epoch": batches.epoch, "loss": mean, "lr": lr, "grad_norm": stats.grad_norm}))?;
            }
            bar.set_message(format!("loss {mean:.4}{}", keep.message));
        }
        if done % opts.eval_every == 0 || done == total {
            // The leader evaluates on dev and decides; the other workers learn whether to
            // stop (their replicas are identical, so only the leader keeps the best one).
            let mut stop = [0.0f64];
            if let Some(log) = &mut log {
                let inner = model.valid();
                let ev = evaluate(
                    |x| inner.forward(x),
                    &data.dev,
                    problem,
                    k,
                    opts.eval_batch_size,
                    device,
                )?;
                log.append(&dev_row(done, &ev, keep.improves(&ev)))?;
                let improved = keep.offer(ev, done, inner);
                if improved {
                    save_classifier(&model, cfg, &opts.out_dir)?;
                }
                bar.set_message(format!("loss {:.4}{}", stats.loss, keep.message));
                if opts.patience.is_some_and(|p| keep.since_best >= p) && done < total {
                    log.append(
                        &json!({"step": done, "event": "early_stop", "patience": opts.patience}),
                    )?;
                    stop[0] = 1.0;
                }
            }
            if let Some(sync) = &sync {
                sync.sum_values(&mut stop)?;
            }
            if stop[0] > 0.5 {
                early_stopped = true;
                break;
            }
        }
    }
    if let Some(sync) = sync {
        sync.finish();
    }
    let Some(mut log) = log else {
        return Ok(None);
    };
    let train_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let best = keep
        .best
        .ok_or_else(|| TrainError::Config("no evaluation ran".into()))?;
    let ev = evaluate(
        |x| best.model.forward(x),
        &data.test,
        problem,
        k,
        opts.eval_batch_size,
        device,
    )?;
    let summary = FinetuneSummary {
        test: ev.metrics,
        test_loss: ev.loss,
        test_mse: ev.mse,
        dev_loss: best.loss,
        dev: best.eval.metrics,
        step: best.step,
        steps_run,
        total_steps: total,
        early_stopped,
        seed: opts.seed,
        train_seconds,
        problem,
        num_labels: k,
        train_examples: n,
        train_fraction: opts.train_fraction,
        warning: chance_level_warning(&best.eval, problem, k),
    };
    if let Some(w) = &summary.warning {
        log::warn!("{w}");
    }
    log.append(&json!({"step": steps_run, "event": "test", "chosen_step": best.step, "test_loss": ev.loss, "test": ev.metrics, "warning": summary.warning}))?;
    atomic::write_json(&opts.out_dir.join(TEST_METRICS_JSON), &summary)?;
    Ok(Some((summary, best.model)))
}

/// Epoch-wise shuffled batches of row indices (a pure function of `(seed, epoch)`).
struct Shuffle {
    order: Vec<usize>,
    epoch: u64,
    pos: usize,
    seed: u64,
}

impl Shuffle {
    fn new(n: usize, seed: u64) -> Self {
        Self {
            order: (0..n).collect(),
            epoch: 0,
            pos: 0,
            seed,
        }
    }

    /// The next batch of at most `size` rows; the last batch of an epoch may be shorter.
    fn next_rows(&mut self, size: usize) -> Vec<usize> {
        let n = self.order.len();
        if self.pos == 0 {
            self.order = (0..n).collect();
            self.order
                .shuffle(&mut rng_for(self.seed, Stream::Data, self.epoch, 0));
        }
        let rows = self.order[self.pos..(self.pos + size).min(n)].to_vec();
        self.pos += rows.len();
        if self.pos >= n {
            self.pos = 0;
            self.epoch += 1;
        }
        rows
    }
}

/// One worker's part of a batch: its rows and the collective it sums gradients over.
struct Part<'a, B: AutodiffBackend> {
    rows: &'a [usize],
    index: usize,
    workers: usize,
    sync: Option<&'a crate::distributed::sync::Sync<B>>,
}

/// One fine-tuning step on a batch (dropout seeded from `(seed, step, worker)`). With several
/// workers each takes its rows of the batch, weighted by their share of the batch's loss
/// normaliser (rows, or class weights for a weighted loss), and the gradients are summed, so
/// the update equals one worker's on the whole batch.
#[allow(clippy::too_many_arguments)]
fn classifier_step<B, L>(
    model: BertForSequenceClassification<B, L>,
    optim: &mut HfAdamW<B, BertForSequenceClassification<B, L>>,
    data: &Prepared,
    opts: &FinetuneOptions,
    step: u64,
    lr: f64,
    part: Part<'_, B>,
    device: &B::Device,
) -> Result<(BertForSequenceClassification<B, L>, crate::step::StepStats)>
where
    B: AutodiffBackend,
    L: AutodiffModule<B> + LinearLayer<B>,
    L::InnerModule: LinearLayer<B::InnerBackend>,
{
    let Part {
        rows,
        index,
        workers,
        sync,
    } = part;
    let train = &data.train;
    let mine = &rows[rows.len() * index / workers..rows.len() * (index + 1) / workers];
    // Each row's weight in the batch loss's normaliser.
    let weight = |r: usize| match (&train.targets, data.weights.as_deref()) {
        (Targets::Class(y), Some(w)) => f64::from(w.get(y[r] as usize).copied().unwrap_or(1.0)),
        _ => 1.0,
    };
    let share = mine.iter().map(|&r| weight(r)).sum::<f64>()
        / rows
            .iter()
            .map(|&r| weight(r))
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
    let parts = (!mine.is_empty()).then_some(mine);
    let acc = crate::step::accumulate(&model, parts, |m, rows| {
        B::seed(
            device,
            derive_seed(opts.seed, Stream::Dropout, step, index as u64),
        );
        let input = batch_input::<B>(&train.ids, train.type_ids.as_deref(), rows, device)?;
        let loss = batch_loss(
            m.forward(input),
            &train.targets,
            rows,
            data.weights.as_deref(),
        );
        Ok((loss * share, ()))
    })?;
    let mut loss = [acc.loss];
    let grads = match sync {
        Some(s) => s.all_reduce(&model, acc.grads, &mut loss)?,
        None => acc.grads,
    };
    crate::step::apply(model, optim, step, lr, grads, loss[0])
}

/// Checkpoint selection: the state with the lowest dev loss so far.
struct Selection<M> {
    best: Option<Best<M>>,
    since_best: usize,
    message: String,
}

impl<M> Default for Selection<M> {
    fn default() -> Self {
        Self {
            best: None,
            since_best: 0,
            message: String::new(),
        }
    }
}

impl<M> Selection<M> {
    /// Whether `ev` would be the new best.
    fn improves(&self, ev: &EvalResult) -> bool {
        self.best.as_ref().is_none_or(|b| ev.loss < b.loss)
    }

    /// Records the dev result of the model at step `done`; returns whether it is the new best.
    fn offer(&mut self, ev: EvalResult, done: u64, model: M) -> bool {
        let improved = self.improves(&ev);
        self.message = match &ev.metrics {
            Some(m) => format!(" | dev loss {:.4} mcc {:.3}", ev.loss, m.mcc),
            None => format!(" | dev loss {:.4}", ev.loss),
        };
        if improved {
            self.best = Some(Best {
                loss: ev.loss,
                step: done,
                eval: ev,
                model,
            });
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        let b = self.best.as_ref().map_or(0, |b| b.step);
        self.message.push_str(&format!(" (best @{b})"));
        improved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(mcc: f64, scores: Vec<f32>) -> EvalResult {
        let metrics = Metrics {
            accuracy: 0.5,
            f1: 0.5,
            mcc,
            precision: 0.5,
            recall: 0.5,
        };
        EvalResult {
            loss: 0.69,
            metrics: Some(metrics),
            mse: None,
            scores,
        }
    }

    #[test]
    fn chance_level_is_flagged() {
        let one_class = result(0.0, vec![0.6, 0.4, 0.7, 0.3, 0.55, 0.45]);
        let w = chance_level_warning(&one_class, Problem::SingleLabel, 2).unwrap();
        assert!(w.contains("CHANCE LEVEL") && w.contains("one class"), "{w}");
        let negative = result(-0.1, vec![0.6, 0.4, 0.3, 0.7]);
        assert!(chance_level_warning(&negative, Problem::SingleLabel, 2).is_some());
        let fine = result(0.4, vec![0.6, 0.4, 0.3, 0.7]);
        assert_eq!(chance_level_warning(&fine, Problem::SingleLabel, 2), None);
        assert_eq!(
            chance_level_warning(&one_class, Problem::Regression, 1),
            None
        );
    }
}
