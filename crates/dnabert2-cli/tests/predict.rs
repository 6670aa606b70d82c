//! `dnabert2 predict` with the tiny12 classifier: CSV and parquet carry the library
//! Predictor's probabilities in input order, and `--strand average` is the mean over both
//! strands, identical for a sequence and its reverse complement.

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_train::predict::Predictor;
use polars::prelude::*;

use crate::common;
use common::{model, run_ok};

const SEQS: [&str; 5] = [
    "ACGTAGCATCGGATCTATCTATCGACACTTGG",
    "TTGACAGGCTAGCTAGCTTTTAAACGGGCAT",
    "GGGGCCCCAAAATTTTACGTACGTNNACGT",
    "acgtacgttagcatcgatcgatcgaTTAGC",
    "CATCATCATGATGATGATCCCGGGAAATTT",
];

fn fasta(path: &std::path::Path, seqs: &[String]) {
    let text: String = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| format!(">p{i}\n{s}\n"))
        .collect();
    std::fs::write(path, text).unwrap();
}

fn predict(input: &std::path::Path, out: &std::path::Path, extra: &[&str]) {
    let mut args = vec!["--batch-size", "2"];
    args.extend_from_slice(extra);
    run_ok("predict", &model(), input, out, &args);
}

fn csv_probs(path: &std::path::Path) -> Vec<Vec<f32>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect()
}

#[test]
fn csv_and_parquet_carry_the_predictor_probabilities() {
    let tmp = tempfile::tempdir().unwrap();
    let seqs: Vec<String> = SEQS.iter().map(|s| s.to_string()).collect();
    let fa = tmp.path().join("in.fa");
    fasta(&fa, &seqs);
    let (csv, pq) = (tmp.path().join("p.csv"), tmp.path().join("p.parquet"));
    predict(&fa, &csv, &[]);
    predict(&fa, &pq, &[]);
    let p = Predictor::<B>::load(&model(), None, &Default::default()).unwrap();
    let want = p.scores(&seqs, None).unwrap();
    let got = csv_probs(&csv);
    for (g, w) in got.iter().zip(&want) {
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(
        df.get_column_names_str(),
        ["id", "label", "prob_0", "prob_1", "prob_2"]
    );
    let ids: Vec<&str> = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(ids, ["p0", "p1", "p2", "p3", "p4"]);
    for k in 0..3 {
        let col: Vec<f32> = df
            .column(&format!("prob_{k}"))
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let csv_col: Vec<f32> = got.iter().map(|r| r[k]).collect();
        assert_eq!(col, csv_col, "parquet = CSV, class {k}");
    }
    let labels: Vec<&str> = df
        .column("label")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(labels[0], p.label(&want[0]));
}

#[test]
fn strand_average_is_the_mean_of_both_strands_and_symmetric() {
    let tmp = tempfile::tempdir().unwrap();
    let seqs: Vec<String> = SEQS.iter().map(|s| s.to_string()).collect();
    let rc: Vec<String> = seqs
        .iter()
        .map(|s| dna_bpe::seq::reverse_complement(s))
        .collect();
    let (fa, fa_rc) = (tmp.path().join("f.fa"), tmp.path().join("r.fa"));
    fasta(&fa, &seqs);
    fasta(&fa_rc, &rc);
    let (a, b) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
    predict(&fa, &a, &["--strand", "average"]);
    predict(&fa_rc, &b, &["--strand", "average"]);
    let (pa, pb) = (csv_probs(&a), csv_probs(&b));
    assert_eq!(
        pa, pb,
        "a sequence and its reverse complement get the same probabilities"
    );
    let p = Predictor::<B>::load(&model(), None, &Default::default()).unwrap();
    let (f, r) = (p.scores(&seqs, None).unwrap(), p.scores(&rc, None).unwrap());
    for i in 0..seqs.len() {
        for k in 0..3 {
            let want = (f[i][k] + r[i][k]) / 2.0;
            assert!((pa[i][k] - want).abs() < 1e-6);
        }
    }
    assert_ne!(pa[0], f[0].clone(), "averaging changed something");
}
