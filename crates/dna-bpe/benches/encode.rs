//! Encoding throughput: dna-bpe vs Hugging Face `tokenizers` on 10,000 real 1 kbp sequences.
//!
//! Input: the genome FASTA named by `DNA_BPE_BENCH_FASTA` (plain, .gz or .xz) if set, else the
//! repository's phage lambda + phiX174 genomes. Sequences are uppercased, cut at non-ACGT
//! characters, and 1 kbp windows are taken every `step` bases so that there are 10,000 of them
//! (`DNA_BPE_BENCH_N` changes the count). Every case encodes the whole set once per iteration.
//!
//! After criterion's report, a summary prints Mbp/s per case and the ours/HF ratios.

use criterion::{BenchmarkId, Criterion, Throughput};
use dna_bpe::Tokenizer;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: usize = 1000;

/// A named encoder run over the whole input.
type Case<'a> = (&'a str, Box<dyn Fn() + Sync + 'a>);

/// (case name, total iterations, total time), filled by the benchmarks.
static RESULTS: Mutex<Vec<(String, u64, Duration)>> = Mutex::new(Vec::new());

fn record(name: &str, iters: u64, time: Duration) {
    let mut r = RESULTS.lock().unwrap();
    match r.iter_mut().find(|(n, _, _)| n == name) {
        Some(e) => {
            e.1 += iters;
            e.2 += time;
        }
        None => r.push((name.to_string(), iters, time)),
    }
}

fn read_fasta(path: &PathBuf) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.to_string_lossy();
    let mut reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = Vec::new();
    reader
        .read_to_end(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text
}

/// Real DNA segments (uppercase ACGT only, split at anything else and at record boundaries).
fn segments(fasta: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for line in fasta.split(|&b| b == b'\n') {
        if line.first() == Some(&b'>') {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        for &b in line {
            let b = b.to_ascii_uppercase();
            if matches!(b, b'A' | b'C' | b'G' | b'T') {
                cur.push(b);
            } else if b != b'\r' {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out.push(cur);
    out.retain(|s| s.len() >= WINDOW);
    out
}

fn inputs(n: usize) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/genomes");
    let files = match std::env::var_os("DNA_BPE_BENCH_FASTA") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            root.join("phage_lambda.fa.gz"),
            root.join("phage_phix174.fna"),
        ],
    };
    let segs: Vec<Vec<u8>> = files
        .iter()
        .flat_map(|f| segments(&read_fasta(f)))
        .collect();
    let windows: usize = segs.iter().map(|s| s.len() - WINDOW + 1).sum();
    assert!(windows > 0, "no ACGT run of {WINDOW} bp in the bench FASTA");
    let step = (windows / n).max(1);
    let mut out = Vec::with_capacity(n);
    'outer: loop {
        for s in &segs {
            let mut start = 0;
            while start + WINDOW <= s.len() {
                out.push(String::from_utf8(s[start..start + WINDOW].to_vec()).unwrap());
                if out.len() == n {
                    break 'outer;
                }
                start += step;
            }
        }
    }
    out
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("DNA_BPE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seqs = inputs(n);
    let bytes: u64 = seqs.iter().map(|s| s.len() as u64).sum();
    let ours = Tokenizer::dnabert2();
    let hf_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/dnabert2-117m-tokenizer.json");
    let hf = tokenizers::Tokenizer::from_file(&hf_path).unwrap();
    // Same output, checked once before timing.
    let a = ours.encode_batch(&seqs[..100]).unwrap();
    let b = hf
        .encode_batch_char_offsets(seqs[..100].to_vec(), true)
        .unwrap();
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.ids(), b.get_ids());
        assert_eq!(a.offsets(), b.get_offsets());
    }
    let all = rayon::current_num_threads();
    let mut group = c.benchmark_group(format!("encode {n} x 1 kbp"));
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for threads in [1, all] {
        let p = pool(threads);
        let cases: [Case; 3] = [
            (
                "dna-bpe",
                Box::new(|| drop(ours.encode_batch(&seqs).unwrap())),
            ),
            (
                "hf encode_batch_char_offsets",
                Box::new(|| drop(hf.encode_batch_char_offsets(seqs.clone(), true).unwrap())),
            ),
            (
                "hf encode_batch_fast",
                Box::new(|| drop(hf.encode_batch_fast(seqs.clone(), true).unwrap())),
            ),
        ];
        for (name, f) in &cases {
            let id = format!("{name}/{threads} threads");
            group.bench_function(BenchmarkId::from_parameter(&id), |bch| {
                bch.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        p.install(f);
                    }
                    let t = start.elapsed();
                    record(&id, iters, t);
                    t
                })
            });
        }
    }
    group.finish();
    summary(bytes, all);
}

fn summary(bytes: u64, all: usize) {
    let r = RESULTS.lock().unwrap();
    let mbps = |name: &str| {
        r.iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, iters, t)| bytes as f64 * *iters as f64 / t.as_secs_f64() / 1e6)
    };
    println!(
        "\n== dna-bpe encode summary ({} Mbp per iteration) ==",
        bytes as f64 / 1e6
    );
    for (name, _, _) in r.iter() {
        println!("{name:<45} {:>8.2} Mbp/s", mbps(name).unwrap_or(0.0));
    }
    for threads in [1, all] {
        if let (Some(o), Some(h), Some(f)) = (
            mbps(&format!("dna-bpe/{threads} threads")),
            mbps(&format!("hf encode_batch_char_offsets/{threads} threads")),
            mbps(&format!("hf encode_batch_fast/{threads} threads")),
        ) {
            println!(
                "ratio {threads} thread(s): ours/HF (with offsets) = {:.2}x, ours/HF fast (no offsets) = {:.2}x",
                o / h,
                o / f
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
