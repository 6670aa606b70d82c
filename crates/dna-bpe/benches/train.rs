//! BPE training speed: dna-bpe vs Hugging Face `BpeTrainer`, vocab 4096,
//! DNABERT-2 recipe, on 10 Mbp and 50 Mbp of real genome cut into lines of
//! 1-10 kbp (the shape of a genome split into reads or windows).
//!
//! Corpus: FASTA files under `$DNA_BPE_BENCH_CORPUS` (default
//! `/work/shared/data/genomes`); skipped with a message when absent.
//! `DNA_BPE_BENCH_SKIP_HF_50=1` skips HF at 50 Mbp (about 4 minutes);
//! `DNA_BPE_BENCH_SIZES=10,50` picks the sizes in Mbp.
//! dna-bpe runs are measured by criterion (10 samples); HF runs once per
//! size (it is slow and deterministic), and the bench prints the ratio and
//! whether both produced the same vocabulary and merges. Peak RSS is
//! per-process: measure it with `/usr/bin/time -v` on the
//! `train_tokenizer` example instead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dna_bpe::fasta::{Reader, acgt_segments, collect_files};
use dna_bpe::trainer::{self, TrainerConfig, WordCounts};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    TokenizerBuilder,
};

/// Lines of 1-10 kbp taken round-robin from every genome until `target` bases.
fn corpus(files: &[PathBuf], target: usize) -> Vec<String> {
    let quota = target.div_ceil(files.len());
    let mut lines = Vec::new();
    let mut total = 0usize;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    for f in files {
        let mut taken = 0usize;
        let Ok(reader) = Reader::from_path(f) else {
            continue;
        };
        'file: for rec in reader {
            let Ok(rec) = rec else { break };
            let seq = rec.seq.to_ascii_uppercase();
            for seg in acgt_segments(&seq, 1, false) {
                let mut i = 0;
                while i < seg.len() {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let want = 1000 + (rng >> 33) as usize % 9001;
                    let n = want
                        .min(seg.len() - i)
                        .min(quota - taken)
                        .min(target - total);
                    lines.push(String::from_utf8_lossy(&seg[i..i + n]).into_owned());
                    i += n;
                    taken += n;
                    total += n;
                    if taken >= quota || total >= target {
                        break 'file;
                    }
                }
            }
        }
    }
    lines
}

type Parts = (Vec<String>, Vec<(String, String)>);

fn ours(lines: &[String]) -> Parts {
    let mut words = WordCounts::new();
    for l in lines {
        words.add_text(l);
    }
    let bpe = trainer::train(&words, &TrainerConfig::default()).expect("train");
    (bpe.vocab, bpe.merges)
}

fn hf(lines: &[String]) -> Parts {
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(4096)
        .show_progress(false)
        .special_tokens(
            trainer::DEFAULT_SPECIAL_TOKENS
                .iter()
                .map(|s| AddedToken::from(s.to_string(), true))
                .collect(),
        )
        .build();
    let mut tok = TokenizerBuilder::<
        BPE,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default())
    .with_pre_tokenizer(Some(Whitespace {}.into()))
    .build()
    .expect("HF tokenizer");
    tok.train(&mut trainer, lines.iter()).expect("HF train");
    let json = serde_json::to_value(tok.get_model()).expect("json");
    let mut vocab: Vec<(String, u64)> = json["vocab"]
        .as_object()
        .expect("vocab")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX)))
        .collect();
    vocab.sort_by_key(|(_, id)| *id);
    let merges = json["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .map(|m| {
            (
                m[0].as_str().unwrap_or_default().to_string(),
                m[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (vocab.into_iter().map(|(s, _)| s).collect(), merges)
}

fn bench_train(c: &mut Criterion) {
    let dir = PathBuf::from(
        std::env::var("DNA_BPE_BENCH_CORPUS")
            .unwrap_or_else(|_| "/work/shared/data/genomes".into()),
    );
    let files = match collect_files(std::slice::from_ref(&dir)) {
        Ok(f) if !f.is_empty() => f,
        _ => {
            eprintln!(
                "skipping train bench: no FASTA under {} (set DNA_BPE_BENCH_CORPUS)",
                dir.display()
            );
            return;
        }
    };
    let sizes: Vec<usize> = std::env::var("DNA_BPE_BENCH_SIZES")
        .unwrap_or_else(|_| "10,50".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let skip_hf_50 = std::env::var_os("DNA_BPE_BENCH_SKIP_HF_50").is_some();
    let mut group = c.benchmark_group("train_vocab4096");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_millis(1));
    for mbp in sizes {
        let lines = corpus(&files, mbp * 1_000_000);
        let bases: usize = lines.iter().map(String::len).sum();
        eprintln!("corpus {mbp} Mbp: {} lines, {bases} bases", lines.len());
        let mut ours_times = Vec::new();
        let mut result = None;
        group.bench_function(format!("dna-bpe/{mbp}Mbp"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let r = ours(&lines);
                    let dt = t.elapsed();
                    ours_times.push(dt.as_secs_f64());
                    total += dt;
                    result = Some(r);
                }
                total
            })
        });
        ours_times.sort_by(f64::total_cmp);
        let median = ours_times
            .get(ours_times.len() / 2)
            .copied()
            .unwrap_or(f64::NAN);
        if mbp >= 50 && skip_hf_50 {
            eprintln!("dna-bpe {mbp} Mbp: median {median:.2} s (HF skipped)");
            continue;
        }
        let t = Instant::now();
        let theirs = hf(&lines);
        let hf_s = t.elapsed().as_secs_f64();
        let same = result.as_ref() == Some(&theirs);
        eprintln!(
            "{mbp} Mbp: dna-bpe median {median:.2} s, HF BpeTrainer {hf_s:.1} s, speed-up {:.1}x, identical vocab+merges: {same}",
            hf_s / median
        );
    }
    group.finish();
}

criterion_group!(benches, bench_train);
criterion_main!(benches);
