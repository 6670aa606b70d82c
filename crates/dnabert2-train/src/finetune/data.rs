//! Fine-tuning data: labelled splits read from `train.csv` / `dev.csv` / `test.csv`
//! (or handed over by gue-bench), with the problem type inferred from the labels.
//!
//! A split file has a header naming its columns: `sequence` (single input) or
//! `seq1,seq2` (pair input), and `label`. Other columns are ignored. Labels are
//! - integers `0..n` for single-label classification (`n` = largest train label + 1);
//! - real numbers (any label with `.`/`e`) for regression (one output, MSE);
//! - multi-hot lists of `0`/`1` separated by spaces or `;` (`"1 0 1"`) for
//!   multi-label classification (BCE).
//!
//! Every error names the file and the 1-based line.

use std::path::{Path, PathBuf};

use dnabert2_model::ProblemType;

use crate::error::{Result, TrainError};

/// The labels of a split, one entry per example.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class index per example.
    Class(Vec<u32>),
    /// Real-valued target per example (regression).
    Real(Vec<f32>),
    /// Multi-hot row per example (`num_labels` values of 0/1).
    Multi(Vec<Vec<f32>>),
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Class(v) => v.len(),
            Targets::Real(v) => v.len(),
            Targets::Multi(v) => v.len(),
        }
    }

    /// True when there is no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The problem type these targets imply.
    pub fn problem(&self) -> ProblemType {
        match self {
            Targets::Class(_) => ProblemType::SingleLabel,
            Targets::Real(_) => ProblemType::Regression,
            Targets::Multi(_) => ProblemType::MultiLabel,
        }
    }
}

/// One labelled split in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    /// File the split came from (for error messages).
    pub file: PathBuf,
    /// First (or only) sequence of each example.
    pub seq1: Vec<String>,
    /// Second sequence of each example for pair input.
    pub seq2: Option<Vec<String>>,
    /// Labels.
    pub targets: Targets,
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.seq1.len()
    }

    /// True when the split is empty.
    pub fn is_empty(&self) -> bool {
        self.seq1.is_empty()
    }

    /// The rows at `idx` (in that order).
    fn select(&self, idx: &[usize]) -> Self {
        let pick = |v: &[String]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        Self {
            file: self.file.clone(),
            seq1: pick(&self.seq1),
            seq2: self.seq2.as_deref().map(pick),
            targets: match &self.targets {
                Targets::Class(y) => Targets::Class(idx.iter().map(|&i| y[i]).collect()),
                Targets::Real(y) => Targets::Real(idx.iter().map(|&i| y[i]).collect()),
                Targets::Multi(y) => Targets::Multi(idx.iter().map(|&i| y[i].clone()).collect()),
            },
        }
    }

    /// A deterministic subsample of `fraction` of the rows for `seed`, in file order. For
    /// class labels it is stratified: each class keeps `round(n_c * fraction)` rows, at
    /// least one, so every class stays present; other targets keep `round(n * fraction)`
    /// (at least one) rows drawn uniformly.
    ///
    /// ```
    /// use dnabert2_train::finetune::data::{Examples, Targets};
    /// let e = Examples {
    ///     file: "train.csv".into(),
    ///     seq1: (0..100).map(|i| format!("ACGT{i}")).collect(),
    ///     seq2: None,
    ///     targets: Targets::Class((0..100).map(|i| u32::from(i >= 90)).collect()),
    /// };
    /// let s = e.subsample(0.2, 7).unwrap();
    /// assert_eq!(s.len(), 20); // 18 of class 0, 2 of class 1
    /// assert_eq!(s, e.subsample(0.2, 7).unwrap());
    /// assert_ne!(s, e.subsample(0.2, 8).unwrap());
    /// assert!(e.subsample(0.0, 7).is_err());
    /// ```
    pub fn subsample(&self, fraction: f64, seed: u64) -> Result<Self> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(TrainError::Config(format!(
                "train fraction {fraction} must be in (0, 1]"
            )));
        }
        if fraction == 1.0 {
            return Ok(self.clone());
        }
        let n = self.len();
        let groups: Vec<Vec<usize>> = match &self.targets {
            Targets::Class(y) => {
                let k = y.iter().max().map_or(0, |&m| m as usize + 1);
                let mut g = vec![Vec::new(); k];
                for (i, &c) in y.iter().enumerate() {
                    g[c as usize].push(i);
                }
                g.into_iter().filter(|v| !v.is_empty()).collect()
            }
            _ => vec![(0..n).collect()],
        };
        let mut keep = Vec::new();
        for (gi, mut g) in groups.into_iter().enumerate() {
            let take = ((g.len() as f64 * fraction).round() as usize).clamp(1, g.len());
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(crate::rng::derive_seed(
                seed,
                crate::rng::Stream::Data,
                u64::MAX,
                gi as u64,
            ));
            g.shuffle(&mut rng);
            keep.extend_from_slice(&g[..take]);
        }
        keep.sort_unstable();
        Ok(self.select(&keep))
    }

    /// Converts a gue-bench split (integer class labels).
    pub fn from_gue(split: &gue_bench::Split) -> Self {
        Self {
            file: split.file.clone(),
            seq1: split.sequences.clone(),
            seq2: split.pairs.clone(),
            targets: Targets::Class(split.labels.clone()),
        }
    }
}

/// What the labels are: the model crate's [`ProblemType`], under the name fine-tuning uses.
pub use dnabert2_model::ProblemType as Problem;

/// The problem a split's targets imply.
fn problem_of(t: &Targets) -> Problem {
    match t {
        Targets::Class(_) => Problem::SingleLabel,
        Targets::Real(_) => Problem::Regression,
        Targets::Multi(_) => Problem::MultiLabel,
    }
}

/// The three splits of a fine-tuning task plus what was inferred from them.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSplits {
    /// Training examples.
    pub train: Examples,
    /// Validation examples (checkpoint selection).
    pub dev: Examples,
    /// Test examples (reported metrics).
    pub test: Examples,
    /// The problem type.
    pub problem: Problem,
    /// Number of model outputs (classes, 1 for regression, labels for multi-label).
    pub num_labels: usize,
}

impl TaskSplits {
    /// Assembles splits, inferring the number of outputs from the train labels and
    /// checking dev/test labels fit (errors name the file and line).
    pub fn new(train: Examples, dev: Examples, test: Examples) -> Result<Self> {
        let problem = problem_of(&train.targets);
        for s in [&dev, &test] {
            if problem_of(&s.targets) != problem && problem != Problem::Regression {
                return Err(data_err(
                    &s.file,
                    None,
                    format!(
                        "labels are {:?} but train labels are {problem:?}",
                        problem_of(&s.targets)
                    ),
                ));
            }
            if s.seq2.is_some() != train.seq2.is_some() {
                return Err(data_err(
                    &s.file,
                    None,
                    "pair/single input differs from the train split".into(),
                ));
            }
        }
        for s in [&train, &dev, &test] {
            if s.is_empty() {
                return Err(data_err(&s.file, None, "split has no examples".into()));
            }
        }
        let num_labels = match &train.targets {
            Targets::Class(l) => {
                let n = l.iter().copied().max().unwrap_or(0) as usize + 1;
                if n < 2 {
                    return Err(data_err(
                        &train.file,
                        None,
                        "train labels hold a single class".into(),
                    ));
                }
                for s in [&dev, &test] {
                    if let Targets::Class(v) = &s.targets
                        && let Some(i) = v.iter().position(|&y| y as usize >= n)
                    {
                        return Err(data_err(
                            &s.file,
                            Some(i + 2),
                            format!("label {} is not a train class (0..{n})", v[i]),
                        ));
                    }
                }
                n
            }
            Targets::Real(_) => 1,
            Targets::Multi(rows) => rows.first().map(Vec::len).unwrap_or(0),
        };
        // Regression dev/test files may hold integer-looking labels only.
        let (dev, test) = if problem == Problem::Regression {
            (as_real(dev), as_real(test))
        } else {
            (dev, test)
        };
        if let (Targets::Multi(_), n) = (&train.targets, num_labels) {
            for s in [&dev, &test] {
                if let Targets::Multi(rows) = &s.targets
                    && let Some(i) = rows.iter().position(|r| r.len() != n)
                {
                    return Err(data_err(
                        &s.file,
                        Some(i + 2),
                        format!("expected {n} labels, found {}", rows[i].len()),
                    ));
                }
            }
        }
        Ok(Self {
            train,
            dev,
            test,
            problem,
            num_labels,
        })
    }

    /// Reads `dir/train.csv`, `dir/dev.csv`, `dir/test.csv` (`.tsv` also accepted).
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let find = |stem: &str| -> Result<PathBuf> {
            ["csv", "tsv"]
                .iter()
                .map(|e| dir.join(format!("{stem}.{e}")))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    data_err(
                        &dir.join(format!("{stem}.csv")),
                        None,
                        "file not found".into(),
                    )
                })
        };
        let train = read_split(&find("train")?)?;
        let dev = read_split(&find("dev")?)?;
        let test = read_split(&find("test")?)?;
        Self::new(train, dev, test)
    }

    /// Whether the task has pair input.
    pub fn is_pair(&self) -> bool {
        self.train.seq2.is_some()
    }
}

fn as_real(mut e: Examples) -> Examples {
    if let Targets::Class(v) = &e.targets {
        e.targets = Targets::Real(v.iter().map(|&y| y as f32).collect());
    }
    e
}

pub(crate) use gue_bench::table::{Table, split_fields};

pub(crate) fn data_err(path: &Path, line: Option<usize>, message: String) -> TrainError {
    TrainError::Data {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// One label value as written.
enum RawLabel {
    Int(u32),
    Real(f32),
    Multi(Vec<f32>),
}

fn parse_label(s: &str) -> std::result::Result<RawLabel, String> {
    let s = s.trim();
    if s.contains(' ') || s.contains(';') {
        let vals: std::result::Result<Vec<f32>, String> = s
            .split([' ', ';'])
            .filter(|t| !t.is_empty())
            .map(|t| match t {
                "0" => Ok(0.0),
                "1" => Ok(1.0),
                other => Err(format!("multi-label value `{other}` is not 0 or 1")),
            })
            .collect();
        return vals.map(RawLabel::Multi);
    }
    if let Ok(v) = s.parse::<u32>() {
        return Ok(RawLabel::Int(v));
    }
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(RawLabel::Real(v)),
        _ => Err(format!(
            "label `{s}` is not an integer class, a number or a 0/1 list"
        )),
    }
}

/// Reads one labelled split file (header `sequence,label` or `seq1,seq2,label`).
pub fn read_split(path: &Path) -> Result<Examples> {
    let table = Table::read(path)?;
    let header = &table.header;
    let lines = table.rows();
    let label_col = header
        .col("label")
        .or_else(|| header.col("labels"))
        .ok_or_else(|| {
            data_err(
                path,
                Some(1),
                format!("header {:?} has no `label` column", header.names),
            )
        })?;
    let (mut seq1, mut seq2) = (Vec::new(), header.seq2.map(|_| Vec::new()));
    let mut raw = Vec::new();
    for (i, line) in lines {
        let f = split_fields(line, header.sep);
        let line_no = i + 1;
        let get = |c: usize| -> Result<&String> {
            f.get(c).filter(|s| !s.is_empty()).ok_or_else(|| {
                data_err(
                    path,
                    Some(line_no),
                    format!("missing value for column `{}`", header.names[c]),
                )
            })
        };
        seq1.push(get(header.seq1)?.clone());
        if let (Some(c), Some(v)) = (header.seq2, seq2.as_mut()) {
            v.push(get(c)?.clone());
        }
        raw.push(parse_label(get(label_col)?).map_err(|m| data_err(path, Some(line_no), m))?);
    }
    let targets = if raw.iter().all(|r| matches!(r, RawLabel::Int(_))) {
        Targets::Class(
            raw.into_iter()
                .map(|r| if let RawLabel::Int(v) = r { v } else { 0 })
                .collect(),
        )
    } else if raw.iter().all(|r| matches!(r, RawLabel::Multi(_))) {
        Targets::Multi(
            raw.into_iter()
                .map(|r| {
                    if let RawLabel::Multi(v) = r {
                        v
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
        )
    } else if let Some(i) = raw.iter().position(|r| matches!(r, RawLabel::Multi(_))) {
        return Err(data_err(
            path,
            Some(i + 2),
            "multi-label list mixed with scalar labels".into(),
        ));
    } else {
        Targets::Real(
            raw.into_iter()
                .map(|r| match r {
                    RawLabel::Int(v) => v as f32,
                    RawLabel::Real(v) => v,
                    RawLabel::Multi(_) => 0.0,
                })
                .collect(),
        )
    };
    Ok(Examples {
        file: path.to_path_buf(),
        seq1,
        seq2,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_quotes() {
        assert_eq!(
            split_fields("a,\"b,c\",\"d\"\"e\"", ','),
            ["a", "b,c", "d\"e"]
        );
    }

    #[test]
    fn label_kinds() {
        assert!(matches!(parse_label("3"), Ok(RawLabel::Int(3))));
        assert!(matches!(parse_label("0.5"), Ok(RawLabel::Real(_))));
        assert!(matches!(parse_label("1 0 1"), Ok(RawLabel::Multi(v)) if v == [1.0, 0.0, 1.0]));
        assert!(parse_label("x").is_err());
    }
}
