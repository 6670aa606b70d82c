//! End-to-end pretraining on the tiny preset: a run killed with SIGKILL and
//! resumed reproduces an uninterrupted run exactly; a NaN loss stops the run
//! and keeps the last good checkpoint; two data-parallel replicas match one
//! device.
//!
//! The killed run is this test binary re-executed as a child process running
//! the ignored `child_pretrain` test (selected by an environment variable).
//! The helpers are shared with [`crate::distributed`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dnabert2_train::backends::FlexAutodiff;
use dnabert2_train::checkpoint::CheckpointManager;
use dnabert2_train::corpus::{self, CorpusConfig};
use dnabert2_train::metrics_log::MetricsLog;
use dnabert2_train::{Budget, PretrainConfig, TrainError, pretrain};

/// burn-flex's dropout RNG is process-global, so two trainings running at the
/// same time in this test binary would draw from each other's stream: the
/// tests that train take this lock. Kernels run single-threaded so parallel
/// float reductions cannot change summation order between runs.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> MutexGuard<'static, ()> {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const CHILD_ENV: &str = "DNABERT2_TRAIN_TEST_CHILD_OUT";
const CACHE_ENV: &str = "DNABERT2_TRAIN_TEST_CHILD_CACHE";
const STEPS: u64 = 60;
const SAVE_EVERY: u64 = 10;

pub(crate) fn genomes() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/genomes");
    vec![
        root.join("phage_lambda.fa.gz"),
        root.join("phage_phix174.fna"),
    ]
}

pub(crate) fn config(out: &Path, cache: &Path) -> PretrainConfig {
    let mut corpus = CorpusConfig::new(genomes(), cache.to_path_buf());
    corpus.chunk_bp = 4096;
    corpus.eval_fraction = 0.1;
    let mut cfg = PretrainConfig::new(corpus, out.to_path_buf(), "tiny", Budget::Steps(STEPS));
    cfg.max_len = 48;
    cfg.batch_size = 8;
    cfg.lr = 1e-3;
    cfg.warmup = Some(5);
    cfg.log_every = 1;
    cfg.eval_every = SAVE_EVERY;
    cfg.save_every = SAVE_EVERY;
    cfg.eval_windows = 16;
    cfg.keep_last = 2;
    cfg.progress = false;
    cfg
}

pub(crate) fn device() -> Vec<<FlexAutodiff as burn::tensor::backend::BackendTypes>::Device> {
    vec![Default::default()]
}

/// `(step, loss)` of the training rows of a metrics log.
pub(crate) fn losses(out: &Path) -> Vec<(u64, f64)> {
    MetricsLog::read(&out.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r.get("loss")?.as_f64()?)))
        .collect()
}

/// Entry point of the child process; a no-op unless run by `killed_run_resumes_exactly`.
#[test]
#[ignore = "helper: run as a child process by killed_run_resumes_exactly"]
fn child_pretrain() {
    let (Some(out), Some(cache)) = (std::env::var_os(CHILD_ENV), std::env::var_os(CACHE_ENV))
    else {
        return;
    };
    let _guard = serial();
    pretrain::<FlexAutodiff>(&config(Path::new(&out), Path::new(&cache)), &device()).unwrap();
}

#[test]
fn killed_run_resumes_exactly() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    corpus::prepare(&config(tmp.path(), &cache).corpus).unwrap();

    // Reference: uninterrupted.
    let reference = tmp.path().join("reference");
    let summary = pretrain::<FlexAutodiff>(&config(&reference, &cache), &device()).unwrap();
    assert_eq!(summary.steps, STEPS);
    let want = losses(&reference);
    assert_eq!(want.len() as u64, STEPS);
    // The tiny model learns something on phage DNA within 60 steps.
    assert!(want[STEPS as usize - 1].1 < want[0].1 - 0.5, "{want:?}");

    // Killed: a child process, SIGKILLed once it has passed two checkpoints.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pretrain_resume::child_pretrain",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &killed)
        .env(CACHE_ENV, &cache)
        .env("DNABERT2_NO_PROGRESS", "1")
        .env("RAYON_NUM_THREADS", "1")
        .spawn()
        .unwrap();
    let ckpts = killed.join("checkpoints");
    let t0 = Instant::now();
    let killed_at = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "child finished before it could be killed"
        );
        assert!(t0.elapsed() < Duration::from_secs(300), "child too slow");
        let log = killed.join("metrics.jsonl");
        let done = if log.is_file() {
            losses(&killed).len() as u64
        } else {
            0
        };
        if done >= 2 * SAVE_EVERY + 3 {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            break losses(&killed).len() as u64;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(killed_at < STEPS);

    // Resume in this process and finish.
    let mut cfg = config(&killed, &cache);
    cfg.resume = true;
    let resumed = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert!(
        killed_at - resumed.resumed_from <= SAVE_EVERY,
        "lost {} steps (killed after {killed_at}, resumed from {})",
        killed_at - resumed.resumed_from,
        resumed.resumed_from
    );
    assert!(resumed.resumed_from >= 2 * SAVE_EVERY);
    assert_eq!(resumed.steps, STEPS);

    // Same losses, bit for bit, at every step (rows after the checkpoint were
    // dropped from the log on resume and recomputed).
    let got = losses(&killed);
    assert_eq!(got.len(), want.len());
    for ((s1, l1), (s2, l2)) in got.iter().zip(&want) {
        assert_eq!(s1, s2);
        assert_eq!(
            l1.to_bits(),
            l2.to_bits(),
            "step {s1}: resumed {l1} vs uninterrupted {l2}"
        );
    }
    assert_eq!(resumed.eval.loss.to_bits(), summary.eval.loss.to_bits());

    // Retention: last 2 plus best; the best checkpoint is a loadable HF model dir.
    let mgr = CheckpointManager::new(&ckpts, 2).unwrap();
    let kept = mgr.list().unwrap();
    assert!(kept.len() <= 3 && kept.last().unwrap().state.step == STEPS);
    let best = mgr.best().unwrap().unwrap();
    let (_m, model_cfg) =
        dnabert2_model::checkpoint::load_mlm::<burn::backend::Flex>(&best.dir, &Default::default())
            .unwrap();
    assert_eq!(model_cfg.hidden_size, 128);
    assert!(killed.join("curves.png").is_file());
}

#[test]
fn nan_loss_stops_and_keeps_last_good_checkpoint() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut cfg = config(&out, &tmp.path().join("cache"));
    cfg.fault_nan_at_step = Some(15);
    let err = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap_err();
    match &err {
        TrainError::NonFiniteLoss { step, loss, .. } => {
            assert_eq!(*step, 15);
            assert!(loss.is_nan());
        }
        other => panic!("expected NonFiniteLoss, got {other}"),
    }
    assert!(err.to_string().contains("last good checkpoint"));
    let mgr = CheckpointManager::new(out.join("checkpoints"), 2).unwrap();
    let latest = mgr.latest().unwrap().unwrap();
    assert_eq!(latest.state.step, 10);
    // The kept checkpoint is complete and resumable.
    cfg.fault_nan_at_step = None;
    cfg.resume = true;
    let s = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert_eq!(s.resumed_from, 10);
    assert!(s.eval.loss.is_finite());
}

#[test]
fn two_worker_threads_match_one_device() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = |name: &str, n: usize| {
        let mut cfg = config(&tmp.path().join(name), &cache);
        cfg.dropout = Some(0.0);
        cfg.budget = Budget::Steps(6);
        pretrain::<FlexAutodiff>(&cfg, &vec![Default::default(); n]).unwrap();
        losses(&tmp.path().join(name))
    };
    let one = run("one", 1);
    let two = run("two", 2);
    assert_eq!(one.len(), 6);
    assert_eq!(two.len(), 6, "the leader logs every step once");
    for ((s, a), (_, b)) in one.iter().zip(&two) {
        // Same batches and weights; only the summation order differs.
        assert!((a - b).abs() < 1e-5, "step {s}: {a} vs {b}");
    }
    let d =
        crate::distributed::max_weight_diff(&tmp.path().join("one"), &tmp.path().join("two"), 6);
    assert!(d < 1e-5, "final weights differ by {d}");
    // And the runs did move: losses change between steps.
    assert!((one[0].1 - one[5].1).abs() > 1e-3);
}

/// `(step, lr)` of the training rows of a metrics log.
fn lrs(out: &Path) -> Vec<(u64, f64)> {
    MetricsLog::read(&out.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r.get("lr")?.as_f64()?)))
        .collect()
}

/// A finished run resumed with a larger `--steps` continues to the new target, with the
/// schedule re-planned for it, and reports a real throughput; resuming with the same
/// target has nothing to do and still reports the run's throughput.
#[test]
fn resume_with_more_steps_continues_to_the_new_target() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut cfg = config(&out, &tmp.path().join("cache"));
    cfg.budget = Budget::Steps(10);
    cfg.save_every = 5;
    cfg.eval_every = 5;
    let first = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert_eq!(first.steps, 10);

    cfg.resume = true;
    let same = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert_eq!((same.steps, same.resumed_from), (10, 10));
    assert!(same.tokens_per_sec > 0.0, "{}", same.tokens_per_sec);

    cfg.budget = Budget::Steps(20);
    let more = pretrain::<FlexAutodiff>(&cfg, &device()).unwrap();
    assert_eq!((more.steps, more.resumed_from), (20, 10));
    assert!(more.tokens > first.tokens);
    assert!(more.tokens_per_sec > 0.0);
    let rows = lrs(&out);
    assert_eq!(rows.len(), 20, "one row per step: {rows:?}");
    // The row of step s logs the lr step s-1 used. Steps 11..20 follow warmup 5 -> decay to
    // 0 at 20 (the new plan), steps 1..10 the old plan (decay to 0 at 10).
    let new = dnabert2_train::schedule::LinearWarmupDecay::new(1e-3, 5, 20);
    let old = dnabert2_train::schedule::LinearWarmupDecay::new(1e-3, 5, 10);
    for (step, lr) in rows {
        let want = if step <= 10 {
            old.lr(step - 1)
        } else {
            new.lr(step - 1)
        };
        assert!((lr - want).abs() < 1e-12, "step {step}: lr {lr} vs {want}");
    }
    let mgr = CheckpointManager::new(out.join("checkpoints"), 2).unwrap();
    let latest = mgr.latest().unwrap().unwrap();
    assert_eq!(latest.state.schedule.total_steps, 20);
}
