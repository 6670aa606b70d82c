//! Learning-rate schedule: linear warmup from 0 to a peak, then linear decay to 0.
//!
//! This is the schedule of the DNABERT-2 paper (warmup 30k
//! steps to 5e-4, decay to 0 at 500k) and of Hugging Face's
//! `get_linear_schedule_with_warmup`, which the fine-tuning scripts use. The
//! value is a pure function of the optimizer-step index, so resuming a run only
//! needs the step number (saved in every checkpoint).
//!
//! ```
//! use dnabert2_train::schedule::LinearWarmupDecay;
//! let s = LinearWarmupDecay::new(1e-3, 10, 110);
//! assert_eq!(s.lr(0), 0.0);            // HF: the first step uses lr 0
//! assert!((s.lr(5) - 5e-4).abs() < 1e-12);
//! assert!((s.lr(10) - 1e-3).abs() < 1e-12);
//! assert!((s.lr(60) - 5e-4).abs() < 1e-12);
//! assert_eq!(s.lr(110), 0.0);
//! assert_eq!(s.lr(500), 0.0);
//! ```

use serde::{Deserialize, Serialize};

/// Linear warmup then linear decay, indexed by optimizer step (0-based).
///
/// `lr(step) = peak * step / warmup` for `step < warmup`, then
/// `peak * (total - step) / (total - warmup)`, clamped at 0 from `total` on.
/// Identical to Hugging Face's `get_linear_schedule_with_warmup` evaluated at
/// the scheduler's step counter (which is the number of optimizer steps
/// already taken when the step runs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearWarmupDecay {
    /// Learning rate reached at the end of warmup.
    pub peak_lr: f64,
    /// Number of warmup steps (0 means start at the peak).
    pub warmup_steps: u64,
    /// Step at which the learning rate reaches 0.
    pub total_steps: u64,
}

impl LinearWarmupDecay {
    /// A schedule peaking at `peak_lr` after `warmup_steps`, reaching 0 at
    /// `total_steps`. A warmup longer than the run is clamped to the run.
    pub fn new(peak_lr: f64, warmup_steps: u64, total_steps: u64) -> Self {
        Self {
            peak_lr,
            warmup_steps: warmup_steps.min(total_steps),
            total_steps,
        }
    }

    /// The learning rate used by optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * step as f64 / self.warmup_steps as f64;
        }
        if step >= self.total_steps {
            return 0.0;
        }
        let span = (self.total_steps - self.warmup_steps).max(1) as f64;
        self.peak_lr * (self.total_steps - step) as f64 / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hf_linear_schedule() {
        // Values of transformers.get_linear_schedule_with_warmup(opt, 3, 8)
        // with lr 1.0: lambda(s) = s/3 for s<3, else (8-s)/5.
        let s = LinearWarmupDecay::new(1.0, 3, 8);
        let want = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0];
        for (step, w) in want.iter().enumerate() {
            assert!((s.lr(step as u64) - w).abs() < 1e-12, "step {step}");
        }
    }

    #[test]
    fn zero_warmup_starts_at_peak() {
        let s = LinearWarmupDecay::new(2.0, 0, 4);
        assert_eq!(s.lr(0), 2.0);
        assert_eq!(s.lr(2), 1.0);
        assert_eq!(s.lr(4), 0.0);
    }

    #[test]
    fn warmup_longer_than_run_is_clamped() {
        let s = LinearWarmupDecay::new(1.0, 100, 10);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert_eq!(s.lr(10), 0.0);
    }
}
