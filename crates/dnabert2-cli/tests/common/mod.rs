//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tiny12 fixture model (HF layout, MLM head).
pub fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dnabert2-model/tests/fixtures/tiny12")
}

/// Runs `dnabert2 ARGS`: (success, stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dnabert2"))
        .args(args)
        .env("DNABERT2_NO_PROGRESS", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `dnabert2 SUB --model MODEL --input INPUT --output OUTPUT EXTRA...`: (success, stderr).
pub fn run_io(sub: &str, model: &str, input: &str, output: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec![sub, "--model", model, "--input", input, "--output", output];
    args.extend_from_slice(extra);
    run(&args)
}

/// [`run_io`] on paths, asserting success.
pub fn run_ok(sub: &str, model: &Path, input: &Path, output: &Path, extra: &[&str]) {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, err) = run_io(sub, &s(model), &s(input), &s(output), extra);
    assert!(ok, "{sub} {} {extra:?}: {err}", s(input));
}

/// Shape and values of a `.npy` file (read with npyz, not our writer's code).
pub fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// The lines of a text file.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Largest absolute difference (NaN counts as infinite).
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        })
        .fold(0.0, f32::max)
}
