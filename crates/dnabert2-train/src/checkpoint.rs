//! Atomic training checkpoints with retention (keep the last N and the best).
//!
//! Layout under a root directory (pretraining uses `DIR/checkpoints/`):
//!
//! ```text
//! checkpoints/
//!   index.json            {"latest": "step-00000200", "best": "step-00000100", ...}
//!   step-00000100/        one complete checkpoint
//!     state.json          TrainState: step, tokens, seed, schedule, data position, eval loss
//!     config.json         \ the model in Hugging Face form: usable directly as
//!     model.safetensors   / `--model checkpoints/step-00000100` for fine-tuning
//!     model.mpk           burn record of the model (keeps parameter ids for the optimizer)
//!     optimizer.mpk       burn record of the optimizer state (AdamW moments)
//! ```
//!
//! A checkpoint is written into a temporary sibling directory (`.tmp-...`)
//! and renamed to `step-NNNNNNNN` only when every file is on disk, so a
//! process killed at any point leaves either the complete checkpoint or none
//! (temporary leftovers are ignored and cleaned up by the next save).
//! `index.json` is then replaced atomically and old checkpoints pruned.
//!
//! The payload is written by a caller-supplied closure, so fine-tuning can
//! store a classifier instead of an MLM with the same manager:
//!
//! ```
//! use dnabert2_train::checkpoint::{CheckpointManager, TrainState};
//! use dnabert2_train::schedule::LinearWarmupDecay;
//! let dir = tempfile::tempdir().unwrap();
//! let mgr = CheckpointManager::new(dir.path().join("checkpoints"), 2).unwrap();
//! for (step, eval) in [(10, 5.0), (20, 4.0), (30, 4.5), (40, 4.8)] {
//!     let mut state = TrainState::new(step, 0, LinearWarmupDecay::new(1e-3, 5, 100));
//!     state.eval_loss = Some(eval);
//!     mgr.save(&state, |tmp| {
//!         std::fs::write(tmp.join("weights.bin"), b"...")
//!             .map_err(|e| dnabert2_train::TrainError::Io { path: tmp.into(), source: e })
//!     })
//!     .unwrap();
//! }
//! let kept: Vec<u64> = mgr.list().unwrap().iter().map(|c| c.state.step).collect();
//! assert_eq!(kept, [20, 30, 40]); // last 2, plus the best (step 20, eval 4.0)
//! assert_eq!(mgr.best().unwrap().unwrap().state.step, 20);
//! assert_eq!(mgr.latest().unwrap().unwrap().state.step, 40);
//! ```

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::{Result, TrainError, io_err};
use crate::schedule::LinearWarmupDecay;

/// Name of the per-checkpoint state file.
pub const STATE_FILE: &str = "state.json";
/// Name of the burn record of the model inside a checkpoint (extension added by burn).
pub const MODEL_RECORD: &str = "model";
/// Name of the burn record of the optimizer inside a checkpoint (extension added by burn).
pub const OPTIMIZER_RECORD: &str = "optimizer";

/// Everything besides tensors that a run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens consumed (including `[CLS]`/`[SEP]`, excluding padding).
    pub tokens: u64,
    /// Base seed of the run. All randomness of step `s` is derived from
    /// `(seed, s)` (see [`crate::rng`]), so `(seed, step)` *is* the RNG state.
    pub seed: u64,
    /// The learning-rate schedule (fixed at the start of the run).
    pub schedule: LinearWarmupDecay,
    /// Data position: windows drawn so far (batches are a pure function of
    /// `(seed, step)`, so this is informational; the step is what resumes).
    pub windows_drawn: u64,
    /// Held-out loss at this step, when an evaluation ran at this step.
    pub eval_loss: Option<f64>,
    /// Wall-clock seconds of training so far (for `--minutes` budgets).
    pub elapsed_secs: f64,
    /// Free-form extra state (run config, fine-tuning task info, ...).
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl TrainState {
    /// A state at `step` with `tokens` consumed, seed 0 and no evaluation.
    pub fn new(step: u64, tokens: u64, schedule: LinearWarmupDecay) -> Self {
        Self {
            step,
            tokens,
            seed: 0,
            schedule,
            windows_drawn: 0,
            eval_loss: None,
            elapsed_secs: 0.0,
            extra: serde_json::Value::Null,
        }
    }
}

/// A complete checkpoint found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    /// The checkpoint directory (`root/step-NNNNNNNN`).
    pub dir: PathBuf,
    /// Its `state.json`.
    pub state: TrainState,
}

/// `index.json`: pointers to the newest and the best checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointIndex {
    /// Directory name of the newest checkpoint.
    pub latest: Option<String>,
    /// Directory name of the checkpoint with the lowest eval loss.
    pub best: Option<String>,
    /// Its eval loss.
    pub best_eval_loss: Option<f64>,
}

/// Resolves a user-given model path to a directory holding `config.json`.
///
/// A model directory is returned as is. A pretraining output directory
/// (`OUT`, holding `checkpoints/index.json`) or a checkpoint root (holding
/// `index.json`) resolves to its best checkpoint, or the latest when no
/// evaluation has run yet, so `--model runs/pretrain` works without naming
/// `step-NNNNNNNN`. Anything else is returned unchanged and the loader reports
/// what is missing.
///
/// ```
/// # use dnabert2_train::checkpoint::resolve_model_dir;
/// let dir = tempfile::tempdir().unwrap();
/// let root = dir.path().join("checkpoints");
/// std::fs::create_dir_all(root.join("step-00000010")).unwrap();
/// std::fs::write(root.join("index.json"), r#"{"latest":"step-00000010","best":null}"#).unwrap();
/// assert_eq!(resolve_model_dir(dir.path()), root.join("step-00000010"));
/// ```
pub fn resolve_model_dir(path: &Path) -> PathBuf {
    dnabert2_model::pretrained::run_checkpoint(path).unwrap_or_else(|| path.to_path_buf())
}

/// Saves, lists and prunes checkpoints under one root directory.
#[derive(Debug, Clone)]
pub struct CheckpointManager {
    root: PathBuf,
    keep_last: usize,
}

impl CheckpointManager {
    /// A manager for `root` (created if missing) keeping the `keep_last`
    /// newest checkpoints (at least 1) plus the best one.
    pub fn new(root: impl Into<PathBuf>, keep_last: usize) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Self {
            root,
            keep_last: keep_last.max(1),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory name of the checkpoint at `step`.
    pub fn dir_name(step: u64) -> String {
        format!("step-{step:08}")
    }

    /// Writes a checkpoint atomically: `write_payload` fills a temporary
    /// directory, `state.json` is added, the directory is renamed to
    /// `step-NNNNNNNN` (replacing an older one of the same step), the index is
    /// updated and old checkpoints are pruned. Returns the final directory.
    pub fn save(
        &self,
        state: &TrainState,
        write_payload: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        self.remove_temporaries();
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-ckpt-")
            .tempdir_in(&self.root)
            .map_err(io_err(&self.root))?;
        write_payload(tmp.path())?;
        atomic::write_json(&tmp.path().join(STATE_FILE), state)?;
        sync_dir(tmp.path());
        let final_dir = self.root.join(Self::dir_name(state.step));
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(io_err(&final_dir))?;
        }
        let tmp_path = tmp.keep();
        std::fs::rename(&tmp_path, &final_dir).map_err(io_err(&final_dir))?;
        sync_dir(&self.root);
        self.prune()?;
        Ok(final_dir)
    }

    /// All complete checkpoints, oldest first.
    pub fn list(&self) -> Result<Vec<CheckpointInfo>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.root).map_err(io_err(&self.root))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("step-") {
                continue;
            }
            let state_path = entry.path().join(STATE_FILE);
            if !state_path.is_file() {
                continue;
            }
            let state: TrainState = atomic::read_json(&state_path)?;
            out.push(CheckpointInfo {
                dir: entry.path(),
                state,
            });
        }
        out.sort_by_key(|c| c.state.step);
        Ok(out)
    }

    /// The newest complete checkpoint.
    pub fn latest(&self) -> Result<Option<CheckpointInfo>> {
        Ok(self.list()?.pop())
    }

    /// The complete checkpoint with the lowest eval loss (ties: the newest).
    pub fn best(&self) -> Result<Option<CheckpointInfo>> {
        Ok(best_of(&self.list()?).cloned())
    }

    /// Deletes all but the `keep_last` newest and the best checkpoint, then
    /// rewrites `index.json`.
    fn prune(&self) -> Result<()> {
        let all = self.list()?;
        let best = best_of(&all).map(|c| c.dir.clone());
        let cut = all.len().saturating_sub(self.keep_last);
        for c in &all[..cut] {
            if Some(&c.dir) != best.as_ref() {
                std::fs::remove_dir_all(&c.dir).map_err(io_err(&c.dir))?;
            }
        }
        let name = |c: &CheckpointInfo| c.dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let best_info = best_of(&all);
        let index = CheckpointIndex {
            latest: all.last().and_then(name),
            best: best_info.and_then(name),
            best_eval_loss: best_info.and_then(|c| c.state.eval_loss),
        };
        atomic::write_json(&self.root.join("index.json"), &index)
    }

    fn remove_temporaries(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-ckpt-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn best_of(all: &[CheckpointInfo]) -> Option<&CheckpointInfo> {
    all.iter()
        .filter(|c| c.state.eval_loss.is_some_and(f64::is_finite))
        .min_by(|a, b| {
            let (x, y) = (
                a.state.eval_loss.unwrap_or(f64::INFINITY),
                b.state.eval_loss.unwrap_or(f64::INFINITY),
            );
            x.total_cmp(&y).then(b.state.step.cmp(&a.state.step))
        })
}

/// Flushes a directory entry table (best effort; not supported everywhere).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

/// Saves a module as a full-precision burn record at `dir/name.mpk`
/// (parameter ids included, so an optimizer record still matches it).
///
/// A device failure (recorded before or while the weights are read back) is an error, so a
/// checkpoint never holds buffers a failed GPU kernel left behind.
pub fn save_module<B: Backend, M: Module<B>>(module: &M, dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    let check = || -> Result<()> {
        for device in module.devices() {
            dnabert2_model::error::check_device::<B>(&device, &format!("{name} weights"))?;
        }
        Ok(())
    };
    check()?;
    Rec::default()
        .record(module.clone().into_record(), path.clone())
        .map_err(|e| TrainError::Record {
            path,
            message: e.to_string(),
        })?;
    check()
}

/// Loads `dir/name.mpk` (written by [`save_module`]) into `module`.
pub fn load_module<B: Backend, M: Module<B>>(
    module: M,
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> Result<M> {
    let path = dir.join(name);
    let record = Recorder::<B>::load(&Rec::default(), path.clone(), device).map_err(|e| {
        TrainError::Record {
            path,
            message: e.to_string(),
        }
    })?;
    Ok(module.load_record(record))
}

/// Saves an optimizer's state as a full-precision burn record at `dir/name.mpk`.
pub fn save_optimizer<B, M, O>(optim: &O, dir: &Path, name: &str) -> Result<()>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let path = dir.join(name);
    Recorder::<B>::record(&Rec::default(), optim.to_record(), path.clone()).map_err(|e| {
        TrainError::Record {
            path,
            message: e.to_string(),
        }
    })
}

/// Loads `dir/name.mpk` (written by [`save_optimizer`]) into `optim`.
pub fn load_optimizer<B, M, O>(optim: O, dir: &Path, name: &str, device: &B::Device) -> Result<O>
where
    B: AutodiffBackend,
    M: burn::module::AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let path = dir.join(name);
    let record = Recorder::<B>::load(&Rec::default(), path.clone(), device).map_err(|e| {
        TrainError::Record {
            path,
            message: e.to_string(),
        }
    })?;
    Ok(optim.load_record(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: u64, eval: Option<f64>) -> TrainState {
        let mut s = TrainState::new(step, step * 10, LinearWarmupDecay::new(1.0, 1, 100));
        s.eval_loss = eval;
        s
    }

    fn ok_payload(p: &Path) -> Result<()> {
        std::fs::write(p.join("x"), b"1").map_err(io_err(p))
    }

    #[test]
    fn failed_payload_leaves_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CheckpointManager::new(dir.path(), 3).unwrap();
        mgr.save(&state(1, None), ok_payload).unwrap();
        let err = mgr.save(&state(2, None), |p| {
            std::fs::write(p.join("half"), b"partial").unwrap();
            Err(TrainError::Config("disk full (simulated)".into()))
        });
        assert!(err.is_err());
        let steps: Vec<u64> = mgr.list().unwrap().iter().map(|c| c.state.step).collect();
        assert_eq!(steps, [1]);
        assert!(!dir.path().join("step-00000002").exists());
    }

    #[test]
    fn torn_directory_without_state_is_ignored_and_temporaries_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CheckpointManager::new(dir.path(), 3).unwrap();
        mgr.save(&state(5, None), ok_payload).unwrap();
        // What a kill during a save leaves: a temporary dir, never a step dir
        // without state.json; both must be ignored.
        std::fs::create_dir(dir.path().join(".tmp-ckpt-abc")).unwrap();
        std::fs::create_dir(dir.path().join("step-00000009")).unwrap();
        assert_eq!(mgr.latest().unwrap().unwrap().state.step, 5);
        mgr.save(&state(6, None), ok_payload).unwrap();
        assert!(!dir.path().join(".tmp-ckpt-abc").exists());
    }

    #[test]
    fn keeps_last_n_and_best_and_writes_index() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CheckpointManager::new(dir.path(), 2).unwrap();
        for (s, e) in [
            (1, Some(3.0)),
            (2, Some(1.0)),
            (3, None),
            (4, Some(2.0)),
            (5, None),
        ] {
            mgr.save(&state(s, e), ok_payload).unwrap();
        }
        let steps: Vec<u64> = mgr.list().unwrap().iter().map(|c| c.state.step).collect();
        assert_eq!(steps, [2, 4, 5]);
        let index: CheckpointIndex = atomic::read_json(&dir.path().join("index.json")).unwrap();
        assert_eq!(index.latest.as_deref(), Some("step-00000005"));
        assert_eq!(index.best.as_deref(), Some("step-00000002"));
        assert_eq!(index.best_eval_loss, Some(1.0));
    }
}
