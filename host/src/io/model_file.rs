//! Model files from outside: read within a bound, checked once, in one place.
//!
//! Every command that takes a model file (`eval`, `export`, `device push`, `device eval
//! --compare`, `demo --model`) loads it through [`load`], so all of them refuse the same
//! things with the same words: anything but a regular file of at most [`max_bytes`] (a FIFO
//! would block for ever, `/dev/zero` never ends; the size is known before a byte is read); a
//! blob the core's [`shinso::model::check`] refuses or whose signature names no preset; a
//! safetensors file whose tensors do not match the preset or are not finite, or whose metadata
//! is not what `shinso train` writes; a negative batch-norm running variance.

use std::path::Path;

use anyhow::{anyhow, Result};
use shinso::{optim::limits, ActivationKind, Knobs, TensorKind};

use super::fs::read_regular;
use super::safetensors::{self, Metadata};
use crate::nets::{knobs, visit_named, Model, Preset};

/// Room for a safetensors header (tensor names, shapes, metadata with the training config).
const HEADER_ROOM: u64 = 1 << 20;

/// The largest model file accepted: the largest preset's floats as F64 (safetensors may hold
/// F64), plus a header.
fn max_bytes() -> u64 {
    let floats = Preset::all().iter().map(|p| p.shape().1).max().unwrap_or(0);
    8 * floats as u64 + HEADER_ROOM
}

/// A model file's bytes ([`read_regular`] bounded by [`max_bytes`]).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_regular(path, max_bytes(), "model file")
}

/// A checked model, configured with the knobs its file records.
pub struct Loaded {
    pub model: Box<dyn Model>,
    /// The file's metadata, validated (empty for a blob).
    pub meta: Metadata,
    /// The knobs it is configured with (from the metadata, or the defaults).
    pub knobs: Knobs,
}

/// Loads a model file (a device blob, recognised by its magic, or safetensors). The preset
/// comes from `preset`, else the blob's signature or the file's metadata, else the tensor
/// shapes; `activation` overrides the recorded one.
pub fn load(
    path: &Path,
    preset: Option<Preset>,
    activation: Option<ActivationKind>,
) -> Result<Loaded> {
    let bytes = read(path)?;
    let at = |e: String| anyhow!("{}: {e}", path.display());
    let (mut model, meta) = if bytes.starts_with(&shinso::model::MAGIC) {
        let preset = preset.map_or_else(|| blob_preset(&bytes), Ok).map_err(at)?;
        let mut m = preset.build();
        m.load_blob(&bytes).map_err(|e| at(e.to_string()))?;
        (m, Metadata::new())
    } else {
        let file = safetensors::parse(&bytes).map_err(at)?;
        safetensors::load_model(file, preset).map_err(at)?
    };
    let knobs = knobs_of(&meta, model.preset(), activation).map_err(at)?;
    check_state(&mut *model).map_err(at)?;
    model.configure(&knobs);
    Ok(Loaded { model, meta, knobs })
}

/// The preset a blob's header names by its signature.
fn blob_preset(blob: &[u8]) -> Result<Preset, String> {
    let sig = blob
        .get(8..16)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let sig = sig.ok_or_else(|| format!("truncated model blob ({} bytes)", blob.len()))?;
    Preset::by_signature(sig).ok_or_else(|| {
        format!("the blob's signature {sig:#018x} is no preset's (pass --preset to see why)")
    })
}

/// Activation, batch norm and dropout from validated metadata (relu, off and 0 where a
/// key is absent, as in files from other tools).
fn knobs_of(
    meta: &Metadata,
    preset: Preset,
    activation: Option<ActivationKind>,
) -> Result<Knobs, String> {
    let act = match (activation, meta.get("activation")) {
        (Some(a), _) => a,
        (None, Some(s)) => ActivationKind::from_name(s)
            .ok_or_else(|| format!("unknown activation {s:?} in the model's metadata"))?,
        (None, None) => ActivationKind::Relu, // every preset's default
    };
    if preset.fixed_relu() && act != ActivationKind::Relu {
        let (p, a) = (preset.name(), act.name());
        return Err(format!("{p} is fixed to relu; the model asks for {a}"));
    }
    let bn = match meta.get("batch_norm").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(s) => return Err(format!("batch_norm must be true or false, got {s:?}")),
    };
    let dropout: f32 = match meta.get("dropout") {
        None => 0.0,
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("dropout must be a number, got {s:?}"))?,
    };
    limits::DROPOUT
        .check("dropout", dropout)
        .map_err(|e| format!("{e} in the model's metadata"))?;
    Ok(knobs(act, bn, dropout))
}

/// Saved state a network can run with: every running variance at least 0 (the values are
/// already known to be finite).
fn check_state(model: &mut dyn Model) -> Result<(), String> {
    let mut bad = None;
    visit_named(model, |name, t| {
        if t.kind != TensorKind::RunningVar || bad.is_some() {
            return;
        }
        if let Some(i) = t.value.iter().position(|v| *v < 0.0) {
            let v = t.value[i];
            bad = Some(format!(
                "tensor {name} holds a negative variance ({v}) at index {i}"
            ));
        }
    });
    bad.map_or(Ok(()), Err)
}
