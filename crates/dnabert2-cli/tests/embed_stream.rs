//! `dnabert2 embed` beyond one pooled vector per record: streaming groups keep input order,
//! genome windows, per-nucleotide parquet/TSV rows, strand-symmetric per-base vectors,
//! `--layer`, `--precision`, FASTQ and zstd input, and their errors.

use std::io::Write;
use std::path::Path;

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::embed::{EmbedOptions, Embedder, Pooling};
use dnabert2_model::pretrained;
use polars::prelude::*;

use crate::common;
use common::{lines, max_diff, model, read_npy, run_io, run_ok};

/// 40 pseudo-random sequences of 20..140 bases (lengths deliberately unsorted).
fn seqs() -> Vec<String> {
    let mut x = 12345u64;
    (0..40)
        .map(|i| {
            let len = 20 + (i * 37) % 120;
            (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"ACGT"[(x >> 62) as usize] as char
                })
                .collect()
        })
        .collect()
}

fn write_fasta(path: &Path, seqs: &[String]) {
    let text: String = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| format!(">s{i}\n{s}\n"))
        .collect();
    std::fs::write(path, text).unwrap();
}

fn embed(input: &Path, out: &Path, extra: &[&str]) {
    run_ok("embed", &model(), input, out, extra);
}

fn parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn f32_list(df: &DataFrame, col: &str) -> Vec<f32> {
    let s = df
        .column(col)
        .unwrap()
        .as_materialized_series()
        .explode()
        .unwrap();
    s.f32().unwrap().into_no_null_iter().collect()
}

fn library(seqs: &[String]) -> Vec<f32> {
    let p = pretrained::load::<B>(model().to_str().unwrap(), &Default::default()).unwrap();
    let opts = EmbedOptions {
        pooling: Pooling::Mean,
        ..Default::default()
    };
    let e = Embedder::new(p.encoder(), &p.tokenizer, opts, &Default::default()).unwrap();
    e.embed(seqs).unwrap().concat()
}

#[test]
fn small_sort_windows_stream_in_input_order_and_match_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let s = seqs();
    let fa = tmp.path().join("in.fa");
    write_fasta(&fa, &s);
    let (a, b) = (tmp.path().join("a.npy"), tmp.path().join("b.npy"));
    embed(&fa, &a, &["--sort-window", "3", "--batch-tokens", "200"]);
    embed(&fa, &b, &[]);
    let ((sa, va), (sb, vb)) = (read_npy(&a), read_npy(&b));
    assert_eq!(sa, [40, 96]);
    assert_eq!(sa, sb);
    let want: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    assert_eq!(lines(&tmp.path().join("a.npy.ids.txt")), want);
    assert!(max_diff(&va, &vb) < 1e-5);
    assert!(
        max_diff(&va, &library(&s)) < 1e-5,
        "CLI vs library Embedder"
    );
    // FASTQ and zstd-compressed input give the same vectors.
    let fq = tmp.path().join("in.fastq");
    let text: String = s
        .iter()
        .enumerate()
        .map(|(i, q)| format!("@s{i} extra\n{q}\n+\n{}\n", "I".repeat(q.len())))
        .collect();
    std::fs::write(&fq, &text).unwrap();
    let zst = tmp.path().join("in.fq.zst");
    std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    for input in [&fq, &zst] {
        let o = tmp.path().join("q.npy");
        embed(input, &o, &[]);
        assert!(max_diff(&read_npy(&o).1, &vb) < 1e-5, "{}", input.display());
        assert_eq!(lines(&tmp.path().join("q.npy.ids.txt")), want);
    }
}

#[test]
fn genome_windows_cover_the_contigs_and_skip_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let s = seqs();
    let chr1 = format!("{}{}", s[5], s[6]); // 85 + 122 bases
    let chr2 = format!("{}{}", "N".repeat(60), &s[3][..50]);
    let fa = tmp.path().join("g.fa");
    std::fs::write(&fa, format!(">chr1 x\n{chr1}\n>chr2\n{chr2}\n")).unwrap();
    let out = tmp.path().join("w.parquet");
    embed(&fa, &out, &["--windows", "100", "--stride", "60"]);
    let df = parquet(&out);
    assert_eq!(
        df.get_column_names_str(),
        [
            "id",
            "length_bp",
            "n_tokens",
            "chrom",
            "start",
            "end",
            "embedding"
        ]
    );
    // Expected tiling: starts 0, 60, ... while the window fits, then one ending at the end.
    let mut want = Vec::new();
    for (name, seq) in [("chr1", &chr1), ("chr2", &chr2)] {
        let mut starts: Vec<usize> = (0..)
            .map(|k| k * 60)
            .take_while(|s| s + 100 <= seq.len())
            .collect();
        if starts.last().is_some_and(|&l| l + 100 < seq.len()) {
            starts.push(seq.len() - 100);
        }
        for st in starts {
            let w = &seq[st..st + 100];
            if !w.bytes().all(|b| b == b'N') {
                want.push((format!("{name}:{st}-{}", st + 100), w.to_string()));
            }
        }
    }
    assert!(want.iter().any(|(id, _)| id.starts_with("chr2")));
    let ids: Vec<&str> = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(
        ids,
        want.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>()
    );
    let starts: Vec<u64> = df
        .column("start")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(starts[0], 0);
    let texts: Vec<String> = want.iter().map(|(_, w)| w.clone()).collect();
    assert!(max_diff(&f32_list(&df, "embedding"), &library(&texts)) < 1e-5);
    // An all-N window in the middle of chr3 is skipped and counted.
    let fa3 = tmp.path().join("gap.fa");
    std::fs::write(
        &fa3,
        format!(">chr3\n{}{}{}\n", &s[8][..50], "N".repeat(50), &s[9][..50]),
    )
    .unwrap();
    let m = model();
    let o3 = tmp.path().join("gap.tsv");
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        fa3.to_str().unwrap(),
        o3.to_str().unwrap(),
        &["--windows", "50"],
    );
    assert!(ok && err.contains("1 all-N windows skipped"), "{err}");
    let rows = lines(&o3);
    assert!(rows[0].starts_with("id\tchrom\tstart\tend\tdim0"));
    assert_eq!(rows.len(), 3);
    assert!(rows[2].starts_with("chr3:100-150\tchr3\t100\t150\t"));
}

#[test]
fn per_nucleotide_rows_and_strand_symmetry() {
    let tmp = tempfile::tempdir().unwrap();
    let s: Vec<String> = seqs().into_iter().take(3).collect();
    let rc: Vec<String> = s
        .iter()
        .map(|x| dna_bpe::seq::reverse_complement(x))
        .collect();
    let (fa, fa_rc) = (tmp.path().join("f.fa"), tmp.path().join("r.fa"));
    write_fasta(&fa, &s);
    write_fasta(&fa_rc, &rc);
    let (st, pq) = (
        tmp.path().join("pn.safetensors"),
        tmp.path().join("pn.parquet"),
    );
    embed(&fa, &st, &["--per-nucleotide"]);
    embed(&fa, &pq, &["--per-nucleotide"]);
    let bytes = std::fs::read(&st).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let df = parquet(&pq);
    assert_eq!(df.get_column_names_str(), ["id", "position", "embedding"]);
    assert_eq!(df.height(), s.iter().map(String::len).sum::<usize>());
    let pos: Vec<u32> = df
        .column("position")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(&pos[..3], [1, 2, 3]);
    let blocks: Vec<f32> = (0..3)
        .flat_map(|i| {
            let v = t.tensor(&format!("s{i}")).unwrap();
            v.data()
                .chunks(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        f32_list(&df, "embedding"),
        blocks,
        "parquet rows = safetensors blocks"
    );
    // --strand average per base: base j of x equals base L-1-j of revcomp(x), bit for bit.
    let (fa_avg, rc_avg) = (tmp.path().join("a.parquet"), tmp.path().join("b.parquet"));
    embed(&fa, &fa_avg, &["--per-nucleotide", "--strand", "average"]);
    embed(
        &fa_rc,
        &rc_avg,
        &["--per-nucleotide", "--strand", "average"],
    );
    let (x, y) = (
        f32_list(&parquet(&fa_avg), "embedding"),
        f32_list(&parquet(&rc_avg), "embedding"),
    );
    let mut off = 0;
    for q in &s {
        let (a, b) = (
            &x[off * 96..(off + q.len()) * 96],
            &y[off * 96..(off + q.len()) * 96],
        );
        let flipped: Vec<f32> = b.chunks(96).rev().flatten().copied().collect();
        assert_eq!(a, flipped.as_slice());
        off += q.len();
    }
    // Duplicate ids cannot key a safetensors file; .npy cannot hold ragged blocks.
    let dup = tmp.path().join("dup.fa");
    std::fs::write(&dup, ">a\nACGT\n>a\nGGCC\n").unwrap();
    let m = model();
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        dup.to_str().unwrap(),
        st.to_str().unwrap(),
        &["--per-nucleotide"],
    );
    assert!(!ok && err.contains("id `a` appears twice"), "{err}");
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        fa.to_str().unwrap(),
        tmp.path().join("x.npy").to_str().unwrap(),
        &["--per-nucleotide"],
    );
    assert!(!ok && err.contains("write .safetensors"), "{err}");
}

#[test]
fn layers_precision_and_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let s: Vec<String> = seqs().into_iter().take(4).collect();
    let fa = tmp.path().join("f.fa");
    write_fasta(&fa, &s);
    let (last, all, zero, bf) = (
        tmp.path().join("last.npy"),
        tmp.path().join("all.npy"),
        tmp.path().join("zero.npy"),
        tmp.path().join("bf.npy"),
    );
    embed(&fa, &last, &[]);
    embed(&fa, &all, &["--layer", "all"]);
    embed(&fa, &zero, &["--layer", "0"]);
    embed(&fa, &bf, &["--precision", "bf16"]);
    let (shape, va) = read_npy(&all);
    let n_states = shape[1] as usize / 96;
    assert!(n_states >= 2 && shape[1] as usize == n_states * 96);
    let (vl, vz) = (read_npy(&last).1, read_npy(&zero).1);
    for r in 0..4 {
        let row = &va[r * n_states * 96..(r + 1) * n_states * 96];
        assert_eq!(&row[..96], &vz[r * 96..(r + 1) * 96], "block 0 = --layer 0");
        assert_eq!(
            &row[(n_states - 1) * 96..],
            &vl[r * 96..(r + 1) * 96],
            "last block = -1"
        );
    }
    let d = max_diff(&read_npy(&bf).1, &vl);
    assert!(d > 0.0 && d < 0.1, "bf16 vs f32 differ by {d}");

    let m = model();
    let bad_fq = tmp.path().join("bad.fq");
    let mut f = std::fs::File::create(&bad_fq).unwrap();
    writeln!(f, "@a\nACGT\n+\nIIII\n@b\nACGT\n+\nII").unwrap();
    let cases: [(&Path, &[&str], &str); 4] = [
        (
            &bad_fq,
            &[],
            "bad.fq:8: record b: 2 quality values for 4 bases",
        ),
        (&fa, &["--layer", "99"], "hidden states 0..="),
        (
            &fa,
            &["--windows", "0"],
            "--windows and --stride must be >= 1",
        ),
        (&fa, &["--precision", "f8"], "unknown precision"),
    ];
    for (input, extra, want) in cases {
        let out = tmp.path().join("o.npy");
        let (ok, err) = run_io(
            "embed",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            extra,
        );
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    }
    // A failed run leaves no output and no temporary file behind.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with('.') || n == "o.npy"),
        "{names:?}"
    );
}
