//! `shinso info`: what each preset is, costs and saves.

use anyhow::Result;
use clap::Args;

use crate::nets::{Preset, BATCH};
use crate::train::{Schedule, TrainConfig};
use crate::ui::say;

#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// Presets to describe (repeat the flag; default: all)
    #[arg(long, value_enum)]
    pub preset: Vec<Preset>,
}

pub fn run(a: &InfoArgs) -> Result<()> {
    let presets = if a.preset.is_empty() {
        Preset::all().to_vec()
    } else {
        a.preset.clone()
    };
    for p in presets {
        let d = p.defaults();
        let rule = TrainConfig::for_preset(p, 10_000).rule();
        let mem = p.memory(&rule, BATCH);
        let (signature, floats) = p.shape();
        say(&format!("{}: {}", p.name(), p.describe()));
        say(&format!(
            "  {} parameters, {} saved state floats, signature {:#018x}, device blob {} bytes",
            p.params(),
            floats - p.params(),
            signature,
            shinso::model::HEADER + 4 * floats
        ));
        say(&format!(
            "  memory at batch {} with {}: parameters {} B, state {} B, optimizer {} B, training arena {} B (gradients, activations, caches)",
            BATCH,
            d.optimizer.name(),
            mem.params,
            mem.state,
            mem.optimizer,
            mem.arena
        ));
        say(&format!(
            "  defaults: {}, {}, {} lr {}, batch {}, {} epochs{}{}{}",
            d.activation.name(),
            d.init.name(),
            d.optimizer.name(),
            d.lr,
            d.batch_size,
            d.epochs,
            if d.augment_shift > 0 {
                format!(", shifts ±{}", d.augment_shift)
            } else {
                String::new()
            },
            if d.dropout > 0.0 {
                format!(", dropout {}", d.dropout)
            } else {
                String::new()
            },
            match d.schedule {
                Schedule::Constant => String::new(),
                Schedule::Step { every, gamma } => format!(", lr ×{gamma} every {every} epochs"),
                Schedule::Cosine { min } => format!(", cosine decay to {min}"),
            }
        ));
        say("  tensors (safetensors name, shape):");
        for (name, shape) in p.tensors() {
            let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            say(&format!("    {name:<26} ({})", s.join(", ")));
        }
    }
    Ok(())
}
