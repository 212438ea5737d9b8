//! The course's experiments as a table (`experiments.toml`, data rather than code): each
//! group's setup and what it shows, each run's configuration, the course's figure and the
//! note on how ours compares, and the course's claims the group's runs check.

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::nets::Preset;
use crate::train::TrainConfig;
use crate::ui::json_value;

/// The table; its format is described at its top.
const TABLE: &str = include_str!("experiments.toml");

/// An experiment group of the course (a section of the report), as the table writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub title: String,
    pub setup: String,
    /// What the group is about, and what differs from the course.
    pub intro: String,
    /// The runs (by the start of their names) whose training accuracy the figures show too.
    #[serde(default)]
    pub show_train: Vec<String>,
    /// The title of the figure of curves, where the usual one does not fit.
    pub curves_title: Option<String>,
    /// The curves' y axis fits the data instead of spanning 0–1.
    #[serde(default)]
    pub zoom: bool,
    /// The claims of the course its runs check.
    #[serde(default)]
    pub check: Vec<Claim>,
    /// The preset and configuration of every run, below the run's own.
    preset: Option<String>,
    #[serde(default)]
    config: serde_json::Map<String, Value>,
    run: Vec<RunRow>,
}

/// A claim of the course that the runs check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub claim: String,
    /// The group's runs (by the start of their names) and the range of their test accuracy.
    #[serde(default)]
    pub test: Vec<(String, f64, f64)>,
    #[serde(default)]
    pub kind: Kind,
}

/// How a claim is checked: on the test accuracies listed, or by its own rule.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Test,
    /// The SGD run on a tenth of the data is as accurate as on all of it.
    LessData,
    /// Each batch-norm run reaches a higher training accuracy than its twin without.
    BatchNormTwins,
    /// The unregularised run learns its training set and tests far lower.
    Overfits,
    /// Some regularised run has a narrower train–test gap than the unregularised one.
    Narrows,
}

/// One run of a group.
pub struct Experiment {
    pub group: String,
    pub name: String,
    pub cfg: TrainConfig,
    pub course: Option<f64>,
    /// What the course's number means here / why ours may differ.
    pub note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    group: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRow {
    name: String,
    preset: Option<String>,
    course: Option<f64>,
    #[serde(default)]
    seed_offset: u64,
    epochs: Option<[usize; 2]>,
    eval_every_epochs: Option<[usize; 2]>,
    #[serde(default)]
    config: serde_json::Map<String, Value>,
    note: String,
}

/// `{full|quick}` in a text, resolved.
fn pick_text(text: &str, quick: bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) {
        let choice = rest[open + 1..close].split('|').nth(quick as usize);
        out.push_str(&rest[..open]);
        out.push_str(choice.unwrap_or(&rest[open..=close]));
        rest = &rest[close + 1..];
    }
    out + rest
}

/// A `[full, quick]` value resolved; any other value as it is.
fn pick(v: &Value, quick: bool) -> Value {
    match v.as_array().map(Vec::as_slice) {
        Some([full, short]) => if quick { short } else { full }.clone(),
        _ => v.clone(),
    }
}

/// The experiment list (full or quick) for a training set of `train_len` images, each run's
/// configuration checked.
pub fn experiments(
    quick: bool,
    seed: u64,
    train_len: usize,
) -> Result<(Vec<Group>, Vec<Experiment>)> {
    let mut table: Table = toml::from_str(TABLE).context("the experiment table")?;
    let mut exps = Vec::new();
    for g in &mut table.group {
        g.setup = pick_text(&g.setup, quick);
        for r in &g.run {
            let name = r.preset.as_ref().or(g.preset.as_ref());
            let preset = name
                .and_then(|n| Preset::from_name(n))
                .ok_or_else(|| anyhow!("experiment {}: no preset {name:?}", r.name))?;
            let mut base = TrainConfig::for_preset(preset, train_len);
            base.seed = seed + r.seed_offset;
            base.augment_shift = 0;
            base.dropout = 0.0;
            let mut cfg = json_value(&base)?;
            for (k, v) in g.config.iter().chain(&r.config) {
                cfg[k] = pick(v, quick);
            }
            let batch = cfg["batch_size"].as_u64().unwrap_or(1).max(1);
            let per_epoch = (train_len as u64).div_ceil(batch);
            if let Some(e) = r.epochs {
                cfg["iterations"] = (e[quick as usize] as u64 * per_epoch).into();
            }
            if let Some(e) = r.eval_every_epochs {
                cfg["eval_every"] = (e[quick as usize] as u64 * per_epoch).into();
            }
            let name = pick_text(&r.name, quick);
            let ctx = || format!("experiment {name}");
            let cfg: TrainConfig = serde_json::from_value(cfg).with_context(ctx)?;
            cfg.validate().with_context(ctx)?;
            exps.push(Experiment {
                group: g.id.clone(),
                name,
                cfg,
                course: r.course,
                note: r.note.clone(),
            });
        }
    }
    Ok((table.group, exps))
}

/// A run's name as a directory name: `relu + He` is `relu-he`.
pub fn slug(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let words = lower.split(|c: char| !c.is_ascii_alphanumeric());
    words
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
