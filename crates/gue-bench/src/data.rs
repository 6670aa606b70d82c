//! Loading GUE splits (CSV, TSV, Parquet) into memory.
//!
//! A dataset directory holds `train`, `dev` and `test` files with header
//! `sequence,label` (single input) or `seq1,seq2,label` (pair input). Structural
//! problems (unreadable file, wrong columns, a label that is not an integer) are
//! [`DataError`]s naming the file and row; content checks against the registry
//! live in [`crate::validate`].

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::DataError;
use crate::registry::{InputKind, TaskSpec};
use crate::validate::{Severity, ValidationReport, validate_split};

/// Class label (labels of a task are `0..num_labels`).
pub type Label = u32;

/// Environment variable naming the directory that holds the GUE datasets
/// (`$GUE_DATA_ROOT/EMP/H3/train.csv`, ...).
pub const DATA_ROOT_ENV: &str = "GUE_DATA_ROOT";

/// The three splits of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitName {
    /// Training data.
    Train,
    /// Validation data (model selection).
    Dev,
    /// Held-out test data (reported numbers).
    Test,
}

impl SplitName {
    /// All splits in order.
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Dev, SplitName::Test];

    /// File stem: `train`, `dev` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Dev => "dev",
            SplitName::Test => "test",
        }
    }
}

/// One split held in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Split {
    /// File it was read from.
    pub file: PathBuf,
    /// First (or only) sequence of each example.
    pub sequences: Vec<String>,
    /// Second sequence of each example for pair tasks, `None` for single-input tasks.
    pub pairs: Option<Vec<String>>,
    /// Class label of each example.
    pub labels: Vec<Label>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The splits of one dataset; a split whose file is absent is `None`
/// (several public GUE copies lack `train`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskData {
    /// Training split.
    pub train: Option<Split>,
    /// Validation split.
    pub dev: Option<Split>,
    /// Test split.
    pub test: Option<Split>,
}

impl TaskData {
    /// The split called `name`.
    pub fn get(&self, name: SplitName) -> Option<&Split> {
        match name {
            SplitName::Train => self.train.as_ref(),
            SplitName::Dev => self.dev.as_ref(),
            SplitName::Test => self.test.as_ref(),
        }
    }

    fn slot(&mut self, name: SplitName) -> &mut Option<Split> {
        match name {
            SplitName::Train => &mut self.train,
            SplitName::Dev => &mut self.dev,
            SplitName::Test => &mut self.test,
        }
    }

    /// Number of classes for `task`: the registry's `num_labels` when known,
    /// otherwise one more than the largest label in any loaded split (upstream
    /// counts the distinct train labels, which is the same for labels `0..n`).
    /// `None` when neither is available.
    pub fn num_classes(&self, task: &TaskSpec) -> Option<usize> {
        task.num_labels.or_else(|| {
            [&self.train, &self.dev, &self.test]
                .into_iter()
                .flatten()
                .flat_map(|s| s.labels.iter())
                .max()
                .map(|&m| m as usize + 1)
        })
    }

    /// True when all three splits are present.
    pub fn is_complete(&self) -> bool {
        self.train.is_some() && self.dev.is_some() && self.test.is_some()
    }
}

/// The data root: `flag` if given, else `$GUE_DATA_ROOT`, else `None`.
pub fn data_root(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(DATA_ROOT_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The file of split `name` in `dir`: the first of `name.csv`, `name.tsv`,
/// `name.parquet` that exists.
pub fn find_split_file(dir: &Path, name: SplitName) -> Option<PathBuf> {
    ["csv", "tsv", "parquet"]
        .iter()
        .map(|ext| dir.join(format!("{}.{ext}", name.as_str())))
        .find(|p| p.is_file())
}

/// Read one split file (format chosen by extension: `.csv`, `.tsv`, `.parquet`).
///
/// Required columns: `sequence,label` for [`InputKind::Single`],
/// `seq1,seq2,label` for [`InputKind::Pair`]; extra columns are ignored.
/// Sequences are kept as written (validation reports case and alphabet).
pub fn read_split(path: &Path, input: InputKind) -> Result<Split, DataError> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        return read_table_split(path, input);
    }
    let df = read_frame(path)?;
    let expected: &[&str] = match input {
        InputKind::Single => &["sequence", "label"],
        InputKind::Pair => &["seq1", "seq2", "label"],
    };
    let found: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    if found.is_empty() {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    }
    if !expected.iter().all(|e| found.iter().any(|f| f == e)) {
        return Err(DataError::Columns {
            file: path.to_path_buf(),
            expected: expected.iter().map(|s| s.to_string()).collect(),
            found,
        });
    }
    let text_col = |name: &str| -> Result<Vec<Option<String>>, DataError> {
        let col = df
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| read_err(path, e))?;
        let ca = col.str().map_err(|e| read_err(path, e))?;
        Ok(ca.into_iter().map(|v| v.map(str::to_string)).collect())
    };
    let row_err = |i: usize, message: String| DataError::Row {
        file: path.to_path_buf(),
        row: i + 1,
        line: i + 2,
        message,
    };
    let required = |col: &str, values: Vec<Option<String>>| -> Result<Vec<String>, DataError> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| row_err(i, format!("missing value in column {col:?}"))))
            .collect()
    };
    let first = if input == InputKind::Single {
        "sequence"
    } else {
        "seq1"
    };
    let sequences = required(first, text_col(first)?)?;
    let pairs = match input {
        InputKind::Single => None,
        InputKind::Pair => Some(required("seq2", text_col("seq2")?)?),
    };
    let labels = required("label", text_col("label")?)?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.trim()
                .parse::<Label>()
                .map_err(|_| row_err(i, format!("label {s:?} is not a non-negative integer")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Split {
        file: path.to_path_buf(),
        sequences,
        pairs,
        labels,
    })
}

/// A CSV/TSV split through the workspace's one table reader ([`crate::table::Table`]).
fn read_table_split(path: &Path, input: InputKind) -> Result<Split, DataError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("csv" | "tsv")) {
        return Err(DataError::Format {
            file: path.to_path_buf(),
        });
    }
    let table = crate::table::Table::read(path)?;
    let h = &table.header;
    // GUE files name their columns exactly (the table reader alone also takes `seq`).
    let (label, first, second) = match input {
        InputKind::Single => (h.col("label"), h.col("sequence"), Some(0)),
        InputKind::Pair => (h.col("label"), h.col("seq1"), h.col("seq2")),
    };
    let (Some(label), Some(first), Some(second)) = (label, first, second) else {
        let expected: &[&str] = match input {
            InputKind::Single => &["sequence", "label"],
            InputKind::Pair => &["seq1", "seq2", "label"],
        };
        return Err(DataError::Columns {
            file: path.to_path_buf(),
            expected: expected.iter().map(|s| s.to_string()).collect(),
            found: h.names.clone(),
        });
    };
    let (mut sequences, mut pairs, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (row, (i, line)) in table.rows().enumerate() {
        let f = crate::table::split_fields(line, h.sep);
        let err = |message: String| DataError::Row {
            file: path.to_path_buf(),
            row: row + 1,
            line: i + 1,
            message,
        };
        let cell = |c: usize, name: &str| {
            f.get(c)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| err(format!("missing value in column {name:?}")))
        };
        sequences.push(cell(first, "sequence")?);
        if input == InputKind::Pair {
            pairs.push(cell(second, "seq2")?);
        }
        let l = cell(label, "label")?;
        labels.push(
            l.parse::<Label>()
                .map_err(|_| err(format!("label {l:?} is not a non-negative integer")))?,
        );
    }
    Ok(Split {
        file: path.to_path_buf(),
        sequences,
        pairs: (input == InputKind::Pair).then_some(pairs),
        labels,
    })
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Read {
        file: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn read_frame(path: &Path) -> Result<DataFrame, DataError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let sep = match ext.as_deref() {
        Some("csv") => b',',
        Some("tsv") => b'\t',
        Some("parquet") => {
            let f = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
            return ParquetReader::new(f)
                .finish()
                .map_err(|e| read_err(path, e));
        }
        _ => {
            return Err(DataError::Format {
                file: path.to_path_buf(),
            });
        }
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    if meta.len() == 0 {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    }
    CsvReadOptions::default()
        .with_has_header(true)
        // Every column as text: labels are parsed by us so errors can name the row.
        .with_infer_schema_length(Some(0))
        .map_parse_options(|o| o.with_separator(sep))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| read_err(path, e))
}

/// Result of loading one dataset.
#[derive(Debug)]
pub struct LoadedTask {
    /// The splits that could be read.
    pub data: TaskData,
    /// Problems found: missing files, unreadable files, content checks.
    pub report: ValidationReport,
}

impl LoadedTask {
    /// True when train, dev and test are present and no error was reported.
    pub fn is_usable(&self) -> bool {
        self.data.is_complete() && !self.report.has_errors()
    }
}

/// Load and validate every split of `task` under `root`.
///
/// Missing files and unreadable files are recorded in the report (an absent
/// `train` is an error for fine-tuning but the other splits are still loaded);
/// this function itself never fails, so a benchmark run can skip the task.
pub fn load_task(root: &Path, task: &TaskSpec) -> LoadedTask {
    let dir = task.dir(root);
    let mut data = TaskData::default();
    let mut report = ValidationReport::default();
    if !dir.is_dir() {
        report.push(
            Severity::Error,
            &dir,
            None,
            "dataset directory not found".into(),
        );
        return LoadedTask { data, report };
    }
    for name in SplitName::ALL {
        let Some(file) = find_split_file(&dir, name) else {
            report.push(
                Severity::Error,
                &dir.join(format!("{}.csv", name.as_str())),
                None,
                format!("{} split not found (.csv/.tsv/.parquet)", name.as_str()),
            );
            continue;
        };
        match read_split(&file, task.input) {
            Ok(split) => {
                validate_split(task, name, &split, &mut report);
                *data.slot(name) = Some(split);
            }
            Err(e) => report.push_data_error(&e),
        }
    }
    LoadedTask { data, report }
}
