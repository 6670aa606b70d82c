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
    /// Windows per micro-batch: the global batch, split over every worker of every process.
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
    /// Devices of this process, one worker thread each: a count `N` (devices 0..N), or a
    /// list `0,1,2,3` / `cuda:0,cuda:1` / `cpu:0,cpu:1` (on the CPU backends every entry is
    /// one more worker on the same CPU). `--batch-size` is the global batch, split over all
    /// workers.
    #[arg(long, default_value = "1")]
    devices: DeviceList,
    /// Dropout of the model, overriding the preset's 0.1 (0 makes runs with different
    /// worker counts comparable step for step).
    #[arg(long)]
    dropout: Option<f64>,
    /// Processes in a multi-process run (env DNABERT2_WORLD_SIZE, WORLD_SIZE or
    /// SLURM_NTASKS); every process runs the same command.
    #[arg(long)]
    world_size: Option<usize>,
    /// This process's rank, 0..world-size (env DNABERT2_RANK, RANK or SLURM_PROCID); rank 0
    /// coordinates and writes the outputs.
    #[arg(long)]
    rank: Option<usize>,
    /// HOST:PORT of rank 0 (env DNABERT2_COORDINATOR, or MASTER_ADDR and MASTER_PORT).
    /// Rank 0 uses PORT (control) and PORT+1 (orchestrator); rank R serves tensors on
    /// PORT+2+R unless --data-port is given.
    #[arg(long)]
    coordinator: Option<String>,
    /// Port this process serves its tensors on.
    #[arg(long)]
    data_port: Option<u16>,
    /// Seconds a peer may stay silent, the rendezvous may wait, or one all-reduce may take
    /// before every process stops with an error naming the lost rank.
    #[arg(long, default_value_t = dnabert2_train::distributed::DEFAULT_TIMEOUT.as_secs())]
    dist_timeout: u64,
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

/// `--devices`: device indices of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList(pub Vec<usize>);

impl std::str::FromStr for DeviceList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if !s.contains([',', ':'])
            && let Ok(n) = s.parse::<usize>()
        {
            return match n {
                0 => Err("--devices must name at least one device".into()),
                n => Ok(Self((0..n).collect())),
            };
        }
        let ids = s
            .split(',')
            .map(|d| {
                let d = d.trim();
                let idx = d.rsplit_once(':').map_or(d, |(_, i)| i);
                idx.parse::<usize>()
                    .map_err(|_| format!("--devices: {d:?} is not N, INDEX or KIND:INDEX"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = ids.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != ids.len() {
            return Err(format!("--devices {s}: a device is listed twice"));
        }
        Ok(Self(ids))
    }
}

/// Runs `$body` with `$B` bound to the autodiff backend type chosen by `$backend`.
///
/// `with_backend!(b, |B, dev| ..)` binds `dev` to the backend's device 0;
/// `with_backend!(b, devices ids, |B, devs| ..)` binds `devs` to the devices with indices
/// `ids` (on the CPU backends, which have one device, one replica of it per entry: this
/// exercises the data-parallel path without a speed-up).
macro_rules! with_backend {
    ($backend:expr, devices $n:expr, |$B:ident, $devs:ident| $body:expr) => {
        match $backend {
            #[cfg(feature = "flex")]
            crate::pretrain::Backend::Flex => {
                type $B = dnabert2_train::backends::FlexAutodiff;
                let $devs: Vec<_> = $n.iter().map(|_| Default::default()).collect();
                $body
            }
            #[cfg(feature = "ndarray")]
            crate::pretrain::Backend::Ndarray => {
                type $B = dnabert2_train::backends::NdArrayAutodiff;
                let $devs: Vec<_> = $n.iter().map(|_| Default::default()).collect();
                $body
            }
            #[cfg(feature = "wgpu")]
            crate::pretrain::Backend::Wgpu => {
                type $B = dnabert2_train::backends::WgpuAutodiff;
                let $devs: Vec<_> = $n
                    .iter()
                    .map(|&i| dnabert2_train::backends::wgpu_device(i))
                    .collect();
                $body
            }
            #[cfg(feature = "cuda")]
            crate::pretrain::Backend::Cuda => {
                type $B = dnabert2_train::backends::CudaAutodiff;
                let $devs: Vec<_> = $n
                    .iter()
                    .map(|&i| dnabert2_train::backends::cuda_device(i))
                    .collect();
                $body
            }
            #[cfg(feature = "tch")]
            crate::pretrain::Backend::Tch => {
                type $B = dnabert2_train::backends::TchAutodiff;
                let $devs: Vec<_> = $n
                    .iter()
                    .map(|&i| dnabert2_train::backends::tch_device(i))
                    .collect();
                $body
            }
        }
    };
    ($backend:expr, |$B:ident, $dev:ident| $body:expr) => {
        crate::pretrain::with_backend!($backend, devices[0usize], |$B, devs| {
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
    cfg.dropout = a.dropout;
    let mut cluster = dnabert2_train::distributed::Cluster::resolve(
        a.world_size,
        a.rank,
        a.coordinator.clone(),
        |k| std::env::var(k).ok(),
    )?;
    cluster.data_port = a.data_port;
    cluster.timeout = std::time::Duration::from_secs(a.dist_timeout);
    cluster.validate()?;
    if cluster.world_size > 1 {
        println!(
            "rank {} of {} (coordinator {}), {} local worker(s)",
            cluster.rank,
            cluster.world_size,
            cluster.coordinator.as_deref().unwrap_or("?"),
            a.devices.0.len()
        );
    }

    let ids = &a.devices.0;
    let summary = with_backend!(a.backend, devices ids, |B, devs| {
        dnabert2_train::pretrain_distributed::<B>(&cfg, &devs, &cluster)?
    });
    if !cluster.is_coordinator() {
        println!("rank {} done ({} steps)", cluster.rank, summary.steps);
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::DeviceList;

    #[test]
    fn device_lists() {
        let p = |s: &str| s.parse::<DeviceList>().map(|d| d.0);
        assert_eq!(p("1").unwrap(), [0]);
        assert_eq!(p("3").unwrap(), [0, 1, 2]);
        assert_eq!(p("0,2").unwrap(), [0, 2]);
        assert_eq!(p("cuda:1, cuda:3").unwrap(), [1, 3]);
        assert_eq!(p("cpu:0,cpu:1").unwrap(), [0, 1]);
        assert!(p("0").unwrap_err().contains("at least one"));
        assert!(p("1,1").unwrap_err().contains("twice"));
        assert!(p("gpu").unwrap_err().contains("not N, INDEX or KIND:INDEX"));
    }
}
