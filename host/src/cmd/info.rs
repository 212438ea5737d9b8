//! `shinso info`: what each preset is, costs and saves.

use anyhow::Result;
use clap::Args;

use crate::nets::{Preset, BATCH};
use crate::train::{Schedule, TrainConfig};
use crate::ui::say;

#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// Presets to describe (repeat the flag; default: all)
    #[arg(long, value_enum, hide_default_value = true, default_values_t = Preset::all().to_vec())]
    pub preset: Vec<Preset>,
}

pub fn run(a: &InfoArgs) -> Result<()> {
    for &p in &a.preset {
        let (d, epochs) = TrainConfig::recipe(p);
        let (signature, floats) = p.shape();
        let (params, optimizer) = (p.params(), d.optimizer.name());
        let (state, blob) = (floats - params, shinso::model::HEADER + 4 * floats);
        let mem = p.memory(&d.rule(), BATCH);
        let shifts = (d.augment_shift > 0).then(|| format!(", shifts ±{}", d.augment_shift));
        let dropout = (d.dropout > 0.0).then(|| format!(", dropout {}", d.dropout));
        let schedule = match d.schedule {
            Schedule::Constant => String::new(),
            Schedule::Step { every, gamma } => format!(", lr ×{gamma} every {every} epochs"),
            Schedule::Cosine { min } => format!(", cosine decay to {min}"),
        };
        say(&format!("{}: {}", p.name(), p.describe()));
        say(&format!("  {params} parameters, {state} saved state floats, signature {signature:#018x}, device blob {blob} bytes"));
        say(&format!(
            "  memory at batch {BATCH} with {optimizer}: parameters {} B, state {} B, optimizer {} B, training arena {} B (gradients, activations, caches)",
            mem.params, mem.state, mem.optimizer, mem.arena
        ));
        let (activation, init, lr, batch) =
            (d.activation.name(), d.init.name(), d.lr, d.batch_size);
        let extras = [shifts, dropout].map(Option::unwrap_or_default).concat();
        say(&format!(
            "  defaults: {activation}, {init}, {optimizer} lr {lr}, batch {batch}, {epochs} epochs{extras}{schedule}"
        ));
        say("  tensors (safetensors name, shape):");
        for (name, shape) in p.tensors() {
            let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            say(&format!("    {name:<26} ({})", s.join(", ")));
        }
    }
    Ok(())
}
