//! `cargo xtask bench cpu`: our CPU cases beside the in-repo PyTorch reference, measured in
//! the same invocation, alternating process by process (each process runs one case, so its
//! peak RSS is the case's own), with the run-to-run range. Never compares against a number
//! from a file.
//!
//! Our side is `dnabert2-model`'s `bench_case` example (built here in release); the reference
//! is `benches/torch_reference/bench.py`, run when `python3 -c "import torch"` works. An
//! optional `--baseline BIN` (a `bench_case` built from another commit) adds a before/after
//! column, and `--example` times `cargo run --release --example finetune_gue` end to end
//! (with `--baseline-example BIN` for its before).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gue_bench::atomic::write_atomic;
use serde_json::{Value, json};

/// `cargo xtask bench <suite>`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Debug, clap::Subcommand)]
enum Suite {
    /// CPU: the 117M encoder forward and MLM step, the small fine-tuning step and the sgemm
    /// ceiling, beside PyTorch.
    Cpu(CpuArgs),
    /// The `dnabert2` tool: embed beside the upstream recipe (1,000 x 500 bp, 100 x 5 kbp),
    /// score-variants variants/s, and the streaming memory check.
    Embed(crate::bench_embed::EmbedArgs),
    /// Data-parallel training: one worker beside two processes and two threads (tokens/s,
    /// all-reduce time per step, loss agreement).
    Distributed(crate::bench_distributed::DistArgs),
    /// GPU: builds `bench_case --features cuda` for the device machine's
    /// `benches/gpu/run.sh` (fused kernel vs burn's op vs PyTorch SDPA/flash), or runs it.
    Gpu(crate::bench_gpu::GpuArgs),
}

/// Flags of `cargo xtask bench cpu`.
#[derive(Debug, clap::Args)]
struct CpuArgs {
    /// Comma-separated cases (default: `bench_case --list`: sgemm_2048, forward 8x128 /
    /// 1x1024 / 1x4096, MLM train step 8x128 / 2x1024, finetune_small_32x128).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Processes per implementation and case (alternating); the table shows their median
    /// and range.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Timed iterations inside each process; the process reports their median.
    #[arg(long, default_value_t = 2)]
    iters: usize,
    /// Untimed warm-up iterations inside each process, the same for every implementation
    /// (our training step is at its steady state after two: optimizer moments allocated,
    /// the heap at its high-water mark).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Threads for every implementation (RAYON_NUM_THREADS / torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where bench-cpu.json and bench-cpu.md go.
    #[arg(long, default_value = "runs/bench-cpu")]
    out: PathBuf,
    /// Python interpreter for the PyTorch reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the PyTorch reference even when torch is installed.
    #[arg(long)]
    no_torch: bool,
    /// A `bench_case` binary from another build (e.g. the previous commit), shown as
    /// "before".
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Also time the `finetune_gue` example end to end (one run per rep).
    #[arg(long)]
    example: bool,
    /// A `finetune_gue` binary from another build, timed beside ours with `--example`.
    #[arg(long)]
    baseline_example: Option<PathBuf>,
}

/// Runs the selected suite.
pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    match args.suite {
        Suite::Cpu(a) => cpu(a),
        Suite::Embed(a) => crate::bench_embed::embed(a),
        Suite::Distributed(a) => crate::bench_distributed::distributed(a),
        Suite::Gpu(a) => crate::bench_gpu::gpu(a),
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build --release` of one example; returns the binary's path.
fn build_example(root: &Path, package: &str, example: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building {package} example {example} (release)");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", package, "--example", example])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building example {example} failed ({status})"));
    }
    Ok(target_dir(root).join("release/examples").join(example))
}

/// Builds the command that runs one case (None: this implementation has no such case).
type CaseCommand = Box<dyn Fn(&str) -> Option<Command>>;

/// One implementation the bench runs: a name and how to build its command for a case.
struct Impl {
    name: &'static str,
    command: CaseCommand,
}

fn ours(name: &'static str, bin: PathBuf, threads: usize, iters: usize, warmup: usize) -> Impl {
    Impl {
        name,
        command: Box::new(move |case| {
            let mut c = Command::new(&bin);
            c.args(["--case", case, "--runs", &iters.to_string()])
                .args(["--warmup", &warmup.to_string()])
                .env("RAYON_NUM_THREADS", threads.to_string());
            Some(c)
        }),
    }
}

/// The reference's arguments for one of our case names, or None where it has no such case.
fn torch_args(case: &str) -> Option<Vec<String>> {
    let split = |spec: &str| -> Option<(String, String)> {
        let (b, s) = spec.split_once('x')?;
        Some((b.to_string(), s.to_string()))
    };
    let (kind, b, s) = if let Some(n) = case.strip_prefix("sgemm_") {
        ("sgemm", "1".to_string(), n.to_string())
    } else if let Some(spec) = case.strip_prefix("forward_") {
        if spec.ends_with("_burn_op") {
            return None;
        }
        let (b, s) = split(spec)?;
        ("forward", b, s)
    } else if let Some(spec) = case.strip_prefix("train_step_") {
        let (b, s) = split(spec)?;
        ("train", b, s)
    } else {
        return None;
    };
    Some(
        ["--case", kind, "--batch", &b, "--seq", &s]
            .iter()
            .map(|x| x.to_string())
            .collect(),
    )
}

fn torch(python: String, script: PathBuf, threads: usize, iters: usize, warmup: usize) -> Impl {
    Impl {
        name: "torch",
        command: Box::new(move |case| {
            let extra = torch_args(case)?;
            let mut c = Command::new(&python);
            c.arg(&script)
                .args(extra)
                .args([
                    "--threads",
                    &threads.to_string(),
                    "--runs",
                    &iters.to_string(),
                ])
                .args(["--warmup", &warmup.to_string()])
                .env("OMP_NUM_THREADS", threads.to_string());
            Some(c)
        }),
    }
}

pub(crate) fn torch_available(python: &str) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The reference must reproduce the upstream fixtures (<= 1e-5) before it is timed.
fn check_reference(python: &str, script: &Path, root: &Path) -> Result<(), String> {
    let fixtures = root.join("crates/dnabert2-model/tests/fixtures");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--check-fixtures")
        .arg(&fixtures)
        .args(["--threads", "1"]);
    let v =
        run_case(cmd).map_err(|e| format!("the PyTorch reference fails its fixture check: {e}"))?;
    eprintln!(
        "bench: PyTorch reference matches the upstream fixtures (worst max abs error {:.1e})",
        v["worst"].as_f64().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Runs `cmd`, returns its last stdout line parsed as JSON plus the wall time.
fn run_case(mut cmd: Command) -> Result<Value, String> {
    let t = std::time::Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let mut v: Value = match line {
        Some(l) => serde_json::from_str(l).map_err(|e| format!("bad JSON from {cmd:?}: {e}"))?,
        None => json!({}),
    };
    v["process_wall_s"] = json!(wall);
    Ok(v)
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub(crate) fn cpu_flags() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    ["avx2", "fma", "avx512f"]
        .iter()
        .filter(|f| flags.split_whitespace().any(|x| x == **f))
        .copied()
        .collect::<Vec<_>>()
        .join("+")
}

/// Median and range of a metric over the records of one (case, impl).
pub(crate) fn stats(records: &[Value], key: &str) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = records.iter().filter_map(|r| r[key].as_f64()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some((v[v.len() / 2], v[0], v[v.len() - 1]))
}

fn cpu(a: CpuArgs) -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root();
    let bin = build_example(&root, "dnabert2-model", "bench_case")?;
    let cases: Vec<String> = if a.cases.is_empty() {
        let out = Command::new(&bin).arg("--list").output()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        a.cases.clone()
    };
    let mut impls = vec![ours("ours", bin, a.threads, a.iters, a.warmup)];
    if let Some(b) = &a.baseline {
        impls.push(ours("before", b.clone(), a.threads, a.iters, a.warmup));
    }
    let torch_version = if a.no_torch {
        eprintln!("bench: --no-torch: our figures alone, no ratios");
        None
    } else {
        match torch_available(&a.python) {
            Some(v) => Some(v),
            None => {
                eprintln!(
                    "bench: `{} -c \"import torch\"` failed: PyTorch is not installed, so the \
                     reference does not run; our figures alone, no ratios \
                     (pip install torch to compare)",
                    a.python
                );
                None
            }
        }
    };
    if torch_version.is_some() {
        let script = root.join("benches/torch_reference/bench.py");
        check_reference(&a.python, &script, &root)?;
        impls.push(torch(
            a.python.clone(),
            script,
            a.threads,
            a.iters,
            a.warmup,
        ));
    }
    let mut example_impls: Vec<(&str, PathBuf)> = Vec::new();
    if a.example {
        example_impls.push(("ours", build_example(&root, "dnabert2", "finetune_gue")?));
        if let Some(b) = &a.baseline_example {
            example_impls.push(("before", b.clone()));
        }
    }

    let total = cases.len() * impls.len() * a.reps + example_impls.len() * a.reps;
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut records: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for case in &cases {
        for rep in 0..a.reps {
            for im in &impls {
                bar.set_message(format!("{case} {} rep {}", im.name, rep + 1));
                if let Some(cmd) = (im.command)(case) {
                    let v = run_case(cmd)?;
                    records
                        .entry((case.clone(), im.name.to_string()))
                        .or_default()
                        .push(v);
                }
                bar.inc(1);
            }
        }
    }
    for rep in 0..a.reps {
        for (name, path) in &example_impls {
            bar.set_message(format!("finetune_gue example {name} rep {}", rep + 1));
            // A fresh output dir each time: the example's runner resumes finished runs.
            let out = a.out.join(format!("example-{name}-{rep}"));
            let _ = std::fs::remove_dir_all(&out);
            let mut cmd = Command::new(path);
            cmd.current_dir(&root)
                .env("RAYON_NUM_THREADS", a.threads.to_string())
                .args(["--out", &out.to_string_lossy()]);
            let v = run_case(cmd)?;
            records
                .entry(("finetune_gue_example".into(), name.to_string()))
                .or_default()
                .push(v);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let machine = format!(
        "{} ({}), {} threads, {}",
        cpu_model(),
        cpu_flags(),
        a.threads,
        today()
    );
    let md = render(&cases, &records, &machine, torch_version.as_deref(), &a);
    println!("{md}");
    std::fs::create_dir_all(&a.out)?;
    let raw: Vec<Value> = records
        .iter()
        .map(|((case, im), v)| json!({"case": case, "impl": im, "runs": v}))
        .collect();
    let doc = json!({
        "machine": machine,
        "threads": a.threads,
        "reps": a.reps,
        "iters": a.iters,
        "torch": torch_version,
        "records": raw,
    });
    write_atomic(
        &a.out.join("bench-cpu.json"),
        serde_json::to_string_pretty(&doc)?.as_bytes(),
    )?;
    write_atomic(&a.out.join("bench-cpu.md"), md.as_bytes())?;
    eprintln!("bench: wrote {}/bench-cpu.{{json,md}}", a.out.display());
    Ok(())
}

pub(crate) fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn fmt_range(s: Option<(f64, f64, f64)>, scale: f64, prec: usize) -> String {
    match s {
        Some((m, lo, hi)) => format!(
            "{:.p$} ({:.p$}-{:.p$})",
            m / scale,
            lo / scale,
            hi / scale,
            p = prec
        ),
        None => "-".into(),
    }
}

fn render(
    cases: &[String],
    rec: &BTreeMap<(String, String), Vec<Value>>,
    machine: &str,
    torch: Option<&str>,
    a: &CpuArgs,
) -> String {
    let get = |case: &str, im: &str| rec.get(&(case.to_string(), im.to_string()));
    let median =
        |case: &str, im: &str, key: &str| get(case, im).and_then(|r| stats(r, key)).map(|s| s.0);
    let before = a.baseline.is_some();
    let mut md = format!(
        "# cargo xtask bench cpu\n\n{machine}; {} processes per implementation and case, \
         alternating; each process: {} warm-up + {} timed iterations (its median). \
         Figures: median (min-max over processes). Reference: {}.\n\n",
        a.reps,
        a.warmup,
        a.iters,
        torch.map_or("not run (PyTorch not installed)".to_string(), |v| {
            format!("benches/torch_reference (PyTorch {v}, matmul attention as upstream)")
        })
    );
    md.push_str("| case | ours tokens/s | torch tokens/s | ours / torch | ours peak RSS GiB | torch peak RSS GiB | RSS ours / torch | ours GFLOP/s |");
    if before {
        md.push_str(" before tokens/s | after / before |");
    }
    md.push('\n');
    md.push_str("|---|---|---|---|---|---|---|---|");
    if before {
        md.push_str("---|---|");
    }
    md.push('\n');
    let gib = (1u64 << 30) as f64;
    for case in cases {
        let sgemm = case.starts_with("sgemm_");
        let (key, scale) = if sgemm {
            ("gflops", 1.0)
        } else {
            ("tokens_per_s", 1.0)
        };
        let ours_r = get(case, "ours").and_then(|r| stats(r, key));
        let torch_r = get(case, "torch").and_then(|r| stats(r, if sgemm { "gflops" } else { key }));
        let ratio = match (ours_r, torch_r) {
            (Some(o), Some(t)) if t.0 > 0.0 => format!("**{:.2}x**", o.0 / t.0),
            _ => "-".into(),
        };
        let rss_o = median(case, "ours", "peak_rss_bytes");
        let rss_t = median(case, "torch", "peak_rss_bytes");
        let rss_ratio = match (rss_o, rss_t) {
            (Some(o), Some(t)) if t > 0.0 => format!("{:.2}", o / t),
            _ => "-".into(),
        };
        let label = if sgemm {
            format!("{case} (GFLOP/s)")
        } else {
            case.clone()
        };
        md.push_str(&format!(
            "| {label} | {} | {} | {ratio} | {} | {} | {rss_ratio} | {} |",
            fmt_range(ours_r, scale, 1),
            fmt_range(torch_r, scale, 1),
            rss_o.map_or("-".into(), |v| format!("{:.2}", v / gib)),
            rss_t.map_or("-".into(), |v| format!("{:.2}", v / gib)),
            median(case, "ours", "gflops").map_or("-".into(), |v| format!("{v:.0}")),
        ));
        if before {
            let b = get(case, "before").and_then(|r| stats(r, key));
            let r = match (ours_r, b) {
                (Some(o), Some(b)) if b.0 > 0.0 => format!("{:.2}x", o.0 / b.0),
                _ => "-".into(),
            };
            md.push_str(&format!(" {} | {r} |", fmt_range(b, scale, 1)));
        }
        md.push('\n');
    }
    if let Some(o) = get("finetune_gue_example", "ours").and_then(|r| stats(r, "process_wall_s")) {
        md.push_str(&format!(
            "\n`finetune_gue` example wall time: ours {} s",
            fmt_range(Some(o), 1.0, 1)
        ));
        if let Some(b) =
            get("finetune_gue_example", "before").and_then(|r| stats(r, "process_wall_s"))
        {
            md.push_str(&format!(
                ", before {} s ({:.2}x faster)",
                fmt_range(Some(b), 1.0, 1),
                b.0 / o.0
            ));
        }
        md.push('\n');
    }
    md
}
