//! Multi-process data parallelism with real processes on 127.0.0.1 (issue 14): two ranks
//! reproduce one process, a killed rank stops the other with an error naming it and the run
//! resumes on one worker, and ranks started with different settings are refused.
//!
//! Ranks are this test binary re-executed on the ignored `distributed::child_rank` test,
//! configured by [`CHILD_ENV`]. Ports are chosen free at run time; every child is killed
//! when its guard drops, so a failing test leaves no process behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dnabert2_train::backends::FlexAutodiff;
use dnabert2_train::corpus;
use dnabert2_train::distributed::{Cluster, FAULT_EXIT_CODE};
use dnabert2_train::{Budget, PretrainConfig, pretrain, pretrain_distributed};
use serde::{Deserialize, Serialize};

use crate::pretrain_resume::{config, device, losses, serial};

const CHILD_ENV: &str = "DNABERT2_DIST_TEST_CHILD";

/// What a child rank runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RankSpec {
    out: PathBuf,
    cache: PathBuf,
    rank: usize,
    world_size: usize,
    port: u16,
    steps: u64,
    batch_size: usize,
    timeout_secs: u64,
}

fn run_config(c: &RankSpec) -> PretrainConfig {
    let mut cfg = config(&c.out, &c.cache);
    cfg.dropout = Some(0.0);
    cfg.budget = Budget::Steps(c.steps);
    cfg.batch_size = c.batch_size;
    cfg.save_every = 5;
    cfg.eval_every = 5;
    cfg
}

/// Entry point of a child rank; a no-op unless [`CHILD_ENV`] is set.
#[test]
#[ignore = "helper: run as a child process by the tests of this module"]
fn child_rank() {
    let Some(spec) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    dnabert2_train::console::init();
    let c: RankSpec = serde_json::from_str(&spec.to_string_lossy()).unwrap();
    let cluster = Cluster {
        world_size: c.world_size,
        rank: c.rank,
        coordinator: Some(format!("127.0.0.1:{}", c.port)),
        data_port: None,
        timeout: Duration::from_secs(c.timeout_secs),
    };
    if let Err(e) = pretrain_distributed::<FlexAutodiff>(&run_config(&c), &device(), &cluster) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// A child process that is killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(c: &RankSpec) -> Guard {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "distributed::child_rank",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, serde_json::to_string(c).unwrap())
        .env("RAYON_NUM_THREADS", "1")
        .env("DNABERT2_NO_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Guard(child)
}

/// Waits for a child (killing it past `limit`) and returns its exit code and stderr.
fn finish(mut g: Guard, limit: Duration) -> (Option<i32>, String) {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < limit, "a rank did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = g.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    (status.code(), err)
}

fn ranks(out: &Path, cache: &Path, steps: u64, timeout_secs: u64) -> [RankSpec; 2] {
    let port = dnabert2_train::distributed::free_port_range(2).unwrap();
    [0, 1].map(|rank| RankSpec {
        out: out.to_path_buf(),
        cache: cache.to_path_buf(),
        rank,
        world_size: 2,
        port,
        steps,
        batch_size: 8,
        timeout_secs,
    })
}

/// The final weights of a run (its last checkpoint's safetensors), by tensor name.
fn weights(out: &Path, step: u64) -> Vec<(String, Vec<f32>)> {
    let path = out
        .join("checkpoints")
        .join(format!("step-{step:08}"))
        .join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub(crate) fn max_weight_diff(a: &Path, b: &Path, step: u64) -> f32 {
    let (wa, wb) = (weights(a, step), weights(b, step));
    assert_eq!(wa.len(), wb.len());
    let mut worst = 0.0f32;
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        for (x, y) in va.iter().zip(vb) {
            let d = (x - y).abs();
            assert!(!d.is_nan(), "{na}: NaN");
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn two_processes_match_one() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let [r0, r1] = ranks(&tmp.path().join("two"), &cache, 5, 60);
    corpus::prepare(&run_config(&r0).corpus).unwrap();
    let (c0, c1) = (spawn(&r0), spawn(&r1));

    // The reference meanwhile: one process, one worker, the same global batch.
    let mut one = r0.clone();
    one.out = tmp.path().join("one");
    pretrain::<FlexAutodiff>(&run_config(&one), &device()).unwrap();

    let (code0, err0) = finish(c0, Duration::from_secs(240));
    let (code1, err1) = finish(c1, Duration::from_secs(60));
    assert_eq!(code0, Some(0), "rank 0 failed:\n{err0}");
    assert_eq!(code1, Some(0), "rank 1 failed:\n{err1}");

    let (want, got) = (losses(&one.out), losses(&r0.out));
    assert_eq!(want.len(), 5);
    assert_eq!(got.len(), 5, "rank 0 logs every step once");
    for ((s, a), (t, b)) in want.iter().zip(&got) {
        assert_eq!(s, t);
        assert!((a - b).abs() < 1e-5, "step {s}: one process {a}, two {b}");
    }
    assert!((want[0].1 - want[4].1).abs() > 1e-3, "the runs moved");
    let d = max_weight_diff(&one.out, &r0.out, 5);
    assert!(d < 1e-5, "final weights differ by {d}");
}

#[test]
fn a_killed_rank_stops_the_other_and_the_run_resumes_on_one_worker() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("run");
    let timeout = 20;
    let [r0, r1] = ranks(&out, &cache, 400, timeout);
    corpus::prepare(&run_config(&r0).corpus).unwrap();
    let (c0, mut c1) = (spawn(&r0), spawn(&r1));
    let ckpt = out.join("checkpoints").join("step-00000010");
    let t0 = Instant::now();
    while !ckpt.is_dir() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint at step 10"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    c1.0.kill().unwrap();
    c1.0.wait().unwrap();
    let killed = Instant::now();
    let (code, err) = finish(c0, Duration::from_secs(timeout + 30));
    assert_eq!(code, Some(FAULT_EXIT_CODE), "rank 0:\n{err}");
    assert!(
        err.contains("lost rank 1"),
        "rank 0 must name the lost rank:\n{err}"
    );
    assert!(
        killed.elapsed() < Duration::from_secs(timeout + 5),
        "rank 0 took {:?} to stop",
        killed.elapsed()
    );
    let logged = losses(&out).len() as u64;
    assert!(logged < 400, "rank 0 finished before the kill");

    // Resume with one worker: from the newest checkpoint to the end, the log contiguous.
    let mut cfg = run_config(&r0);
    cfg.resume = true;
    let s = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert!(s.resumed_from >= 10 && s.resumed_from <= logged, "{s:?}");
    assert_eq!(s.steps, 400);
    let steps: Vec<u64> = losses(&out).iter().map(|r| r.0).collect();
    assert_eq!(steps, (1..=400).collect::<Vec<_>>());
}

#[test]
fn ranks_with_different_settings_are_refused() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let [r0, mut r1] = ranks(&tmp.path().join("run"), &cache, 5, 30);
    r1.batch_size = 16;
    corpus::prepare(&run_config(&r0).corpus).unwrap();
    let (c0, c1) = (spawn(&r0), spawn(&r1));
    let (code0, err0) = finish(c0, Duration::from_secs(60));
    let (code1, err1) = finish(c1, Duration::from_secs(60));
    assert_ne!(code0, Some(0));
    assert_ne!(code1, Some(0));
    for err in [&err0, &err1] {
        assert!(
            err.contains("settings differ") && err.contains("batch_size=16"),
            "{err}"
        );
    }
    assert!(!tmp.path().join("run").join("metrics.jsonl").exists());
}
