//! The `dnabert2` binary end to end on the tiny12 fixture model: embeddings equal the
//! library `Embedder`'s, files read back with independent readers (npyz, safetensors,
//! plain text) in input order, strand averaging is exactly symmetric, and bad input gives a
//! one-line error naming the file and line.

use std::path::{Path, PathBuf};
use std::process::Command;

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::embed::{EmbedOptions, Embedder, Pooling};
use dnabert2_model::pretrained;

use crate::common;
use common::{model, read_npy, run_io};

const SEQS: [&str; 4] = [
    "ACGTAGCATCGGATCTATCTATCGACACTTGGTTATCGATCTACACAGCAATTATCAC",
    "TTGACAGGCTAGCTAGCTTTTAAACG",
    "GGGGCCCCAAAATTTTACGTACGTNNACGT",
    "acgtacgttagcatcgatcgatcga",
];

fn fasta(dir: &Path) -> PathBuf {
    let p = dir.join("seqs.fa");
    let text: String = SEQS
        .iter()
        .enumerate()
        .map(|(i, s)| format!(">r{i} some description\n{s}\n"))
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

fn library(pooling: Pooling, seqs: &[String]) -> Vec<Vec<f32>> {
    let p = pretrained::load::<B>(model().to_str().unwrap(), &Default::default()).unwrap();
    let opts = EmbedOptions {
        pooling,
        ..Default::default()
    };
    let e = Embedder::new(p.encoder(), &p.tokenizer, opts, &Default::default()).unwrap();
    e.embed(seqs).unwrap()
}

#[test]
fn npy_embeddings_equal_the_library_in_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fasta(tmp.path());
    let out = tmp.path().join("emb.npy");
    let (ok, err) = run_io(
        "embed",
        model().to_str().unwrap(),
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--batch-size", "2"],
    );
    assert!(ok, "{err}");
    let (shape, values) = read_npy(&out);
    assert_eq!(shape, vec![4, 96]);
    let want = library(Pooling::Mean, &SEQS.map(String::from));
    // Same function; the CLI batched 2 per forward, the library 16 (other padding, other
    // sgemm blocking), so allow float rounding. NaN fails the comparison.
    for (i, w) in want.iter().enumerate() {
        for (a, b) in values[i * 96..(i + 1) * 96].iter().zip(w) {
            assert!((a - b).abs() <= 1e-5, "row {i}: {a} vs {b}");
        }
    }
    let ids = std::fs::read_to_string(tmp.path().join("emb.npy.ids.txt")).unwrap();
    assert_eq!(ids.lines().collect::<Vec<_>>(), ["r0", "r1", "r2", "r3"]);
}

#[test]
fn strand_average_is_exactly_symmetric_and_formats_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let rc: Vec<String> = SEQS
        .iter()
        .map(|s| {
            s.bytes()
                .rev()
                .map(|b| match b {
                    b'A' => 'T',
                    b'T' => 'A',
                    b'C' => 'G',
                    b'G' => 'C',
                    b'a' => 't',
                    b't' => 'a',
                    b'c' => 'g',
                    b'g' => 'c',
                    o => o as char,
                })
                .collect()
        })
        .collect();
    let csv = |name: &str, seqs: &[String]| {
        let p = tmp.path().join(name);
        let rows: String = seqs
            .iter()
            .enumerate()
            .map(|(i, s)| format!("x{i},{s}\n"))
            .collect();
        std::fs::write(&p, format!("id,sequence\n{rows}")).unwrap();
        p
    };
    let fwd_in = csv("fwd.csv", &SEQS.map(String::from));
    let rc_in = csv("rc.csv", &rc);
    let m = model();
    for (input, out) in [(&fwd_in, "a.safetensors"), (&rc_in, "b.safetensors")] {
        let (ok, err) = run_io(
            "embed",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
            tmp.path().join(out).to_str().unwrap(),
            &["--strand", "average", "--pooling", "cls"],
        );
        assert!(ok, "{err}");
    }
    let read = |name: &str| {
        let bytes = std::fs::read(tmp.path().join(name)).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let ids = meta.metadata().as_ref().unwrap()["ids"].clone();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("embeddings").unwrap();
        assert_eq!(t.shape(), [4, 96]);
        let v: Vec<u32> = t
            .data()
            .chunks(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (ids, v)
    };
    let (ids_a, a) = read("a.safetensors");
    let (_, b) = read("b.safetensors");
    assert_eq!(ids_a, r#"["x0","x1","x2","x3"]"#);
    assert_eq!(a, b, "embedding(x) == embedding(revcomp(x)) bit for bit");

    // TSV: a header and one row per sequence.
    let tsv = tmp.path().join("e.tsv");
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        fwd_in.to_str().unwrap(),
        tsv.to_str().unwrap(),
        &["--strand", "both"],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&tsv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0].split('\t').count(), 1 + 2 * 96);
    assert!(lines[2].starts_with("x1\t"));
}

#[test]
fn bad_inputs_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model();
    let out = tmp.path().join("o.npy");
    let cases = [
        ("no_seq.csv", "id,label\nA,1\n", "no `sequence`"),
        (
            "empty_cell.csv",
            "sequence,label\nACGT,1\n,0\n",
            "empty_cell.csv:3: missing sequence",
        ),
        (
            "two_per_line.txt",
            "ACGT\nACGT TTGA\n",
            "two_per_line.txt:2: one sequence per line",
        ),
        (
            "empty.fa",
            ">a\n\n>b\nACGT\n",
            "empty.fa: record 1 (a) is empty",
        ),
    ];
    for (name, text, want) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (ok, err) = run_io(
            "embed",
            m.to_str().unwrap(),
            p.to_str().unwrap(),
            out.to_str().unwrap(),
            &[],
        );
        assert!(!ok, "{name} should fail");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: ") && last.contains(want),
            "{name}: {err}"
        );
    }
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        tmp.path().join("missing.fa").to_str().unwrap(),
        out.to_str().unwrap(),
        &[],
    );
    assert!(!ok && err.contains("missing.fa"), "{err}");
    let p = tmp.path().join("ok.fa");
    std::fs::write(&p, ">a\nACGT\n").unwrap();
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        p.to_str().unwrap(),
        tmp.path().join("o.xlsx").to_str().unwrap(),
        &[],
    );
    assert!(
        !ok && err.contains(".npy, .safetensors, .parquet or .tsv"),
        "{err}"
    );
}

#[test]
fn info_and_tokenize() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model();
    let out = Command::new(env!("CARGO_BIN_EXE_dnabert2"))
        .args(["info", "--model", m.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("hidden 96, layers 2") && text.contains("3 outputs"),
        "{text}"
    );
    let input = fasta(tmp.path());
    let jsonl = tmp.path().join("t.jsonl");
    let (ok, err) = run_io(
        "tokenize",
        m.to_str().unwrap(),
        input.to_str().unwrap(),
        jsonl.to_str().unwrap(),
        &[],
    );
    assert!(ok, "{err}");
    let tok = dna_bpe::Tokenizer::dnabert2();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    let want = tok.encode(SEQS[1]).unwrap();
    assert_eq!(rows[1]["id"], "r1");
    assert_eq!(rows[1]["ids"], serde_json::json!(want.ids()));
}

#[test]
fn shards_concatenate_to_the_whole_and_per_nucleotide_blocks_have_one_row_per_base() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fasta(tmp.path());
    let m = model();
    let whole = tmp.path().join("all.npy");
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        input.to_str().unwrap(),
        whole.to_str().unwrap(),
        &[],
    );
    assert!(ok, "{err}");
    let (_, all) = read_npy(&whole);
    let mut joined = Vec::new();
    let mut ids = Vec::new();
    for k in 1..=3 {
        let out = tmp.path().join(format!("part{k}.npy"));
        // Shard 2 through the SLURM variables (0-based task id), the others with --shard.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnabert2"));
        cmd.args([
            "embed",
            "--model",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        if k == 2 {
            cmd.env("SLURM_ARRAY_TASK_ID", "1")
                .env("SLURM_ARRAY_TASK_COUNT", "3");
        } else {
            cmd.args(["--shard", &format!("{k}/3")]);
        }
        let o = cmd.env("DNABERT2_NO_PROGRESS", "1").output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        joined.extend(read_npy(&out).1);
        ids.extend(
            std::fs::read_to_string(tmp.path().join(format!("part{k}.npy.ids.txt")))
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(ids, ["r0", "r1", "r2", "r3"]);
    assert_eq!(joined.len(), all.len());
    for (a, b) in joined.iter().zip(&all) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        input.to_str().unwrap(),
        whole.to_str().unwrap(),
        &["--shard", "4/3"],
    );
    assert!(!ok && err.contains("1 <= K <= N"), "{err}");

    let st = tmp.path().join("pn.safetensors");
    let (ok, err) = run_io(
        "embed",
        m.to_str().unwrap(),
        input.to_str().unwrap(),
        st.to_str().unwrap(),
        &["--per-nucleotide"],
    );
    assert!(ok, "{err}");
    let bytes = std::fs::read(&st).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (i, s) in SEQS.iter().enumerate() {
        assert_eq!(t.tensor(&format!("r{i}")).unwrap().shape(), [s.len(), 96]);
    }
}

#[test]
fn parquet_has_the_columns_and_the_same_vectors() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let input = fasta(tmp.path());
    let m = model();
    let (npy, pq) = (tmp.path().join("e.npy"), tmp.path().join("e.parquet"));
    for out in [&npy, &pq] {
        let (ok, err) = run_io(
            "embed",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            &["--pooling", "cls"],
        );
        assert!(ok, "{err}");
    }
    let (_, want) = read_npy(&npy);
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(
        df.get_column_names_str(),
        ["id", "length_bp", "n_tokens", "embedding"]
    );
    assert_eq!(df.height(), 4);
    let ids: Vec<&str> = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3"]);
    let len: Vec<u32> = df
        .column("length_bp")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(len, SEQS.map(|s| s.len() as u32));
    let emb = df.column("embedding").unwrap();
    assert_eq!(
        emb.dtype(),
        &DataType::Array(Box::new(DataType::Float32), 96)
    );
    let flat = emb.as_materialized_series().explode().unwrap();
    let got: Vec<f32> = flat.f32().unwrap().into_no_null_iter().collect();
    assert_eq!(got, want);
}
