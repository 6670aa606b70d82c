//! Corpus preparation on the embedded phage genomes: shards, manifest,
//! held-out split, cache reuse, window sampling, masking of real batches.

use std::path::PathBuf;

use dnabert2_train::batch::MlmBatch;
use dnabert2_train::corpus::{self, CorpusConfig, Split, WindowSampler};
use dnabert2_train::mlm::{IGNORE_INDEX, MaskingConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn genomes() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/genomes");
    vec![
        root.join("phage_lambda.fa.gz"),
        root.join("phage_phix174.fna"),
    ]
}

fn config(cache: &std::path::Path) -> CorpusConfig {
    let mut cfg = CorpusConfig::new(genomes(), cache.to_path_buf());
    cfg.chunk_bp = 4096;
    cfg.eval_fraction = 0.1;
    cfg
}

/// Reads a FASTA file's sequences (upper-cased) with dna_bpe's reader.
fn sequences(path: &std::path::Path) -> Vec<(String, String)> {
    dna_bpe::fasta::Reader::from_path(path)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.id, String::from_utf8(r.seq).unwrap().to_ascii_uppercase())
        })
        .collect()
}

#[test]
fn shards_manifest_and_reuse() {
    let cache = tempfile::tempdir().unwrap();
    let cfg = config(cache.path());
    let c = corpus::prepare(&cfg).unwrap();
    assert!(!c.reused());
    let m = c.manifest().clone();

    // Files and contigs as in the FASTA files.
    assert_eq!(m.files.len(), 2);
    let lambda = sequences(&genomes()[0]);
    let phix = sequences(&genomes()[1]);
    assert_eq!(m.contigs.len(), lambda.len() + phix.len());
    assert_eq!(m.contigs[0].name, lambda[0].0);
    assert_eq!(
        m.contigs[0].bases,
        lambda[0].1.len() as u64,
        "lambda has no N runs"
    );
    assert_eq!(m.vocab_size, 4096);
    assert_eq!(m.tokenizer_sha256.len(), 64);

    // Token accounting is consistent across files, contigs, units and shards.
    let unit_tokens: u64 = m.units.iter().map(|u| u64::from(u.len)).sum();
    let file_tokens: u64 = m.files.iter().map(|f| f.tokens).sum();
    let contig_tokens: u64 = m.contigs.iter().map(|c| c.tokens).sum();
    assert_eq!(unit_tokens, file_tokens);
    assert_eq!(contig_tokens, file_tokens);
    assert_eq!(m.train_tokens + m.eval_tokens, file_tokens);
    for f in &m.files {
        let len = std::fs::metadata(c.dir().join(&f.shard)).unwrap().len();
        assert_eq!(len, f.tokens * 2, "u16 shard size");
    }
    // ~4-5 bp per token (the DNABERT-2 paper's tokenizer statistics).
    let bp_per_token = m.contigs.iter().map(|c| c.bases).sum::<u64>() as f64 / file_tokens as f64;
    assert!((3.5..6.5).contains(&bp_per_token), "{bp_per_token}");

    // Both splits are non-empty; unigram counts cover exactly the training tokens.
    assert!(m.units.iter().any(|u| u.eval) && m.units.iter().any(|u| !u.eval));
    assert_eq!(m.train_unigram_counts.iter().sum::<u64>(), m.train_tokens);
    assert_eq!(
        m.train_unigram_counts[..5].iter().sum::<u64>(),
        0,
        "no specials in shards"
    );

    // The shard holds the tokenization of the sequence: decoding the first
    // lambda chunks gives back the genome's first bases.
    let tok = dna_bpe::Tokenizer::dnabert2();
    let first: Vec<_> = m.units.iter().filter(|u| u.contig == 0).collect();
    let mut decoded = String::new();
    for u in &first {
        decoded.push_str(&tok.decode_dna(&c.tokens(u, 0, u.len as usize), true));
    }
    assert_eq!(decoded, lambda[0].1);
    // And it is exactly the encoder's output on the first chunk.
    let want = tok
        .encode_with(&lambda[0].1[..4096], None, false)
        .unwrap()
        .into_ids();
    assert_eq!(c.tokens(first[0], 0, first[0].len as usize), want);

    // Second run: same directory, reused, same manifest.
    let again = corpus::prepare(&cfg).unwrap();
    assert!(again.reused());
    assert_eq!(again.dir(), c.dir());
    assert_eq!(again.manifest(), &m);

    // A different split parameter is a different cache.
    let mut other = cfg.clone();
    other.eval_fraction = 0.2;
    let c2 = corpus::prepare(&other).unwrap();
    assert!(!c2.reused());
    assert_ne!(c2.dir(), c.dir());
}

#[test]
fn windows_and_masked_batches() {
    let cache = tempfile::tempdir().unwrap();
    let c = corpus::prepare(&config(cache.path())).unwrap();
    let train = WindowSampler::new(&c, Split::Train, 64).unwrap();
    let eval = WindowSampler::new(&c, Split::Eval, 64).unwrap();
    assert!(train.num_windows() > eval.num_windows());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for _ in 0..200 {
        let w = train.sample(&mut rng);
        assert!(w.len() <= 64 && w.len() >= 3);
        assert_eq!((w[0], *w.last().unwrap()), (1, 2));
        assert!(w[1..w.len() - 1].iter().all(|t| (5..4096).contains(t)));
    }
    // Real batches: specials and pads never selected, ~15% of tokens selected.
    let masking = MaskingConfig::default();
    let (mut selected, mut eligible) = (0usize, 0usize);
    for i in 0..20 {
        let b = MlmBatch::sample(&train, 16, &masking, &mut ChaCha8Rng::seed_from_u64(i));
        for r in 0..b.rows {
            let row = r * b.width..(r + 1) * b.width;
            let len = b.attention_mask[row.clone()]
                .iter()
                .filter(|&&m| m == 1)
                .count();
            for (j, k) in row.enumerate() {
                let special = j == 0 || j + 1 == len || j >= len;
                if special {
                    assert_eq!(b.labels[k], IGNORE_INDEX, "special/pad at {j} selected");
                    let want = if j == 0 {
                        1
                    } else if j + 1 == len {
                        2
                    } else {
                        3
                    };
                    assert_eq!(b.input_ids[k], want);
                } else {
                    eligible += 1;
                    selected += usize::from(b.labels[k] != IGNORE_INDEX);
                }
            }
        }
    }
    let rate = selected as f64 / eligible as f64;
    assert!((0.13..0.17).contains(&rate), "{rate}");
}

#[test]
fn malformed_fasta_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.fa");
    std::fs::write(&bad, "ACGT\n>x\nACGT\n").unwrap();
    let cfg = CorpusConfig::new(vec![bad.clone()], dir.path().join("cache"));
    let err = corpus::prepare(&cfg).unwrap_err().to_string();
    assert!(err.contains("bad.fa") && err.contains(":1"), "{err}");
}
