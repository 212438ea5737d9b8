//! Training records: `metrics.csv` (one row per evaluation point), confusion matrices and
//! `summary.json`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::data::CLASSES;

/// One evaluation point of a training run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Optimizer steps done so far.
    pub iteration: usize,
    /// Epochs done so far (fractional: iteration × batch / training-set size).
    pub epoch: f64,
    /// Mean training loss since the previous record.
    pub loss: f64,
    /// Accuracy on the training set (or the sample of it that was evaluated).
    pub train_accuracy: Option<f64>,
    /// Accuracy on the test set.
    pub test_accuracy: Option<f64>,
}

/// The column header of `metrics.csv`.
pub const CSV_HEADER: &str = "iteration,epoch,loss,train_accuracy,test_accuracy";

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

/// Write the records as CSV; missing accuracies are empty cells.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<()> {
    let mut s = String::with_capacity(64 * (records.len() + 1));
    s.push_str(CSV_HEADER);
    s.push('\n');
    for r in records {
        s.push_str(&format!(
            "{},{:.4},{:.6},{},{}\n",
            r.iteration,
            r.epoch,
            r.loss,
            opt(r.train_accuracy),
            opt(r.test_accuracy)
        ));
    }
    std::fs::write(path, s).with_context(|| format!("{}: cannot write", path.display()))
}

/// Read a `metrics.csv` written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == CSV_HEADER => {}
        _ => anyhow::bail!(
            "{}: not a metrics file (expected header `{CSV_HEADER}`)",
            path.display()
        ),
    }
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = || anyhow::anyhow!("{}: line {}: malformed row `{line}`", path.display(), n + 2);
        if f.len() != 5 {
            return Err(bad());
        }
        let o = |s: &str| -> Result<Option<f64>> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| bad())
            }
        };
        out.push(Record {
            iteration: f[0].parse().map_err(|_| bad())?,
            epoch: f[1].parse().map_err(|_| bad())?,
            loss: f[2].parse().map_err(|_| bad())?,
            train_accuracy: o(f[3])?,
            test_accuracy: o(f[4])?,
        });
    }
    Ok(out)
}

/// A CSV writer that appends rows as training goes, so a killed run keeps its history.
pub struct CsvLog {
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvLog {
    pub fn create(path: &Path) -> Result<Self> {
        let f = std::fs::File::create(path)
            .with_context(|| format!("{}: cannot create", path.display()))?;
        let mut file = std::io::BufWriter::new(f);
        writeln!(file, "{CSV_HEADER}")?;
        Ok(Self { file })
    }
    pub fn push(&mut self, r: &Record) -> Result<()> {
        writeln!(
            self.file,
            "{},{:.4},{:.6},{},{}",
            r.iteration,
            r.epoch,
            r.loss,
            opt(r.train_accuracy),
            opt(r.test_accuracy)
        )?;
        self.file.flush()?;
        Ok(())
    }
}

/// `m[true][predicted]` counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub m: [[u32; CLASSES]; CLASSES],
}

impl Confusion {
    pub fn add(&mut self, truth: u8, predicted: u8) {
        self.m[truth as usize][predicted as usize] += 1;
    }
    pub fn total(&self) -> u64 {
        self.m.iter().flatten().map(|&c| c as u64).sum()
    }
    pub fn correct(&self) -> u64 {
        (0..CLASSES).map(|i| self.m[i][i] as u64).sum()
    }
    pub fn accuracy(&self) -> f64 {
        let t = self.total();
        if t == 0 {
            0.0
        } else {
            self.correct() as f64 / t as f64
        }
    }
    /// Recall of each class: correct / samples of that class (NaN-free: 0 for absent classes).
    pub fn per_class(&self) -> [f64; CLASSES] {
        let mut out = [0.0; CLASSES];
        for (i, row) in self.m.iter().enumerate() {
            let n: u64 = row.iter().map(|&c| c as u64).sum();
            out[i] = if n == 0 {
                0.0
            } else {
                row[i] as f64 / n as f64
            };
        }
        out
    }
    /// A text table: rows are true classes, columns predictions, then the per-class accuracy.
    pub fn to_table(&self, names: &[String]) -> String {
        let w2 = names.iter().map(|n| n.len()).max().unwrap_or(1).max(9);
        let mut s = format!("{:>w2$} |", "true\\pred");
        for name in names.iter().take(CLASSES) {
            s.push_str(&format!(" {:>5}", short(name)));
        }
        s.push_str(" | accuracy\n");
        s.push_str(&"-".repeat(w2 + 2 + 6 * CLASSES + 11));
        s.push('\n');
        let pc = self.per_class();
        for i in 0..CLASSES {
            s.push_str(&format!("{:>w2$} |", names[i]));
            for j in 0..CLASSES {
                s.push_str(&format!(" {:>5}", self.m[i][j]));
            }
            s.push_str(&format!(" | {:.4}\n", pc[i]));
        }
        s
    }
}

fn short(s: &str) -> String {
    s.chars().take(5).collect()
}

/// Write any serialisable value as pretty JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("{}: cannot write", path.display()))
}

/// `summary.json` of a training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Everything needed to rerun: the resolved configuration.
    pub config: serde_json::Value,
    /// The data directory and the number of samples used.
    pub data: DataInfo,
    pub parameters: usize,
    pub iterations: usize,
    pub epochs: f64,
    pub final_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub best_test_accuracy: f64,
    pub per_class_test_accuracy: Vec<f64>,
    pub wall_time_s: f64,
    /// Training samples processed per second (optimizer steps only, evaluation excluded).
    pub samples_per_s: f64,
    /// Steps the core rejected (non-finite loss or gradient) and rolled back.
    pub skipped_steps: usize,
    /// Files written next to this summary.
    pub files: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataInfo {
    pub dir: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub rows: usize,
    pub cols: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metrics.csv");
        let rs = vec![
            Record {
                iteration: 0,
                epoch: 0.0,
                loss: 2.3,
                train_accuracy: Some(0.1),
                test_accuracy: Some(0.11),
            },
            Record {
                iteration: 100,
                epoch: 1.0,
                loss: 0.5,
                train_accuracy: None,
                test_accuracy: Some(0.9),
            },
        ];
        write_csv(&p, &rs).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("iteration,epoch,loss,train_accuracy,test_accuracy\n"));
        assert!(text.contains("100,1.0000,0.500000,,0.900000"));
        assert_eq!(read_csv(&p).unwrap(), rs);
        let mut log = CsvLog::create(&p).unwrap();
        for r in &rs {
            log.push(r).unwrap();
        }
        drop(log);
        assert_eq!(read_csv(&p).unwrap(), rs);
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        assert!(read_csv(&p)
            .unwrap_err()
            .to_string()
            .contains("not a metrics file"));
    }

    #[test]
    fn confusion_counts() {
        let mut c = Confusion::default();
        c.add(1, 1);
        c.add(1, 7);
        c.add(3, 3);
        assert_eq!(c.total(), 3);
        assert!((c.accuracy() - 2.0 / 3.0).abs() < 1e-12);
        let pc = c.per_class();
        assert_eq!(pc[1], 0.5);
        assert_eq!(pc[3], 1.0);
        assert_eq!(pc[0], 0.0);
        let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let t = c.to_table(&names);
        assert_eq!(t.lines().count(), 12);
    }
}
