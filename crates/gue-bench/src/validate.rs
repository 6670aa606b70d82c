//! Content checks of loaded splits against the registry: row counts, label
//! range, alphabet and sequence lengths. Every issue names the file and, for
//! row-level problems, the 1-based data row and file line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::{Split, SplitName};
use crate::error::DataError;
use crate::registry::TaskSpec;

/// At most this many row-level issues of one kind are listed per file; the rest
/// are counted in a summary issue.
pub const MAX_ROW_ISSUES: usize = 10;

/// How serious an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    /// Unexpected but usable (e.g. row count differs from the paper).
    Warning,
    /// The data cannot be used as is.
    Error,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// Warning or error.
    pub severity: Severity,
    /// File (or directory) concerned.
    pub file: PathBuf,
    /// 1-based data row (header excluded), for row-level issues.
    pub row: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Issue {
    /// 1-based line in a CSV/TSV file: data row + 1 for the header line.
    pub fn line(&self) -> Option<usize> {
        self.row.map(|r| r + 1)
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.row {
            Some(r) => write!(
                f,
                "{sev}: {}: data row {r} (line {}): {}",
                self.file.display(),
                r + 1,
                self.message
            ),
            None => write!(f, "{sev}: {}: {}", self.file.display(), self.message),
        }
    }
}

/// All findings for one dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationReport {
    /// Findings in discovery order.
    pub issues: Vec<Issue>,
}

impl ValidationReport {
    /// Record a finding.
    pub fn push(&mut self, severity: Severity, file: &Path, row: Option<usize>, message: String) {
        self.issues.push(Issue {
            severity,
            file: file.to_path_buf(),
            row,
            message,
        });
    }

    /// Record a structural read error as an error issue.
    pub fn push_data_error(&mut self, e: &DataError) {
        let (file, row) = match e {
            DataError::Read { file, .. }
            | DataError::Empty { file }
            | DataError::Format { file } => (file, None),
            DataError::Columns { file, .. } | DataError::Line { file, .. } => (file, None),
            DataError::Row { file, row, .. } => (file, Some(*row)),
        };
        let message = match e {
            DataError::Row { message, .. } => message.clone(),
            other => {
                let s = other.to_string();
                let prefix = format!("{}: ", file.display());
                s.strip_prefix(&prefix).unwrap_or(&s).to_string()
            }
        };
        self.push(Severity::Error, file, row, message);
    }

    /// True when any issue is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    /// Error issues.
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    /// Warning issues.
    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.issues {
            writeln!(f, "{i}")?;
        }
        Ok(())
    }
}

/// Collects row-level issues of one kind, listing the first [`MAX_ROW_ISSUES`].
struct RowIssues<'a> {
    severity: Severity,
    file: &'a Path,
    what: &'static str,
    count: usize,
}

impl RowIssues<'_> {
    fn add(&mut self, report: &mut ValidationReport, row0: usize, message: String) {
        self.count += 1;
        if self.count <= MAX_ROW_ISSUES {
            report.push(self.severity, self.file, Some(row0 + 1), message);
        }
    }

    fn finish(self, report: &mut ValidationReport) {
        if self.count > MAX_ROW_ISSUES {
            report.push(
                self.severity,
                self.file,
                None,
                format!(
                    "{} rows with {} in total ({} more not listed)",
                    self.count,
                    self.what,
                    self.count - MAX_ROW_ISSUES
                ),
            );
        }
    }
}

// Long by design: one pass over the rows with one check per arm (alphabet, length, labels,
// duplicates), so every check sees the same row context.
/// Check one split of `task` and append the findings to `report`.
///
/// - row count vs `task.rows` (warning: copies and subsets differ),
/// - labels in `0..num_labels` (error), every class present in train (warning),
/// - alphabet `ACGTN` (other letters error; lowercase `acgtn` warning),
/// - empty sequences (error), length vs `task.seq_len_bp` (warning).
pub fn validate_split(
    task: &TaskSpec,
    name: SplitName,
    split: &Split,
    report: &mut ValidationReport,
) {
    let file = split.file.as_path();
    if split.is_empty() {
        report.push(Severity::Error, file, None, "no data rows".into());
        return;
    }
    if let Some(rows) = task.rows {
        let want = match name {
            SplitName::Train => rows.train,
            SplitName::Dev => rows.dev,
            SplitName::Test => rows.test,
        };
        if want != split.len() {
            report.push(
                Severity::Warning,
                file,
                None,
                format!("{} rows, the paper lists {want}", split.len()),
            );
        }
    }

    let mut bad_label = RowIssues {
        severity: Severity::Error,
        file,
        what: "an out-of-range label",
        count: 0,
    };
    if let Some(n) = task.num_labels {
        for (i, &l) in split.labels.iter().enumerate() {
            if l as usize >= n {
                bad_label.add(report, i, format!("label {l} outside 0..{}", n - 1));
            }
        }
        if name == SplitName::Train {
            let missing: Vec<usize> = (0..n)
                .filter(|c| !split.labels.iter().any(|&l| l as usize == *c))
                .collect();
            if !missing.is_empty() {
                report.push(
                    Severity::Warning,
                    file,
                    None,
                    format!("classes {missing:?} never occur"),
                );
            }
        }
    }
    bad_label.finish(report);

    let mut bad_char = RowIssues {
        severity: Severity::Error,
        file,
        what: "characters outside ACGTN",
        count: 0,
    };
    let mut lower = RowIssues {
        severity: Severity::Warning,
        file,
        what: "lowercase bases",
        count: 0,
    };
    let mut empty = RowIssues {
        severity: Severity::Error,
        file,
        what: "an empty sequence",
        count: 0,
    };
    let mut length = RowIssues {
        severity: Severity::Warning,
        file,
        what: "an unexpected length",
        count: 0,
    };
    let columns: Vec<(&str, &[String])> = match &split.pairs {
        None => vec![("sequence", split.sequences.as_slice())],
        Some(p) => vec![("seq1", split.sequences.as_slice()), ("seq2", p.as_slice())],
    };
    for (col, seqs) in columns {
        for (i, s) in seqs.iter().enumerate() {
            if s.is_empty() {
                empty.add(report, i, format!("empty {col}"));
                continue;
            }
            if let Some((pos, c)) = s.char_indices().find(|(_, c)| {
                !matches!(c, 'A' | 'C' | 'G' | 'T' | 'N' | 'a' | 'c' | 'g' | 't' | 'n')
            }) {
                bad_char.add(
                    report,
                    i,
                    format!("{col} has {c:?} at position {} (allowed: ACGTN)", pos + 1),
                );
            } else if s.bytes().any(|b| b.is_ascii_lowercase()) {
                lower.add(report, i, format!("{col} has lowercase bases"));
            }
            if let Some(bp) = task.seq_len_bp
                && s.len() != bp
            {
                length.add(report, i, format!("{col} is {} bp, expected {bp}", s.len()));
            }
        }
    }
    bad_char.finish(report);
    lower.finish(report);
    empty.finish(report);
    length.finish(report);
}
