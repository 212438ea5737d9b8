//! `metrics.csv`: one row per evaluation point of a run.

use std::path::Path;

use anyhow::{Context, Result};

use crate::train::Record;

/// Write the records as CSV under the header `iteration,epoch,loss,train_accuracy,
/// test_accuracy` (written even for no records); a missing accuracy is an empty cell.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<()> {
    let cannot = || format!("{}: cannot write", path.display());
    let builder = csv::WriterBuilder::new().has_headers(false).from_path(path);
    let mut w = builder.with_context(cannot)?;
    let header = "iteration,epoch,loss,train_accuracy,test_accuracy";
    w.write_record(header.split(',')).with_context(cannot)?;
    for r in records {
        w.serialize(r).with_context(cannot)?;
    }
    w.flush().with_context(cannot)
}
