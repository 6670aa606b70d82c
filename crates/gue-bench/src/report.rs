//! `report.md` (a Markdown table in the paper's layout) and `report.png`
//! (a bar chart of our scores beside the paper's DNABERT-2 scores).

use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::RunnerError;
use crate::registry::{Benchmark, Registry, TaskSpec};
use crate::runner::RunRecord;

/// File name of the Markdown report inside the output directory.
pub const REPORT_MD: &str = "report.md";
/// File name of the bar chart inside the output directory.
pub const REPORT_PNG: &str = "report.png";

/// Mean and spread of one task's headline metric over seeds, x100 like the paper.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAggregate {
    /// Task path `group/name`.
    pub task: String,
    /// Number of seeds.
    pub n: usize,
    /// Mean score x100.
    pub mean: f64,
    /// Sample standard deviation x100 (n - 1 in the denominator; 0 for one seed).
    pub sd: f64,
}

/// Aggregate the records of `model` for `task` (None when there are none).
pub fn aggregate(records: &[RunRecord], model: &str, task: &str) -> Option<TaskAggregate> {
    let scores: Vec<f64> = records
        .iter()
        .filter(|r| r.model == model && r.task == task)
        .map(|r| r.score * 100.0)
        .collect();
    if scores.is_empty() {
        return None;
    }
    let n = scores.len();
    let mean = scores.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(TaskAggregate {
        task: task.to_string(),
        n,
        mean,
        sd,
    })
}

/// Models present in the records, in first-seen order.
pub fn models(records: &[RunRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        if !out.contains(&r.model) {
            out.push(r.model.clone());
        }
    }
    out
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "–".into())
}

/// Tasks to show for one model: every task of each benchmark that has at least one result.
pub(crate) fn shown_tasks<'a>(
    registry: &'a Registry,
    records: &[RunRecord],
    model: &str,
) -> Vec<&'a TaskSpec> {
    let has = |b: Benchmark| {
        registry.benchmark(b).any(|t| {
            records
                .iter()
                .any(|r| r.model == model && r.task == t.path())
        })
    };
    registry
        .tasks()
        .iter()
        .filter(|t| has(t.benchmark))
        .collect()
}

/// The Markdown report: one table per model, rows grouped by task family in
/// the paper's order, columns: our mean ± sd over seeds, then the paper's
/// DNABERT-2, DNABERT (3-mer) and NT-2500M-multi. Records of tasks the
/// registry does not know are listed after the tables.
pub fn render_markdown(registry: &Registry, records: &[RunRecord]) -> String {
    let mut s = String::from("# GUE benchmark results\n\n");
    s.push_str(
        "Scores are x100: MCC, or macro F1 where the Metric column says F1 (as in the paper). \
         *Ours* is the mean ± sample standard deviation over seeds (n seeds). Paper columns are \
         from arXiv:2306.15006; – means not published or not verified (see datasets.toml).\n",
    );
    if records.is_empty() {
        s.push_str("\nNo results yet.\n");
    }
    for model in models(records) {
        s.push_str(&format!("\n## {model}\n\n"));
        s.push_str("| Task | Dataset | Metric | Ours (mean ± sd) | n | DNABERT-2 | DNABERT (3-mer) | NT-2500M-multi |\n");
        s.push_str("|---|---|---|---|---|---|---|---|\n");
        let mut category = String::new();
        let (mut ours_sum, mut paper_sum, mut both) = (0.0, 0.0, 0usize);
        for t in shown_tasks(registry, records, &model) {
            if t.category != category {
                category = t.category.clone();
                s.push_str(&format!(
                    "| **{} ({})** | | | | | | | |\n",
                    category, t.benchmark
                ));
            }
            let agg = aggregate(records, &model, &t.path());
            let ours = agg
                .as_ref()
                .map(|a| format!("{:.2} ± {:.2}", a.mean, a.sd))
                .unwrap_or_else(|| "–".into());
            let n = agg
                .as_ref()
                .map(|a| a.n.to_string())
                .unwrap_or_else(|| "0".into());
            if let (Some(a), Some(p)) = (&agg, t.published.dnabert2) {
                ours_sum += a.mean;
                paper_sum += p;
                both += 1;
            }
            s.push_str(&format!(
                "| | {} | {} | {} | {} | {} | {} | {} |\n",
                t.path(),
                t.metric,
                ours,
                n,
                fmt_opt(t.published.dnabert2),
                fmt_opt(t.published.dnabert_3mer),
                fmt_opt(t.published.nt_2500m_multi)
            ));
        }
        if both > 0 {
            s.push_str(&format!(
                "| **Average over the {both} tasks with both scores** | | | {:.2} | | {:.2} | | |\n",
                ours_sum / both as f64,
                paper_sum / both as f64
            ));
        }
        let unknown: Vec<&str> = records
            .iter()
            .filter(|r| r.model == model && registry.lookup(&r.task).is_err())
            .map(|r| r.task.as_str())
            .collect();
        if !unknown.is_empty() {
            s.push_str(&format!(
                "\nRecords for tasks not in the registry: {}\n",
                unknown.join(", ")
            ));
        }
    }
    s
}

/// Write `report.md` and (with the `plots` feature) `report.png` atomically into `out_dir`.
pub fn write_report(
    out_dir: &Path,
    registry: &Registry,
    records: &[RunRecord],
) -> Result<(), RunnerError> {
    write_atomic(
        &out_dir.join(REPORT_MD),
        render_markdown(registry, records).as_bytes(),
    )?;
    if records.is_empty() {
        return Ok(());
    }
    #[cfg(feature = "plots")]
    crate::chart::write_png(&out_dir.join(REPORT_PNG), registry, records)?;
    Ok(())
}
