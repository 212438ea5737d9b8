//! `shinso eval`: a saved model measured on a data set.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use clap::Args;

use super::PlotFormat;
use crate::data::DataArgs;
use crate::io::{self, create_out_dir};
use crate::nets::Preset;
use crate::report::plot;
use crate::train;
use crate::ui::{say, write_json};
use shinso::ActivationKind;

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// A model written by `shinso train` (or any safetensors file with the documented names)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Preset of the model (default: from the file's metadata, else found by tensor shapes)
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Hidden activation (default: from the file's metadata, else relu)
    #[arg(long, value_enum)]
    pub activation: Option<ActivationKind>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate on the training set instead of the test set
    #[arg(long)]
    pub on_train: bool,
    /// Only the first N images of the set
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Where to write confusion.png and eval.json (default: next to the model)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Plot format
    #[arg(long, value_enum, default_value = "png")]
    pub plot_format: PlotFormat,
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let loaded = io::load(&a.model, a.preset, a.activation)?;
    let mut model = loaded.model;
    let data = a.data.load()?;
    let (set, ds) = [("test", &data.test), ("training", &data.train)][a.on_train as usize];
    ensure!(a.limit != Some(0), "--limit must be at least 1");
    let conf = train::evaluate(&mut *model, ds, a.limit.unwrap_or(usize::MAX))?;
    let (preset, activation) = (model.preset().name(), loaded.knobs.activation.name());
    let (file, params, dir) = (a.model.display(), model.params(), data.dir.display());
    let (accuracy, correct, total) = (conf.accuracy(), conf.correct(), conf.total());
    say(&format!(
        "{file} ({preset}, {activation}, {params} parameters) on the {set} set of {dir}: accuracy {accuracy:.4} ({correct} of {total})\n\n{}",
        conf.to_table()
    ));
    // next to the model unless told otherwise
    let beside = a.model.parent().filter(|p| !p.as_os_str().is_empty());
    let out = (a.out.as_deref().or(beside)).unwrap_or(Path::new("."));
    create_out_dir(out)?;
    let plot = out.join(format!("confusion.{}", a.plot_format.ext()));
    let json = out.join("eval.json");
    plot::Heatmap {
        title: format!("confusion ({set}): {preset}"),
        confusion: &conf,
    }
    .save(&plot)?;
    let report = serde_json::json!({
        "model": file.to_string(),
        "preset": preset,
        "activation": activation,
        "data": dir.to_string(),
        "set": set,
        "samples": total,
        "accuracy": accuracy,
        "per_class_accuracy": conf.per_class().to_vec(),
        "confusion": conf.m,
    });
    write_json(&json, &report)?;
    say(&format!("wrote {} and {}", plot.display(), json.display()));
    Ok(())
}
