//! `metrics.csv`: one row per evaluation point of a run.

use std::path::Path;

use anyhow::{Context, Result};

use crate::train::Record;

/// Write the records as CSV under the header `iteration,epoch,loss,train_accuracy,
/// test_accuracy` (written even for no records); a missing accuracy is an empty cell.
pub fn write_csv(path: &Path, records: &[Record]) -> Result<()> {
    let write = || -> Result<()> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_path(path)?;
        w.write_record("iteration,epoch,loss,train_accuracy,test_accuracy".split(','))?;
        records.iter().try_for_each(|r| w.serialize(r))?;
        Ok(w.flush()?)
    };
    write().with_context(|| format!("{}: cannot write", path.display()))
}
