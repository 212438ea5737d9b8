//! `metrics.csv`: one row per evaluation point of a run.

use std::path::Path;

use anyhow::{Context, Result};

use crate::train::Record;

/// Write the records as CSV under the header `iteration,epoch,loss,train_accuracy,
/// test_accuracy`; a missing accuracy is an empty cell.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<()> {
    let cannot = || format!("{}: cannot write", path.display());
    let mut w = csv::Writer::from_path(path).with_context(cannot)?;
    for r in records {
        w.serialize(r).with_context(cannot)?;
    }
    if records.is_empty() {
        w.write_record([
            "iteration",
            "epoch",
            "loss",
            "train_accuracy",
            "test_accuracy",
        ])
        .with_context(cannot)?;
    }
    w.flush().with_context(cannot)
}
