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
        ratio(self.correct(), self.total())
    }
    /// Recall of each class: correct / samples of that class (NaN-free: 0 for absent classes).
    pub fn per_class(&self) -> [f64; CLASSES] {
        let samples = |i: usize| self.m[i].iter().map(|&c| c as u64).sum();
        std::array::from_fn(|i| ratio(self.m[i][i].into(), samples(i)))
    }
    /// A text table: rows are true classes, columns predictions, then the per-class accuracy.
    pub fn to_table(&self) -> String {
        let mut s = format!("{:>9} |", "true\\pred");
        (0..CLASSES).for_each(|j| s += &format!(" {j:>5}"));
        s += " | accuracy\n";
        s += &"-".repeat(9 + 2 + 6 * CLASSES + 11);
        for (i, (row, accuracy)) in self.m.iter().zip(self.per_class()).enumerate() {
            s += &format!("\n{i:>9} |");
            row.iter().for_each(|c| s += &format!(" {c:>5}"));
            s += &format!(" | {accuracy:.4}");
        }
        s + "\n"
    }
}

/// `n / of` for `n ≤ of`: 0 when there is nothing to divide.
fn ratio(n: u64, of: u64) -> f64 {
    n as f64 / of.max(1) as f64
}
