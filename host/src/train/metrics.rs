//! What a run measures: its evaluation points and confusion matrices.

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
