//! Full or LoRA fine-tuning from one call: [`finetune_source`] is what `cargo xtask
//! finetune` and the GUE runner ([`crate::gue::GueTuner`]) both use.

use burn::tensor::backend::AutodiffBackend;
use dnabert2_lora::{LoraConfig, apply_lora, save_adapter};

use super::data::TaskSplits;
use super::options::{FinetuneOptions, ModelSource, Start};
use super::train::{FinetuneSummary, build_classifier, finetune, finetune_with, tokenizer_of};
use crate::error::{Result, io_err};

/// Sub-directory of the output directory holding the PEFT adapter of a LoRA run.
pub const ADAPTER_DIR: &str = "adapter";

/// Fine-tunes the model of `source` in full (`lora: None`) or with LoRA adapters (base
/// frozen; adapters, pooler and classifier train).
///
/// Either way the best checkpoint lands in `opts.out_dir` as a plain model (LoRA merged
/// as `W + alpha/r A B`), so prediction needs no LoRA. A LoRA run also writes the best
/// adapter in the Hugging Face PEFT layout to `out_dir/adapter/`
/// (`adapter_config.json` + `adapter_model.safetensors`), with `base_model_name_or_path`
/// set to the `--model` directory (none for a random preset).
pub fn finetune_source<B: AutodiffBackend>(
    source: &ModelSource,
    splits: &TaskSplits,
    opts: &FinetuneOptions,
    devices: &[B::Device],
    lora: Option<&LoraConfig>,
) -> Result<FinetuneSummary> {
    let opts = &opts.resolved(Start::of(source, lora.is_some()));
    let Some(cfg) = lora else {
        return Ok(finetune_with::<B, _, _>(source, splits, opts, devices, |m| m)?.0);
    };
    let device = devices
        .first()
        .ok_or_else(|| crate::TrainError::Config("no device given".into()))?;
    let (model, bert) = build_classifier::<B>(source, splits, opts, device)?;
    let model = apply_lora(model, cfg)?;
    let (summary, best) = finetune(model, &bert, &tokenizer_of(source)?, splits, opts, devices)?;
    let dir = opts.out_dir.join(ADAPTER_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let base = match source {
        ModelSource::Checkpoint(d) => Some(d.display().to_string()),
        ModelSource::Preset(_) => None,
    };
    save_adapter(&best, cfg, base.as_deref(), &dir)?;
    Ok(summary)
}
