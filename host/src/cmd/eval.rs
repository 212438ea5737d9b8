//! `shinso eval`: a saved model measured on a data set.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use super::PlotFormat;
use crate::data::DataArgs;
use crate::io::{self, create_out_dir, Loaded};
use crate::nets::{ActKind, Preset, INPUT};
use crate::report::plot;
use crate::train;
use crate::ui::{say, write_json};

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
    pub activation: Option<ActKind>,
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
    let Loaded {
        mut model,
        activation: act,
        ..
    } = io::load(&a.model, a.preset, a.activation)?;
    let data = a.data.load()?;
    let ds = if a.on_train { &data.train } else { &data.test };
    if ds.pixels() != INPUT {
        bail!(
            "the model takes 28x28 images; {} holds {}x{}",
            data.dir.display(),
            ds.rows,
            ds.cols
        );
    }
    if a.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let conf = train::evaluate(&mut *model, ds, a.limit.unwrap_or(usize::MAX))?;
    let set = if a.on_train { "training" } else { "test" };
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    say(&format!(
        "{} ({}, {}, {} parameters) on the {set} set of {}: accuracy {:.4} ({} of {})",
        a.model.display(),
        model.preset().name(),
        act.name(),
        model.params(),
        data.dir.display(),
        conf.accuracy(),
        conf.correct(),
        conf.total()
    ));
    say("");
    say(&conf.to_table(&names));
    let out = match &a.out {
        Some(d) => d.clone(),
        None => a
            .model
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    create_out_dir(&out)?;
    let png = out.join(format!("confusion.{}", a.plot_format.ext()));
    plot::Heatmap {
        title: format!("confusion ({set}): {}", model.preset().name()),
        confusion: &conf,
        names,
    }
    .save(&png)?;
    let report = serde_json::json!({
        "model": a.model.display().to_string(),
        "preset": model.preset().name(),
        "activation": act.name(),
        "data": data.dir.display().to_string(),
        "set": set,
        "samples": conf.total(),
        "accuracy": conf.accuracy(),
        "per_class_accuracy": conf.per_class().to_vec(),
        "confusion": conf.m,
    });
    write_json(&out.join("eval.json"), &report)?;
    say(&format!(
        "wrote {} and {}",
        png.display(),
        out.join("eval.json").display()
    ));
    Ok(())
}
