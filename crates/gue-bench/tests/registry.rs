//! The embedded registry: 36 consistent entries, lookups, and errors that name
//! the file and line.

use gue_bench::{Benchmark, InputKind, MetricKind, Registry, RegistryError};

#[test]
fn embedded_registry_has_all_36_datasets() {
    let reg = Registry::embedded().unwrap();
    assert_eq!(reg.tasks().len(), 36);
    assert_eq!(reg.benchmark(Benchmark::Gue).count(), 28);
    assert_eq!(reg.benchmark(Benchmark::GuePlus).count(), 8);
    let count = |g: &str| {
        reg.tasks()
            .iter()
            .filter(|t| t.group == g && t.benchmark == Benchmark::Gue)
            .count()
    };
    assert_eq!(count("EMP"), 10);
    assert_eq!(count("prom"), 6);
    assert_eq!(count("tf"), 5);
    assert_eq!(count("mouse"), 5);
    assert_eq!(count("splice"), 1);
    assert_eq!(count("virus"), 1);
    assert_eq!(
        reg.tasks()
            .iter()
            .filter(|t| t.input == InputKind::Pair)
            .count(),
        6
    );
}

#[test]
fn gue_entries_are_complete_and_consistent() {
    let reg = Registry::embedded().unwrap();
    for t in reg.benchmark(Benchmark::Gue) {
        let p = t.path();
        assert_eq!(t.input, InputKind::Single, "{p}");
        assert!(
            t.num_labels.is_some() && t.max_length.is_some() && t.epochs.is_some(),
            "{p}"
        );
        assert!(
            t.warmup_steps.is_some() && t.eval_steps.is_some() && t.seq_len_bp.is_some(),
            "{p}"
        );
        let rows = t.rows.unwrap_or_else(|| panic!("{p}: rows"));
        assert!(rows.train > rows.dev && rows.dev > 0, "{p}");
        assert!(t.published.dnabert2.is_some(), "{p}: DNABERT-2 score");
        assert!(t.line > 0, "{p}: line");
        // Covid is the only F1 task and the only 9-class task; splice is 3-class.
        let expect_metric = if p == "virus/covid" {
            MetricKind::F1
        } else {
            MetricKind::Mcc
        };
        assert_eq!(t.metric, expect_metric, "{p}");
        let expect_labels = match p.as_str() {
            "virus/covid" => 9,
            "splice/reconstructed" => 3,
            _ => 2,
        };
        assert_eq!(t.num_labels, Some(expect_labels), "{p}");
    }
    // Spot checks against the upstream fine-tuning script's settings and the local copies (SOURCES.md).
    let core = reg.lookup("prom/prom_core_tata").unwrap();
    assert_eq!(
        (core.max_length, core.epochs, core.seq_len_bp),
        (Some(20), Some(10), Some(70))
    );
    let mouse = reg.lookup("mouse/2").unwrap();
    assert_eq!(
        (mouse.max_steps, mouse.warmup_steps, mouse.max_length),
        (Some(1000), Some(30), Some(30))
    );
    assert_eq!(
        mouse.rows.map(|r| (r.train, r.dev, r.test)),
        Some((2620, 328, 328))
    );
    let h3 = reg.lookup("EMP/H3").unwrap();
    assert_eq!(h3.rows.map(|r| r.dev), Some(1497));
    assert_eq!(reg.lookup("virus/covid").unwrap().max_length, Some(256));
}

#[test]
fn lookup_by_path_and_unique_short_name() {
    let reg = Registry::embedded().unwrap();
    assert_eq!(reg.lookup("H3K4me3").unwrap().path(), "EMP/H3K4me3");
    assert_eq!(reg.lookup("/tf/3/").unwrap().path(), "tf/3");
    assert!(
        matches!(reg.lookup("0"), Err(RegistryError::AmbiguousTask { candidates, .. }) if candidates.len() == 2)
    );
    assert!(matches!(
        reg.lookup("tf/9"),
        Err(RegistryError::UnknownTask { .. })
    ));
    let sel = reg.select(&["GUE".into(), "EMP/H3".into()]).unwrap();
    assert_eq!(sel.len(), 28);
    assert_eq!(reg.select(&["all".into()]).unwrap().len(), 36);
}

const GOOD: &str = "[[task]]\ngroup = \"tf\"\nname = \"0\"\nbenchmark = \"GUE\"\ncategory = \"TF\"\ninput = \"single\"\nnum_labels = 2\nmetric = \"mcc\"\n";

#[test]
fn parse_errors_name_file_and_line() {
    let bad = format!(
        "{GOOD}\n[[task]]\ngroup = \"tf\"\nname = \"1\"\nbenchmark = \"GUE\"\ncategory = \"TF\"\ninput = \"triple\"\nmetric = \"mcc\"\n"
    );
    let err = Registry::from_str(&bad, "my.toml").unwrap_err();
    match &err {
        RegistryError::Parse { file, line, .. } => {
            assert_eq!(file.to_str(), Some("my.toml"));
            assert_eq!(*line, 15, "{err}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("my.toml:15:"), "{err}");
}

#[test]
fn semantic_errors_name_the_task_header_line() {
    let dup = format!("{GOOD}\n{GOOD}");
    let err = Registry::from_str(&dup, "dup.toml").unwrap_err();
    assert!(
        matches!(&err, RegistryError::Invalid { line: 10, task, .. } if task == "tf/0"),
        "{err}"
    );
    let one_class = GOOD.replace("num_labels = 2", "num_labels = 1");
    let err = Registry::from_str(&one_class, "x.toml").unwrap_err();
    assert!(
        err.to_string().contains("x.toml:1: task tf/0: num_labels"),
        "{err}"
    );
    let unknown_field = format!("{GOOD}colour = \"red\"\n");
    assert!(matches!(
        Registry::from_str(&unknown_field, "u.toml"),
        Err(RegistryError::Parse { line: 9, .. })
    ));
}

#[test]
fn from_path_reports_missing_file() {
    let err = Registry::from_path(std::path::Path::new("/nonexistent/datasets.toml")).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/datasets.toml:"),
        "{err}"
    );
}
