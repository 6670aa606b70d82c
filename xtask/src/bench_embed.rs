//! `cargo xtask bench embed`: the `dnabert2` tool on the issue-12 workloads, measured in one
//! invocation beside the upstream recipe (`benches/torch_reference/embed.py`: PyTorch + HF
//! `tokenizers`, one sequence per forward, mean of the hidden states), alternating process
//! by process with the run-to-run range; plus `score-variants` variants/s and the streaming
//! memory check (200,000 vs 2,000 sequences). Both sides run as child processes; wall time
//! and peak RSS are read the same way for both (`wait4`'s resource usage), so the model
//! load is included on both sides.
//!
//! Inputs come from the committed phage lambda genome (`data/genomes/phage_lambda.fa.gz`):
//! 1,000 windows of 500 bp and 100 of 5 kbp. The model is the 117M config with random
//! weights (`base` preset), written once under `--out`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::bench::{
    cpu_flags, cpu_model, fmt_range, stats, target_dir, today, torch_available, workspace_root,
};

/// Flags of `cargo xtask bench embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Workloads: `500bp` (1,000 x 500 bp), `5kbp` (100 x 5 kbp), `variants` (1,000 SNVs,
    /// 1 kbp windows), `streaming` (200,000 vs 2,000 sequences of 100 bp, tiny model).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500bp,5kbp,variants,streaming"
    )]
    cases: Vec<String>,
    /// Processes per implementation and case (alternating).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Threads for both sides (RAYON_NUM_THREADS / torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where inputs, the model, bench-embed.json and bench-embed.md go.
    #[arg(long, default_value = "runs/bench-embed")]
    out: PathBuf,
    /// Python interpreter for the upstream recipe.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the upstream recipe even when torch is installed.
    #[arg(long)]
    no_torch: bool,
}

/// Wall seconds and peak RSS (bytes) of a finished child, from `wait4`.
fn run_measured(mut cmd: Command) -> Result<(f64, u64), String> {
    let t = std::time::Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The child's stderr is a pipe: read it on a thread so a chatty child cannot block.
    let mut stderr = child.stderr;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    });
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed().as_secs_f64();
    let err = reader.join().unwrap_or_default();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed: {}", err.trim()));
    }
    Ok((wall, usage.ru_maxrss as u64 * 1024))
}

/// A `.npy` of f32 values (C order), as written by numpy or by `dnabert2 embed`.
fn read_npy(path: &Path) -> Result<Vec<f32>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(format!("{}: not a .npy file", path.display()));
    }
    let (start, len_bytes) = if b[6] == 1 { (10, 2) } else { (12, 4) };
    let hlen = if len_bytes == 2 {
        u16::from_le_bytes([b[8], b[9]]) as usize
    } else {
        u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize
    };
    Ok(b[start + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The lambda genome, uppercase.
fn lambda(root: &Path) -> Result<Vec<u8>, String> {
    let path = root.join("data/genomes/phage_lambda.fa.gz");
    let mut r = dna_bpe::fasta::Reader::from_path(&path).map_err(|e| e.to_string())?;
    let rec = r
        .next()
        .ok_or_else(|| format!("{}: no record", path.display()))?
        .map_err(|e| e.to_string())?;
    Ok(rec.seq.to_ascii_uppercase())
}

/// `n` windows of `len` bases spread evenly over the genome (wrapping when needed).
fn windows_fasta(path: &Path, g: &[u8], n: usize, len: usize) -> Result<(), String> {
    let mut text = String::new();
    let step = (g.len().saturating_sub(len) / n).max(1);
    let mut start = 0usize;
    for i in 0..n {
        if start + len > g.len() {
            start %= g.len() - len;
        }
        text.push_str(&format!(">w{i}\n"));
        text.push_str(&String::from_utf8_lossy(&g[start..start + len]));
        text.push('\n');
        start += step;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a random-weight model of `preset` (MLM head) into `dir` once.
fn model_dir(dir: &Path, preset: &str) -> Result<PathBuf, String> {
    if dir.join("config.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let cfg = dnabert2_model::BertConfig::preset(preset).map_err(|e| e.to_string())?;
    #[cfg(feature = "flex")]
    {
        type B = dnabert2_train::backends::FlexBackend;
        let m = dnabert2_model::BertForMaskedLM::<B>::init(&cfg, &Default::default());
        dnabert2_model::checkpoint::save_mlm(&m, &cfg, dir).map_err(|e| e.to_string())?;
        Ok(dir.to_path_buf())
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = cfg;
        Err("bench embed writes its model with the CPU backend: build xtask with `flex`".into())
    }
}

fn build_cli(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building dnabert2 (release)");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "dnabert2-cli"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building dnabert2 failed ({status})"));
    }
    Ok(target_dir(root).join("release/dnabert2"))
}

// Long by design: set-up, the alternating runs of every case, and the report, in one pass
// whose order is the measurement protocol.
/// Runs the suite.
pub fn embed(a: EmbedArgs) -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root();
    let out = if a.out.is_absolute() {
        a.out.clone()
    } else {
        root.join(&a.out)
    };
    std::fs::create_dir_all(&out)?;
    let bin = build_cli(&root)?;
    let g = lambda(&root)?;
    let torch = if a.no_torch {
        None
    } else {
        torch_available(&a.python)
    };
    if torch.is_none() {
        eprintln!(
            "bench: torch not importable by {}: upstream recipe skipped",
            a.python
        );
    }
    let script = root.join("benches/torch_reference/embed.py");
    let threads = a.threads.to_string();
    let mut records: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    let mut notes = Vec::new();
    for case in &a.cases {
        match case.as_str() {
            "500bp" | "5kbp" => {
                let (n, len, extra): (usize, usize, &[&str]) = if case == "500bp" {
                    (1000, 500, &[])
                } else {
                    // Like upstream, no 5 kbp sequence is chunked (~1,000 tokens each).
                    (
                        100,
                        5000,
                        &["--max-tokens", "2048", "--batch-tokens", "4096"],
                    )
                };
                let model = model_dir(&out.join("model-117m"), "base")?;
                let input = out.join(format!("{case}.fa"));
                windows_fasta(&input, &g, n, len)?;
                let (ours_npy, ref_npy) = (
                    out.join(format!("{case}.ours.npy")),
                    out.join(format!("{case}.ref.npy")),
                );
                for rep in 0..a.reps {
                    eprintln!("bench: {case} rep {}/{}", rep + 1, a.reps);
                    let mut c = Command::new(&bin);
                    c.args(["embed", "--model"])
                        .arg(&model)
                        .arg("--input")
                        .arg(&input);
                    c.arg("--output").arg(&ours_npy).args(extra);
                    c.env("RAYON_NUM_THREADS", &threads)
                        .env("DNABERT2_NO_PROGRESS", "1");
                    let (wall, rss) = run_measured(c)?;
                    records
                        .entry((case.clone(), "dnabert2 embed".into()))
                        .or_default()
                        .push(json!({
                            "wall_s": wall, "peak_rss_bytes": rss, "seq_per_s": n as f64 / wall,
                            "bp_per_s": (n * len) as f64 / wall,
                        }));
                    if torch.is_some() {
                        let mut c = Command::new(&a.python);
                        c.arg(&script)
                            .arg("--model")
                            .arg(&model)
                            .arg("--input")
                            .arg(&input);
                        c.arg("--threads")
                            .arg(&threads)
                            .arg("--output")
                            .arg(&ref_npy);
                        let (wall, rss) = run_measured(c)?;
                        records
                            .entry((case.clone(), "upstream recipe".into()))
                            .or_default()
                            .push(json!({
                                "wall_s": wall, "peak_rss_bytes": rss, "seq_per_s": n as f64 / wall,
                                "bp_per_s": (n * len) as f64 / wall,
                            }));
                    }
                }
                if torch.is_some() {
                    let (x, y) = (read_npy(&ours_npy)?, read_npy(&ref_npy)?);
                    let d = if x.len() == y.len() {
                        x.iter()
                            .zip(&y)
                            .map(|(p, q)| (p - q).abs())
                            .fold(
                                0.0f32,
                                |m, v| if v.is_nan() { f32::INFINITY } else { m.max(v) },
                            )
                    } else {
                        f32::INFINITY
                    };
                    notes.push(format!(
                        "{case}: outputs agree to {d:.1e} (max abs difference)"
                    ));
                }
            }
            "variants" => {
                let model = model_dir(&out.join("model-117m"), "base")?;
                let fa = out.join("lambda.fa");
                std::fs::write(&fa, format!(">lambda\n{}\n", String::from_utf8_lossy(&g)))?;
                let vcf = out.join("snvs.vcf");
                let mut text = String::from("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n");
                let n = 1000;
                for i in 0..n {
                    let p = 600 + i * (g.len() - 1200) / n;
                    let r = g[p - 1] as char;
                    let alt = if r == 'A' { 'G' } else { 'A' };
                    text.push_str(&format!("lambda\t{p}\t.\t{r}\t{alt}\n"));
                }
                std::fs::write(&vcf, text)?;
                for rep in 0..a.reps.min(2) {
                    eprintln!("bench: variants rep {}", rep + 1);
                    let mut c = Command::new(&bin);
                    c.args(["score-variants", "--model"])
                        .arg(&model)
                        .arg("--reference")
                        .arg(&fa);
                    c.arg("--vcf")
                        .arg(&vcf)
                        .arg("--output")
                        .arg(out.join("scores.tsv"));
                    c.args(["--window", "1024"]);
                    c.env("RAYON_NUM_THREADS", &threads)
                        .env("DNABERT2_NO_PROGRESS", "1");
                    let (wall, rss) = run_measured(c)?;
                    records.entry((case.clone(), "dnabert2 score-variants".into())).or_default().push(json!({
                        "wall_s": wall, "peak_rss_bytes": rss, "variants_per_s": n as f64 / wall,
                    }));
                }
            }
            "streaming" => {
                let model = model_dir(&out.join("model-tiny"), "tiny")?;
                for n in [2_000usize, 200_000] {
                    let input = out.join(format!("stream-{n}.fa"));
                    windows_fasta(&input, &g, n, 100)?;
                    let mut c = Command::new(&bin);
                    c.args(["embed", "--model"])
                        .arg(&model)
                        .arg("--input")
                        .arg(&input);
                    c.arg("--output").arg(out.join(format!("stream-{n}.npy")));
                    c.env("RAYON_NUM_THREADS", &threads)
                        .env("DNABERT2_NO_PROGRESS", "1");
                    eprintln!("bench: streaming {n} sequences");
                    let (wall, rss) = run_measured(c)?;
                    records
                        .entry((case.clone(), format!("{n} x 100 bp")))
                        .or_default()
                        .push(json!({
                            "wall_s": wall, "peak_rss_bytes": rss, "seq_per_s": n as f64 / wall,
                        }));
                }
            }
            other => {
                return Err(
                    format!("unknown case `{other}` (500bp, 5kbp, variants, streaming)").into(),
                );
            }
        }
    }
    let machine = format!("{} ({}), {} threads", cpu_model(), cpu_flags(), a.threads);
    let mut md = format!(
        "# `cargo xtask bench embed` ({}, {machine}; median and range of {} alternating processes)\n\n| case | implementation | wall s | sequences/s (or variants/s) | bp/s | peak RSS MB |\n|---|---|---|---|---|---|\n",
        today(),
        a.reps
    );
    for ((case, imp), recs) in &records {
        let rate = stats(recs, "seq_per_s").or_else(|| stats(recs, "variants_per_s"));
        md.push_str(&format!(
            "| {case} | {imp} | {} | {} | {} | {} |\n",
            fmt_range(stats(recs, "wall_s"), 1.0, 1),
            fmt_range(rate, 1.0, 2),
            fmt_range(stats(recs, "bp_per_s"), 1.0, 0),
            fmt_range(stats(recs, "peak_rss_bytes"), 1e6, 0),
        ));
    }
    for case in ["500bp", "5kbp"] {
        let (o, u) = (
            records.get(&(case.to_string(), "dnabert2 embed".into())),
            records.get(&(case.to_string(), "upstream recipe".into())),
        );
        if let (Some(o), Some(u)) = (o, u) {
            let (so, su) = (stats(o, "seq_per_s"), stats(u, "seq_per_s"));
            let (ro, ru) = (stats(o, "peak_rss_bytes"), stats(u, "peak_rss_bytes"));
            if let (Some(so), Some(su), Some(ro), Some(ru)) = (so, su, ro, ru) {
                md.push_str(&format!(
                    "\n{case}: ours / upstream throughput **{:.2}x** (worst pairing {:.2}x), peak RSS **{:.2}** of upstream's",
                    so.0 / su.0,
                    so.1 / su.2,
                    ro.0 / ru.0
                ));
            }
        }
    }
    let s = |n: usize| {
        records
            .get(&("streaming".to_string(), format!("{n} x 100 bp")))
            .and_then(|r| stats(r, "peak_rss_bytes"))
    };
    if let (Some(small), Some(big)) = (s(2_000), s(200_000)) {
        md.push_str(&format!(
            "\nstreaming: peak RSS at 200,000 sequences is **{:.2}x** that at 2,000 (target <= 1.5x)",
            big.0 / small.0
        ));
    }
    for n in &notes {
        md.push_str(&format!("\n{n}"));
    }
    md.push('\n');
    let all: Vec<Value> = records
        .iter()
        .map(|((c, i), r)| json!({"case": c, "impl": i, "runs": r}))
        .collect();
    let report = json!({"date": today(), "machine": machine, "torch": torch, "records": all, "notes": notes});
    dna_bpe::atomic::write(
        &out.join("bench-embed.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    dna_bpe::atomic::write(&out.join("bench-embed.md"), md.as_bytes())?;
    println!("{md}");
    Ok(())
}
