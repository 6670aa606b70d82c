//! `dnabert2 score-variants` end to end on a committed genome (phage lambda) with a small
//! MLM: one row per (record, ALT) in VCF order, the same score for a variant and its
//! reverse-complemented context under `--strand average`, errors naming the VCF line, and
//! the LLR's algebra (0 against itself, sign flip when REF and ALT swap).

use std::path::{Path, PathBuf};

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::{checkpoint, score};

use crate::common;
use common::run;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lambda genome as one uppercase string.
fn lambda() -> String {
    let recs: Vec<_> =
        dna_bpe::fasta::Reader::from_path(root().join("data/genomes/phage_lambda.fa.gz"))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
    String::from_utf8(recs[0].seq.clone())
        .unwrap()
        .to_ascii_uppercase()
}

fn rc(s: &str) -> String {
    s.bytes()
        .rev()
        .map(|b| match b {
            b'A' => 'T',
            b'T' => 'A',
            b'C' => 'G',
            b'G' => 'C',
            o => o as char,
        })
        .collect()
}

/// An MLM-only model directory (tiny12's encoder and MLM head).
fn mlm_dir(dir: &Path) -> PathBuf {
    let fx = root().join("crates/dnabert2-model/tests/fixtures/tiny12");
    let (m, cfg) = checkpoint::load_mlm::<B>(&fx, &Default::default()).unwrap();
    let out = dir.join("mlm");
    checkpoint::save_mlm(&m, &cfg, &out).unwrap();
    out
}

/// Runs `dnabert2 score-variants --model M --reference G --vcf V --output O EXTRA...`.
fn score_variants(
    model: &str,
    reference: &str,
    vcf: &str,
    output: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut args = vec![
        "score-variants",
        "--model",
        model,
        "--reference",
        reference,
        "--vcf",
        vcf,
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn vcf(path: &Path, rows: &[String]) {
    let mut text =
        String::from("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn scores_in_vcf_order_and_strand_average_is_symmetric() {
    let tmp = tempfile::tempdir().unwrap();
    let model = mlm_dir(tmp.path());
    let g = lambda();
    let l = g.len();
    // The genome forward and reverse-complemented, as two contigs.
    let fa = tmp.path().join("genome.fa");
    std::fs::write(&fa, format!(">fwd\n{g}\n>rev\n{}\n", rc(&g))).unwrap();
    let comp = |c: char| rc(&c.to_string());
    let mut rows = Vec::new();
    for p in [5_000usize, 12_345, 30_001] {
        let r = g.chars().nth(p - 1).unwrap();
        let a = if r == 'A' { 'G' } else { 'A' };
        rows.push(format!("fwd\t{p}\t.\t{r}\t{a}\t.\t.\t."));
        // The same change on the reverse strand: position L - p + 1, complemented bases.
        rows.push(format!(
            "rev\t{}\t.\t{}\t{}\t.\t.\t.",
            l - p + 1,
            comp(r),
            comp(a)
        ));
    }
    let r0 = g.chars().nth(99).unwrap();
    rows.push(format!(
        "fwd\t100\tid1\t{r0}\t<DEL>,{}\t.\t.\t.",
        if r0 == 'C' { 'T' } else { 'C' }
    ));
    let v = tmp.path().join("v.vcf");
    vcf(&v, &rows);
    let out = tmp.path().join("scores.tsv");
    let (ok, err) = score_variants(
        model.to_str().unwrap(),
        fa.to_str().unwrap(),
        v.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--window", "101", "--strand", "average"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("1 symbolic ALTs"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        lines[0],
        [
            "chrom",
            "pos",
            "ref",
            "alt",
            "llr",
            "cosine_distance",
            "l2_distance"
        ]
    );
    assert_eq!(lines.len(), 1 + 7, "one row per (record, scorable ALT)");
    for pair in lines[1..7].chunks(2) {
        assert_eq!((pair[0][0], pair[1][0]), ("fwd", "rev"), "VCF order");
        let (a, b): (f64, f64) = (pair[0][4].parse().unwrap(), pair[1][4].parse().unwrap());
        assert!(
            a.is_finite() && a == b,
            "LLR of a variant and its reverse-complemented context: {a} vs {b}"
        );
        assert_eq!(pair[0][5], pair[1][5], "cosine distance");
        assert_eq!(pair[0][6], pair[1][6], "L2 distance");
    }
    assert_eq!(
        &lines[7][..4],
        &["fwd", "100", &r0.to_string()[..], lines[7][3]]
    );
}

#[test]
fn bad_records_name_the_vcf_line() {
    let tmp = tempfile::tempdir().unwrap();
    let model = mlm_dir(tmp.path());
    let g = lambda();
    let fa = tmp.path().join("genome.fa");
    std::fs::write(&fa, format!(">fwd\n{g}\n")).unwrap();
    let wrong = if g.as_bytes()[999] == b'A' { 'C' } else { 'A' };
    let cases = [
        (format!("fwd\t1000\t.\t{wrong}\tG\t.\t.\t."), "v.vcf:3: REF"),
        (
            "chrX\t10\t.\tA\tG\t.\t.\t.".to_string(),
            "v.vcf:3: contig `chrX` is not in",
        ),
        (
            format!("fwd\t{}\t.\tA\tG\t.\t.\t.", g.len() + 5),
            "past the end of the contig",
        ),
        ("fwd\tzero\t.\tA\tG".to_string(), "v.vcf:3: POS `zero`"),
        (
            "fwd\t10\t.\tA".to_string(),
            "v.vcf:3: 4 tab-separated fields",
        ),
    ];
    let v = tmp.path().join("v.vcf");
    let out = tmp.path().join("s.tsv");
    for (row, want) in &cases {
        vcf(&v, std::slice::from_ref(row));
        let (ok, err) = score_variants(
            model.to_str().unwrap(),
            fa.to_str().unwrap(),
            v.to_str().unwrap(),
            out.to_str().unwrap(),
            &["--window", "64"],
        );
        assert!(!ok, "{row}");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: ") && last.contains(want),
            "{row}: {err}"
        );
    }
    // --skip-mismatch counts the bad REF instead of failing.
    vcf(&v, &[cases[0].0.clone()]);
    let (ok, err) = score_variants(
        model.to_str().unwrap(),
        fa.to_str().unwrap(),
        v.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--window", "64", "--skip-mismatch"],
    );
    assert!(ok && err.contains("1 REF mismatches"), "{err}");
}

#[test]
fn llr_is_zero_against_itself_and_antisymmetric() {
    let fx = root().join("crates/dnabert2-model/tests/fixtures/tiny12");
    let device = Default::default();
    let (m, _) = checkpoint::load_mlm::<B>(&fx, &device).unwrap();
    let tok = dna_bpe::Tokenizer::dnabert2();
    let g = lambda();
    let reference = &g[2000..2101];
    let mut alt = reference.to_string();
    alt.replace_range(50..51, if &reference[50..51] == "A" { "C" } else { "A" });
    let same = score::llr(&m, &tok, (reference, 50..51), (reference, 50..51), &device).unwrap();
    assert_eq!(same, 0.0);
    let fwd = score::llr(&m, &tok, (reference, 50..51), (&alt, 50..51), &device).unwrap();
    let back = score::llr(&m, &tok, (&alt, 50..51), (reference, 50..51), &device).unwrap();
    assert!(fwd != 0.0 && fwd.is_finite());
    assert_eq!(fwd, -back);
}

#[test]
fn indexed_streamed_and_compressed_references_agree_and_classifiers_add_deltas() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let model = mlm_dir(tmp.path());
    let g = lambda();
    let (plain, gz, indexed) = (
        tmp.path().join("plain.fa"),
        tmp.path().join("g.fa.gz"),
        tmp.path().join("indexed.fa"),
    );
    // 60-column lines, as reference genomes are distributed.
    let wrapped: Vec<&str> = (0..g.len())
        .step_by(60)
        .map(|i| &g[i..(i + 60).min(g.len())])
        .collect();
    let text = format!(">chrA\n{}\n>chrB\n{}\n", wrapped.join("\n"), &g[..5000]);
    std::fs::write(&plain, &text).unwrap();
    std::fs::write(&indexed, &text).unwrap();
    dna_bpe::faidx::write_index(&indexed).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let snv = |contig: &str, p: usize| {
        let r = g.as_bytes()[p - 1] as char;
        format!(
            "{contig}\t{p}\t.\t{r}\t{}\t.\t.\t.",
            if r == 'G' { 'T' } else { 'G' }
        )
    };
    let del = format!(
        "chrA\t20000\t.\t{}\t{}\t.\t.\t.",
        &g[19_999..20_003],
        &g[19_999..20_000]
    );
    let rows = [
        snv("chrB", 1200),
        snv("chrA", 40_000),
        del,
        snv("chrA", 3),
        snv("chrB", 4999),
    ];
    let v = tmp.path().join("v.vcf");
    vcf(&v, &rows);
    let score = |model: &Path, reference: &Path, out: &str| {
        let out = tmp.path().join(out);
        let (ok, err) = score_variants(
            model.to_str().unwrap(),
            reference.to_str().unwrap(),
            v.to_str().unwrap(),
            out.to_str().unwrap(),
            &["--window", "101"],
        );
        assert!(ok, "{err}");
        std::fs::read_to_string(out).unwrap()
    };
    let a = score(&model, &plain, "a.tsv");
    assert_eq!(a.lines().count(), 1 + rows.len());
    let order: Vec<&str> = a
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(
        order,
        ["1200", "40000", "20000", "3", "4999"],
        "VCF order across contigs"
    );
    assert_eq!(
        score(&model, &indexed, "b.tsv"),
        a,
        ".fai random access = streaming"
    );
    assert_eq!(score(&model, &gz, "c.tsv"), a, "gzip reference = plain");

    // A classifier: llr NA, one probability delta per class, equal to the Predictor's.
    let clf = root().join("crates/dnabert2-model/tests/fixtures/tiny12");
    let t = score(&clf, &indexed, "clf.tsv");
    let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        &lines[0][4..],
        [
            "llr",
            "cosine_distance",
            "l2_distance",
            "delta_prob_0",
            "delta_prob_1",
            "delta_prob_2"
        ]
    );
    assert_eq!(lines[2][4], "NA");
    let p = dnabert2_train::predict::Predictor::<B>::load(&clf, None, &Default::default()).unwrap();
    let p0 = 40_000 - 1;
    let win = g[p0 - 50..p0 + 51].to_string();
    let mut alt = win.clone();
    alt.replace_range(50..51, if &win[50..51] == "G" { "T" } else { "G" });
    let s = p.scores(&[win, alt], None).unwrap();
    for k in 0..3 {
        let got: f64 = lines[2][7 + k].parse().unwrap();
        let want = (s[1][k] - s[0][k]) as f64;
        assert!((got - want).abs() < 1e-5, "class {k}: {got} vs {want}");
    }
    // With an index, a missing contig fails before any scoring, naming the VCF line.
    vcf(
        &v,
        &[snv("chrA", 100), "chrQ\t5\t.\tA\tC\t.\t.\t.".to_string()],
    );
    let (ok, err) = score_variants(
        model.to_str().unwrap(),
        indexed.to_str().unwrap(),
        v.to_str().unwrap(),
        tmp.path().join("m.tsv").to_str().unwrap(),
        &[],
    );
    assert!(
        !ok && err.contains("v.vcf:4: contig `chrQ` is not in"),
        "{err}"
    );
}
