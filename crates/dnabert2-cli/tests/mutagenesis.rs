//! `dnabert2 mutagenesis` with the tiny12 classifier: 3 rows per position in order, each
//! effect equal to the library's probability change, and a PNG heatmap.

use std::path::PathBuf;
use std::process::Command;

use dnabert2_model::backend::CpuBackend as B;
use dnabert2_train::predict::Predictor;

#[test]
fn effects_match_the_classifier_and_the_heatmap_is_drawn() {
    let model =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dnabert2-model/tests/fixtures/tiny12");
    let tmp = tempfile::tempdir().unwrap();
    let (tsv, png) = (tmp.path().join("ism.tsv"), tmp.path().join("ism.png"));
    let seq = "ACGTAGCATCGGATCTATCTATCG";
    let out = Command::new(env!("CARGO_BIN_EXE_dnabert2"))
        .args([
            "mutagenesis",
            "--model",
            model.to_str().unwrap(),
            "--sequence",
            seq,
            "--output",
            tsv.to_str().unwrap(),
            "--plot",
            png.to_str().unwrap(),
            "--class",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&tsv).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 3 * seq.len());
    let p = Predictor::<B>::load(&model, None, &Default::default()).unwrap();
    let base = p.scores(&[seq.to_string()], None).unwrap()[0][2];
    for (k, r) in rows.iter().enumerate() {
        let pos: usize = r[1].parse().unwrap();
        assert_eq!(pos, k / 3 + 1, "position-major order");
        assert_eq!(r[2], &seq[pos - 1..pos]);
        assert_ne!(r[2], r[3], "no self-substitution");
    }
    let r = &rows[7]; // position 3
    let mut m = seq.to_string();
    m.replace_range(2..3, r[3]);
    let want = p.scores(&[m], None).unwrap()[0][2] as f64 - base as f64;
    let got: f64 = r[4].parse().unwrap();
    assert!((got - want).abs() < 2e-6, "{got} vs {want}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}
