//! `cargo xtask pretrain`: flags -> [`dnabert2_train::PretrainConfig`] -> [`dnabert2_train::pretrain`].

use std::path::PathBuf;

use clap::{ArgGroup, ValueEnum};
use dnabert2_train::corpus::CorpusConfig;
use dnabert2_train::{Budget, PretrainConfig};

/// Backends compiled into this binary (cargo features of xtask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// burn-flex on CPU (feature `flex`, default).
    #[cfg(feature = "flex")]
    Flex,
    /// burn-ndarray on CPU (feature `ndarray`).
    #[cfg(feature = "ndarray")]
    Ndarray,
    /// wgpu (feature `wgpu`).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// CUDA (feature `cuda`); `--devices N` uses GPUs 0..N.
    #[cfg(feature = "cuda")]
    Cuda,
    /// libtorch (feature `tch`).
    #[cfg(feature = "tch")]
    Tch,
}

/// Flags of `cargo xtask pretrain`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("budget").args(["minutes", "steps"])))]
pub struct Args {
    /// FASTA files or folders (.fa/.fasta/.fna, plain or compressed), CSV/TSV files with a
    /// `sequence` column (one sequence per row), or GUE-style task folders (their
    /// train.csv files; dev/test are not used).
    #[arg(long, num_args = 1.., required = true)]
    corpus: Vec<PathBuf>,
    /// Run directory (metrics.jsonl, curves.png, checkpoints/).
    #[arg(long)]
    out: PathBuf,
    /// Model size of a run from random weights: tiny, small (default) or base (the 117M
    /// DNABERT-2 config).
    #[arg(long, conflicts_with = "init_from")]
    preset: Option<String>,
    /// Continue pretraining from this model (directory or offline hub id): its weights,
    /// config and tokenizer; a new optimizer and schedule. A model without an MLM head gets
    /// a fresh one (with a notice).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Wall-clock budget in minutes (the schedule is sized to fit it).
    #[arg(long)]
    minutes: Option<f64>,
    /// Number of optimizer steps (default 1000 when neither --steps nor --minutes).
    #[arg(long)]
    steps: Option<u64>,
    /// Continue from the newest checkpoint in OUT/checkpoints.
    #[arg(long)]
    resume: bool,
    /// Windows per micro-batch (summed over devices).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Tokens per window including [CLS] and [SEP].
    #[arg(long, default_value_t = 128)]
    max_len: usize,
    /// Peak learning rate (default 5e-4 from random weights, 5e-5 with --init-from: the
    /// paper's further-pretraining rate).
    #[arg(long)]
    lr: Option<f64>,
    /// Warmup steps (default: 6% of the run).
    #[arg(long)]
    warmup: Option<u64>,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-5)]
    weight_decay: f32,
    /// Clip the global gradient norm to this value (0 disables).
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f32,
    /// Evaluate on held-out windows every N steps.
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Held-out windows per evaluation.
    #[arg(long, default_value_t = 256)]
    eval_windows: usize,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 200)]
    save_every: u64,
    /// Newest checkpoints kept (plus the best).
    #[arg(long, default_value_t = 3)]
    keep_last: usize,
    /// Log a metrics row every N steps.
    #[arg(long, default_value_t = 10)]
    log_every: u64,
    /// Seed of all randomness.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A Hugging Face tokenizer.json (default: the embedded DNABERT-2 tokenizer).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Token cache directory (default: OUT/../.token-cache, shared between runs).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Fraction of 16 kbp chunks held out for evaluation.
    #[arg(long, default_value_t = 0.015)]
    eval_fraction: f64,
    /// Backend.
    #[arg(long, value_enum, default_value_t = default_backend())]
    backend: Backend,
    /// Number of devices for data parallelism (GPU backends: devices 0..N).
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[allow(clippy::needless_return)] // one cfg'd `return` is live per feature set
fn default_backend() -> Backend {
    #[cfg(feature = "flex")]
    return Backend::Flex;
    #[cfg(all(not(feature = "flex"), feature = "ndarray"))]
    return Backend::Ndarray;
    #[cfg(all(not(feature = "flex"), not(feature = "ndarray"), feature = "cuda"))]
    return Backend::Cuda;
    #[cfg(all(
        not(feature = "flex"),
        not(feature = "ndarray"),
        not(feature = "cuda"),
        feature = "wgpu"
    ))]
    return Backend::Wgpu;
    #[cfg(all(
        not(feature = "flex"),
        not(feature = "ndarray"),
        not(feature = "cuda"),
        not(feature = "wgpu")
    ))]
    return Backend::Tch;
}

/// Runs `$body` with `$B` bound to the autodiff backend type chosen by `$backend`.
///
/// `with_backend!(b, |B, dev| ..)` binds `dev` to the backend's device 0;
/// `with_backend!(b, devices n, |B, devs| ..)` binds `devs` to `n` devices (on the CPU
/// backends, which have one device, `n` replicas of it: this exercises the data-parallel
/// path without a speed-up).
macro_rules! with_backend {
    ($backend:expr, devices $n:expr, |$B:ident, $devs:ident| $body:expr) => {
        match $backend {
            #[cfg(feature = "flex")]
            crate::pretrain::Backend::Flex => {
                type $B = dnabert2_train::backends::FlexAutodiff;
                let $devs: Vec<_> = (0..$n).map(|_| Default::default()).collect();
                $body
            }
            #[cfg(feature = "ndarray")]
            crate::pretrain::Backend::Ndarray => {
                type $B = dnabert2_train::backends::NdArrayAutodiff;
                let $devs: Vec<_> = (0..$n).map(|_| Default::default()).collect();
                $body
            }
            #[cfg(feature = "wgpu")]
            crate::pretrain::Backend::Wgpu => {
                type $B = dnabert2_train::backends::WgpuAutodiff;
                let $devs: Vec<_> = (0..$n).map(dnabert2_train::backends::wgpu_device).collect();
                $body
            }
            #[cfg(feature = "cuda")]
            crate::pretrain::Backend::Cuda => {
                type $B = dnabert2_train::backends::CudaAutodiff;
                let $devs: Vec<_> = (0..$n).map(dnabert2_train::backends::cuda_device).collect();
                $body
            }
            #[cfg(feature = "tch")]
            crate::pretrain::Backend::Tch => {
                type $B = dnabert2_train::backends::TchAutodiff;
                let $devs: Vec<_> = (0..$n).map(dnabert2_train::backends::tch_device).collect();
                $body
            }
        }
    };
    ($backend:expr, |$B:ident, $dev:ident| $body:expr) => {
        crate::pretrain::with_backend!($backend, devices 1, |$B, devs| {
            let $dev = devs.into_iter().next().ok_or("no device")?;
            $body
        })
    };
}
pub(crate) use with_backend;

/// Runs the command.
pub fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let cache_dir = a.cache_dir.clone().unwrap_or_else(|| {
        let parent = a.out.parent().filter(|p| !p.as_os_str().is_empty());
        parent.map_or_else(|| PathBuf::from(".token-cache"), |p| p.join(".token-cache"))
    });
    let mut corpus = CorpusConfig::new(a.corpus.clone(), cache_dir);
    corpus.tokenizer = a.tokenizer.clone();
    corpus.eval_fraction = a.eval_fraction;
    let budget = match (a.minutes, a.steps) {
        (Some(m), _) => Budget::Minutes(m),
        (None, Some(s)) => Budget::Steps(s),
        (None, None) => Budget::Steps(1000),
    };
    let preset = a.preset.clone().unwrap_or_else(|| "small".into());
    let mut cfg = PretrainConfig::new(corpus, a.out.clone(), &preset, budget);
    cfg.init_from = a.init_from.clone();
    cfg.batch_size = a.batch_size;
    cfg.max_len = a.max_len;
    cfg.lr = a.lr.unwrap_or(if a.init_from.is_some() {
        dnabert2_train::pretrain::FURTHER_PRETRAINING_LR
    } else {
        cfg.lr
    });
    cfg.warmup = a.warmup;
    cfg.grad_accum = a.grad_accum;
    cfg.optimizer.weight_decay = a.weight_decay;
    cfg.optimizer.max_grad_norm = (a.grad_clip > 0.0).then_some(a.grad_clip);
    cfg.eval_every = a.eval_every;
    cfg.eval_windows = a.eval_windows;
    cfg.save_every = a.save_every;
    cfg.keep_last = a.keep_last;
    cfg.log_every = a.log_every;
    cfg.seed = a.seed;
    cfg.resume = a.resume;
    cfg.progress = !a.quiet;
    if a.devices == 0 {
        return Err("--devices must be at least 1".into());
    }

    let summary = with_backend!(a.backend, devices a.devices, |B, devs| {
        dnabert2_train::pretrain::<B>(&cfg, &devs)?
    });
    println!(
        "done: {} steps, {} tokens, held-out loss {:.4} / accuracy {:.4} (unigram baseline {:.4} / {:.4}), {:.0} tokens/s",
        summary.steps,
        summary.tokens,
        summary.eval.loss,
        summary.eval.accuracy,
        summary.baseline.loss,
        summary.baseline.accuracy,
        summary.tokens_per_sec
    );
    if let Some(best) = &summary.best_checkpoint {
        println!("best checkpoint (usable as --model): {}", best.display());
    }
    Ok(())
}
