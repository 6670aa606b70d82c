//! Loads a model directory and reports the wall time and the process's peak RSS, so the
//! loader's memory cost can be measured against the checkpoint's size:
//!
//! ```text
//! cargo run --release -p dnabert2-model --example load_checkpoint -- --write-random base /tmp/ck
//! cargo run --release -p dnabert2-model --example load_checkpoint -- /tmp/ck
//! ```
//!
//! Prints one JSON line: file bytes, seconds, peak RSS bytes (VmHWM) and their ratio.

use std::path::PathBuf;
use std::time::Instant;

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::{BertConfig, BertForMaskedLM, checkpoint};

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = Default::default();
    if args.first().map(String::as_str) == Some("--write-random") {
        let (preset, dir) = match (args.get(1), args.get(2)) {
            (Some(p), Some(d)) => (p, PathBuf::from(d)),
            _ => return Err("usage: --write-random PRESET DIR".into()),
        };
        let cfg = BertConfig::preset(preset)?;
        let model = BertForMaskedLM::<B>::init(&cfg, &device);
        checkpoint::save_mlm(&model, &cfg, &dir)?;
        println!("wrote {}", dir.display());
        return Ok(());
    }
    let dir = PathBuf::from(args.first().ok_or("usage: load_checkpoint DIR")?);
    let file = checkpoint::find_weights(&dir)?;
    let bytes = std::fs::metadata(&file)?.len();
    let before = peak_rss_bytes();
    let t0 = Instant::now();
    let (model, _) = checkpoint::load_mlm::<B>(&dir, &device)?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = peak_rss_bytes();
    drop(model);
    println!(
        "{{\"file\":\"{}\",\"file_bytes\":{bytes},\"seconds\":{secs:.3},\"rss_before\":{before},\"peak_rss\":{peak},\"peak_over_file\":{:.3}}}",
        file.display(),
        peak as f64 / bytes as f64
    );
    Ok(())
}
