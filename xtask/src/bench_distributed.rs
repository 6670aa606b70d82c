//! `cargo xtask bench distributed`: training throughput of one worker beside two workers
//! (two processes on 127.0.0.1, and two threads of one process), alternating run by run in
//! one invocation, with the run-to-run range and the all-reduce time per step.
//!
//! Every run is this binary's `pretrain` as a child process on the committed phage genomes,
//! the same preset, steps, global batch and seed, dropout 0 (so the three layouts must also
//! log the same losses; the table says how far apart they are). Tokens/s are the runs' own
//! training throughput (`summary.json`: evaluation and saving excluded). Threads: one worker
//! gets all `--threads` (and, as the thread-scaling check, one thread); two processes get
//! `--threads / 2` each; two threads of one process share the process's `--threads`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::bench::{cpu_flags, cpu_model, fmt_range, stats, today, workspace_root};

/// Flags of `cargo xtask bench distributed`.
#[derive(Debug, clap::Args)]
pub struct DistArgs {
    /// Model preset.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Optimizer steps per run.
    #[arg(long, default_value_t = 8)]
    steps: u64,
    /// Global batch (windows of 128 tokens).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Runs per layout (alternating).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Threads of the machine given to each layout.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where the runs, bench-distributed.json and bench-distributed.md go.
    #[arg(long, default_value = "runs/bench-distributed")]
    out: PathBuf,
}

/// `1 worker, 1 thread` is the thread-scaling check: what one core does alone.
const LAYOUTS: [&str; 4] = ["1 worker", "1 worker, 1 thread", "2 processes", "2 threads"];

/// Runs the benchmark.
pub fn distributed(a: DistArgs) -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root();
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(&a.out)?;
    let corpus = root.join("data/genomes");
    let mut records = Vec::new();
    for rep in 0..a.reps {
        for layout in LAYOUTS {
            let out = a
                .out
                .join(format!("rep{rep}-{}", layout.replace([' ', ','], "-")));
            let _ = std::fs::remove_dir_all(&out);
            let r = run_layout(&a, &exe, &corpus, &out, layout)?;
            eprintln!(
                "rep {rep} {layout}: {:.0} tokens/s, all-reduce {:.3} s/step",
                r["tokens_per_sec"].as_f64().unwrap_or(f64::NAN),
                r["allreduce_secs"].as_f64().unwrap_or(0.0)
            );
            records.push(r);
        }
    }
    let doc = json!({ "date": today(), "cpu": cpu_model(), "flags": cpu_flags(),
                      "preset": a.preset, "steps": a.steps, "batch_size": a.batch_size,
                      "threads": a.threads, "records": records });
    std::fs::write(
        a.out.join("bench-distributed.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    let md = table(&a, &records);
    std::fs::write(a.out.join("bench-distributed.md"), &md)?;
    println!("{md}");
    Ok(())
}

fn run_layout(
    a: &DistArgs,
    exe: &Path,
    corpus: &Path,
    out: &Path,
    layout: &str,
) -> Result<Value, String> {
    let base = |cmd: &mut Command, threads: usize| {
        cmd.arg("pretrain")
            .arg("--corpus")
            .arg(corpus)
            .arg("--out")
            .arg(out)
            .args(["--preset", &a.preset, "--dropout", "0", "--log-every", "1"])
            .args(["--steps", &a.steps.to_string()])
            .args(["--batch-size", &a.batch_size.to_string()])
            .args(["--eval-every", "100000", "--eval-windows", "32", "--quiet"])
            .env("RAYON_NUM_THREADS", threads.max(1).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    };
    let wait = |cmd: &mut Command| -> Result<(), String> {
        let o = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{layout} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    };
    match layout {
        "1 worker" => {
            let mut c = Command::new(exe);
            base(&mut c, a.threads);
            wait(&mut c)?;
        }
        "1 worker, 1 thread" => {
            let mut c = Command::new(exe);
            base(&mut c, 1);
            wait(&mut c)?;
        }
        "2 threads" => {
            let mut c = Command::new(exe);
            base(&mut c, a.threads);
            c.args(["--devices", "cpu:0,cpu:1"]);
            wait(&mut c)?;
        }
        _ => {
            let port =
                dnabert2_train::distributed::free_port_range(2).map_err(|e| e.to_string())?;
            let mut children = Vec::new();
            for rank in 0..2 {
                let mut c = Command::new(exe);
                base(&mut c, a.threads / 2);
                c.args(["--world-size", "2", "--rank", &rank.to_string()])
                    .args(["--coordinator", &format!("127.0.0.1:{port}")]);
                children.push(c.spawn().map_err(|e| format!("{c:?}: {e}"))?);
            }
            for (rank, child) in children.into_iter().enumerate() {
                let o = child.wait_with_output().map_err(|e| e.to_string())?;
                if !o.status.success() {
                    return Err(format!(
                        "rank {rank} failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    ));
                }
            }
        }
    }
    let summary: Value = read_json(&out.join("summary.json"))?;
    let rows: Vec<Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .map_err(|e| format!("{}: {e}", out.display()))?
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r.get("loss").is_some())
        .collect();
    // Steady state: the first step allocates.
    let steady: Vec<&Value> = rows.iter().skip(1).collect();
    let mean = |k: &str| {
        let v: Vec<f64> = steady.iter().filter_map(|r| r[k].as_f64()).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let losses: Vec<f64> = rows.iter().filter_map(|r| r["loss"].as_f64()).collect();
    Ok(
        json!({ "layout": layout, "tokens_per_sec": summary["tokens_per_sec"],
               "allreduce_secs": mean("allreduce_secs"), "losses": losses }),
    )
}

fn read_json(p: &Path) -> Result<Value, String> {
    let s = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&s).map_err(|e| format!("{}: {e}", p.display()))
}

fn table(a: &DistArgs, records: &[Value]) -> String {
    let of = |l: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["layout"] == l)
            .cloned()
            .collect()
    };
    let one = of("1 worker");
    let base = stats(&one, "tokens_per_sec").map(|s| s.0);
    let reference: Vec<f64> = one
        .first()
        .and_then(|r| r["losses"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let mut md = format!(
        "`{}` preset, {} steps of {} x 128 tokens, {} threads per layout, {} ({}), {}\n\n\
         | layout | tokens/s (median, range) | vs 1 worker | all-reduce s/step | max loss diff vs 1 worker |\n|---|---|---|---|---|\n",
        a.preset,
        a.steps,
        a.batch_size,
        a.threads,
        cpu_model(),
        cpu_flags(),
        today()
    );
    for l in LAYOUTS {
        let rs = of(l);
        let tps = stats(&rs, "tokens_per_sec");
        let ratio = match (tps, base) {
            (Some(t), Some(b)) if b > 0.0 => format!("{:.2}x", t.0 / b),
            _ => "-".into(),
        };
        let ar = stats(&rs, "allreduce_secs");
        let diff = rs
            .iter()
            .flat_map(|r| {
                r["losses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .zip(&reference)
                    .filter_map(|(x, y)| Some((x.as_f64()? - *y).abs()))
            })
            .fold(0.0f64, f64::max);
        md.push_str(&format!(
            "| {l} | {} | {ratio} | {} | {diff:.1e} |\n",
            fmt_range(tps, 1.0, 0),
            if ar.is_some() {
                fmt_range(ar, 1.0, 3)
            } else {
                "-".into()
            }
        ));
    }
    md
}
