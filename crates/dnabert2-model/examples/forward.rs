//! Runs the encoder and heads of a HF checkpoint on a batch stored in safetensors.
//!
//! ```text
//! cargo run --release -p dnabert2-model --example forward -- \
//!     --model DIR --inputs IN.safetensors --output OUT.safetensors
//! cargo run --release -p dnabert2-model --features wgpu --example forward -- \
//!     --backend wgpu --model DIR --inputs IN.safetensors --output OUT.safetensors
//! ```
//! `--backend cpu` (default), `wgpu` or `cuda` (each built with its cargo feature). On the
//! GPU backends attention runs the fused kernel (`gpu_attention`). A device error
//! (allocation, launch, lost device) ends the run with an error naming it and no output.
//! DIR holds `config.json` and `model.safetensors` or `pytorch_model.bin`. IN holds
//! `input_ids`, `attention_mask` (I64 `[B, S]`) and optionally `token_type_ids`. OUT gets
//! `last_hidden_state`, `mlm_logits` (if the checkpoint has the MLM head), `pooler_output`
//! and `cls_logits` (if it has pooler and classifier) and `mean_pooled`, all F32, with the
//! fixture layouts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use clap::Parser;
use dnabert2_model::checkpoint::{self, TensorMap, Weights};
use dnabert2_model::embed::{Pooling, TokenEmbeddings, pool_rows};
use dnabert2_model::precision::{Precision, cast_module};
use dnabert2_model::{BertConfig, BertInput};

#[derive(Parser)]
#[command(about = "DNABERT-2 forward pass on a safetensors batch")]
struct Args {
    /// Model directory (config.json + model.safetensors or pytorch_model.bin).
    #[arg(long)]
    model: PathBuf,
    /// Input safetensors with input_ids / attention_mask [/ token_type_ids].
    #[arg(long)]
    inputs: PathBuf,
    /// Output safetensors.
    #[arg(long)]
    output: PathBuf,
    /// Compute precision: f32 (default, parity with upstream), f16 or bf16 (the weights are
    /// cast after loading; outputs are written as F32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Backend: cpu, wgpu (needs `--features wgpu`) or cuda (needs `--features cuda`).
    #[arg(long, default_value = "cpu")]
    backend: String,
}

/// Shape and values of an I64 tensor.
type IntTensor = (Vec<usize>, Vec<i64>);

fn read_i64(st: &safetensors::SafeTensors, key: &str) -> Result<Option<IntTensor>, String> {
    let Ok(v) = st.tensor(key) else {
        return Ok(None);
    };
    if v.dtype() != safetensors::Dtype::I64 || v.shape().len() != 2 {
        return Err(format!(
            "{key}: expected I64 [B, S], got {:?} {:?}",
            v.dtype(),
            v.shape()
        ));
    }
    let data = v
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Ok(Some((v.shape().to_vec(), data)))
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Reads a tensor back as f32, or the device error that kept it from being computed.
fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>, what: &str) -> Res<Vec<f32>> {
    let data = t
        .cast(burn::tensor::DType::F32)
        .try_into_data()
        .map_err(|e| format!("device error while computing {what}: {e}"))?;
    Ok(data
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| format!("{what}: {e:?}"))?)
}

fn tensor_entry<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    what: &str,
) -> Res<(Vec<usize>, Vec<f32>)> {
    let shape = t.dims().to_vec();
    Ok((shape, host_f32(t, what)?))
}

fn run_on<B: Backend>(args: &Args, device: B::Device) -> Res<()> {
    let cfg = BertConfig::from_file(args.model.join("config.json"))?;
    let weights = Weights::read(checkpoint::find_weights(&args.model)?)?;

    let bytes = std::fs::read(&args.inputs)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let (shape, ids) = read_i64(&st, "input_ids")?.ok_or("inputs: missing input_ids")?;
    let (mshape, mask) =
        read_i64(&st, "attention_mask")?.ok_or("inputs: missing attention_mask")?;
    if mshape != shape {
        return Err(format!("attention_mask shape {mshape:?} != input_ids shape {shape:?}").into());
    }
    let types = read_i64(&st, "token_type_ids")?.map(|(_, t)| t);
    let input = BertInput::<B>::from_flat(ids, mask, types, [shape[0], shape[1]], &device)?;

    let mut out: TensorMap = BTreeMap::new();
    let has_mlm = weights.contains("cls.predictions.decoder.bias");
    let has_cls =
        weights.contains("classifier.weight") && weights.contains("bert.pooler.dense.weight");
    let hidden = if has_mlm {
        let mlm = checkpoint::mlm_from_weights::<B>(&mut weights.clone(), &cfg, &device)?;
        let mlm = cast_module(mlm, args.precision);
        let o = mlm.forward(input.clone());
        out.insert("mlm_logits".into(), tensor_entry(o.logits, "mlm_logits")?);
        o.hidden
    } else {
        let bert = checkpoint::encoder_from_weights::<B>(&mut weights.clone(), &cfg, &device)?;
        cast_module(bert, args.precision).forward(input.clone())
    };
    if has_cls {
        let n = weights
            .shape("classifier.weight")
            .map(|s| s[0])
            .unwrap_or(2);
        let cfg = cfg.clone().with_num_labels(n);
        let cls = checkpoint::classifier_from_weights::<B>(&mut weights.clone(), &cfg, &device)?;
        let cls = cast_module(cls, args.precision);
        let o = cls.bert.forward_with(input.clone(), Default::default());
        if let Some(p) = o.pooler_output {
            out.insert("pooler_output".into(), tensor_entry(p, "pooler_output")?);
        }
        let logits = cls.forward(input.clone());
        out.insert("cls_logits".into(), tensor_entry(logits, "cls_logits")?);
    }
    out.insert("mean_pooled".into(), mean_pooled(&hidden, &input)?);
    out.insert(
        "last_hidden_state".into(),
        tensor_entry(hidden, "last_hidden_state")?,
    );
    // Every queued kernel has finished without a device error before anything is written.
    dnabert2_model::error::check_device::<B>(&device, "the forward pass")?;
    checkpoint::write_safetensors(&out, &args.output)?;
    Ok(())
}

fn run(args: Args) -> Res<()> {
    match args.backend.as_str() {
        "cpu" => run_on::<dnabert2_model::backend::CpuBackend>(&args, Default::default()),
        #[cfg(feature = "wgpu")]
        "wgpu" => run_on::<burn::backend::Wgpu>(&args, Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => run_on::<burn::backend::Cuda>(&args, Default::default()),
        other => Err(format!(
            "--backend {other}: not available in this build (cpu{}{})",
            if cfg!(feature = "wgpu") { ", wgpu" } else { "" },
            if cfg!(feature = "cuda") { ", cuda" } else { "" },
        )
        .into()),
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Upstream's mean pooling over the attention mask, row by row through the library's
/// pooling ([`pool_rows`]).
fn mean_pooled<B: Backend>(
    hidden: &Tensor<B, 3>,
    input: &BertInput<B>,
) -> Res<(Vec<usize>, Vec<f32>)> {
    let [b, s, d] = hidden.dims();
    let h = host_f32(hidden.clone(), "last_hidden_state")?;
    let m = input
        .attention_mask
        .clone()
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(b * d);
    for r in 0..b {
        let len = m[r * s..(r + 1) * s].iter().filter(|&&v| v != 0).count();
        let rows = TokenEmbeddings {
            ids: vec![0; len],
            offsets: vec![(0, 0); len],
            vectors: h[r * s * d..(r * s + len) * d].to_vec(),
            dim: d,
        };
        out.extend(pool_rows(&rows, Pooling::Mean));
    }
    Ok((vec![b, d], out))
}
