//! BERT masked-language-model corruption, as DNABERT-2 was pretrained (15% of tokens, 80/10/10).
//!
//! Each eligible token is selected independently with probability
//! [`MaskingConfig::mask_prob`] (15%). A selected token gets its original id as
//! label and its input is replaced by `[MASK]` (80%), a random non-special
//! token (10%) or left unchanged (10%). Special tokens (`[UNK]`, `[CLS]`,
//! `[SEP]`, `[PAD]`, `[MASK]`: ids below [`MaskingConfig::first_regular_id`])
//! are never selected. Unselected positions get label [`IGNORE_INDEX`] (-100).
//!
//! Differences from Hugging Face's `DataCollatorForLanguageModeling`, both
//! deliberate and documented: the random replacement is drawn from regular
//! tokens only (HF may draw a special token), and a batch in which no token
//! was selected gets exactly one selected token so the loss is always defined.
//!
//! All randomness comes from the caller's RNG, so a batch is a pure function
//! of the RNG seed.
//!
//! ```
//! use dnabert2_train::mlm::{mask_tokens, MaskingConfig, IGNORE_INDEX};
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let ids = vec![1, 5, 6, 7, 8, 9, 10, 2, 3];
//! let m = mask_tokens(&ids, &MaskingConfig::default(), &mut rng);
//! assert_eq!(m.labels[0], IGNORE_INDEX); // [CLS] is never masked
//! assert_eq!(m.labels[8], IGNORE_INDEX); // nor is [PAD]
//! assert!(m.labels.iter().any(|&l| l != IGNORE_INDEX));
//! ```

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Label value of positions that do not contribute to the loss.
pub const IGNORE_INDEX: i64 = -100;

/// Parameters of the MLM corruption.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaskingConfig {
    /// Probability that an eligible token is selected (0.15 upstream).
    pub mask_prob: f64,
    /// Among selected tokens, the fraction replaced by `[MASK]` (0.8).
    pub mask_replace_prob: f64,
    /// Among selected tokens, the fraction replaced by a random token (0.1).
    /// The rest (0.1) keeps its original id.
    pub random_replace_prob: f64,
    /// Id of `[MASK]` (4 in the DNABERT-2 vocabulary).
    pub mask_id: u32,
    /// Lowest id that is not a special token (5: `A`); ids below it are never masked.
    pub first_regular_id: u32,
    /// Vocabulary size; random replacements are drawn from `first_regular_id..vocab_size`.
    pub vocab_size: u32,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            mask_prob: 0.15,
            mask_replace_prob: 0.8,
            random_replace_prob: 0.1,
            mask_id: 4,
            first_regular_id: 5,
            vocab_size: 4096,
        }
    }
}

/// The corrupted inputs and labels of one sequence or one flattened batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    /// Input ids after corruption (same length as the input).
    pub input_ids: Vec<u32>,
    /// Original id at selected positions, [`IGNORE_INDEX`] elsewhere.
    pub labels: Vec<i64>,
}

impl Masked {
    /// Number of positions that contribute to the loss.
    pub fn num_selected(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}

/// Corrupts `ids` (a sequence or a flattened batch) for MLM training.
///
/// If no eligible token gets selected but at least one exists, one eligible
/// token chosen uniformly is selected so that the loss is defined.
pub fn mask_tokens<R: Rng + ?Sized>(ids: &[u32], cfg: &MaskingConfig, rng: &mut R) -> Masked {
    let mut input_ids = ids.to_vec();
    let mut labels = vec![IGNORE_INDEX; ids.len()];
    let mut any = false;
    for (i, &id) in ids.iter().enumerate() {
        if id < cfg.first_regular_id {
            continue;
        }
        if rng.random::<f64>() < cfg.mask_prob {
            corrupt(i, &mut input_ids, &mut labels, cfg, rng);
            any = true;
        }
    }
    if !any {
        let eligible: Vec<usize> = (0..ids.len())
            .filter(|&i| ids[i] >= cfg.first_regular_id)
            .collect();
        if !eligible.is_empty() {
            let i = eligible[rng.random_range(0..eligible.len())];
            corrupt(i, &mut input_ids, &mut labels, cfg, rng);
        }
    }
    Masked { input_ids, labels }
}

fn corrupt<R: Rng + ?Sized>(
    i: usize,
    input_ids: &mut [u32],
    labels: &mut [i64],
    cfg: &MaskingConfig,
    rng: &mut R,
) {
    labels[i] = i64::from(input_ids[i]);
    let r = rng.random::<f64>();
    if r < cfg.mask_replace_prob {
        input_ids[i] = cfg.mask_id;
    } else if r < cfg.mask_replace_prob + cfg.random_replace_prob {
        input_ids[i] = rng.random_range(cfg.first_regular_id..cfg.vocab_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rates_match_bert_recipe() {
        let cfg = MaskingConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // 200k regular tokens, ids spread over the regular range.
        let ids: Vec<u32> = (0..200_000u32).map(|i| 5 + (i * 7919) % 4091).collect();
        let m = mask_tokens(&ids, &cfg, &mut rng);
        let (mut sel, mut masked, mut same, mut random) = (0usize, 0usize, 0usize, 0usize);
        for ((&id, &label), &input) in ids.iter().zip(&m.labels).zip(&m.input_ids) {
            if label == IGNORE_INDEX {
                assert_eq!(input, id, "unselected token changed");
                continue;
            }
            assert_eq!(label, i64::from(id));
            sel += 1;
            if input == cfg.mask_id {
                masked += 1;
            } else if input == id {
                same += 1;
            } else {
                random += 1;
                assert!((5..4096).contains(&input));
            }
        }
        let n = ids.len() as f64;
        // Binomial standard deviations: selection ~0.0008 of n, splits ~0.003.
        assert!((sel as f64 / n - 0.15).abs() < 0.004, "selected {sel}");
        let s = sel as f64;
        assert!((masked as f64 / s - 0.8).abs() < 0.01, "mask {masked}");
        // A random draw can hit the original id (1/4091): counted as "same".
        assert!((same as f64 / s - 0.1).abs() < 0.01, "same {same}");
        assert!((random as f64 / s - 0.1).abs() < 0.01, "random {random}");
    }

    #[test]
    fn specials_and_pads_are_never_masked() {
        let cfg = MaskingConfig {
            mask_prob: 1.0,
            ..MaskingConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let ids = vec![1, 0, 5, 4, 6, 2, 3, 3, 3];
        for _ in 0..100 {
            let m = mask_tokens(&ids, &cfg, &mut rng);
            for i in [0, 1, 3, 5, 6, 7, 8] {
                assert_eq!(m.labels[i], IGNORE_INDEX);
                assert_eq!(m.input_ids[i], ids[i]);
            }
            assert_eq!(m.labels[2], 5);
            assert_eq!(m.labels[4], 6);
        }
    }

    #[test]
    fn at_least_one_token_selected() {
        let cfg = MaskingConfig {
            mask_prob: 0.0,
            ..MaskingConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let m = mask_tokens(&[1, 7, 8, 2, 3], &cfg, &mut rng);
        assert_eq!(m.num_selected(), 1);
        // Nothing eligible: nothing selected, no panic.
        let m = mask_tokens(&[1, 2, 3], &cfg, &mut rng);
        assert_eq!(m.num_selected(), 0);
    }

    #[test]
    fn same_seed_same_masks() {
        let cfg = MaskingConfig::default();
        let ids: Vec<u32> = (5..300).collect();
        let a = mask_tokens(&ids, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        let b = mask_tokens(&ids, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(a, b);
    }
}
