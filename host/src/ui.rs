//! What the CLI shows: lines on stdout, one progress-bar style on stderr, JSON values.
//!
//! Every command module prints through here, and this module knows none of them (only the
//! `train::Progress` a run reports, to show it).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::train::Progress;

/// Print to stdout, ignoring a closed pipe (`shinso eval | head`).
pub fn say(s: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

/// The one progress bar: `label [bar] pos/len message elapsed<eta` on stderr (indicatif hides
/// it when stderr is not a terminal), or a hidden one when `quiet`.
pub fn progress_bar(len: u64, label: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{prefix:>10} {bar:28.cyan/blue} {pos:>6}/{len:6} {wide_msg} {elapsed}<{eta}",
    )
    .expect("a valid template")
    .progress_chars("█▉▊▋▌▍▎▏ ");
    ProgressBar::new(len)
        .with_style(style)
        .with_prefix(label.to_string())
}

/// A training run's progress shown on `pb`: the step, then `label`, the epoch, the loss and
/// the latest accuracies, redrawn every 20 steps and at the last.
pub fn show_progress<'a>(pb: &'a ProgressBar, label: &'a str) -> impl FnMut(&Progress) + 'a {
    let mut last = 0;
    move |p| {
        let r = p.now;
        if r.iteration - last >= 20 || r.iteration == p.iterations {
            last = r.iteration;
            let acc = match (r.train_accuracy, r.test_accuracy) {
                (Some(tr), Some(te)) => format!(" train {tr:.3} test {te:.3}"),
                _ => String::new(),
            };
            pb.set_position(r.iteration as u64);
            let (epoch, loss) = (r.epoch, r.loss);
            pb.set_message(format!("{label}epoch {epoch:.1} loss {loss:.3}{acc}"));
        }
    }
}

/// A JSON value of `v` whose f32 fields print as written (`0.1`, not `0.10000000149011612`).
pub fn json_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&serde_json::to_string(v)?)?)
}

/// Write any serialisable value as pretty JSON.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("{}: cannot write", path.display()))
}
