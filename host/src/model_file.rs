//! Model files from outside: read within a bound, checked once, in one place.
//!
//! Every command that takes a model file (`eval`, `export`, `device push`, `device eval
//! --compare`, `demo --model`) loads it through [`load`], so all of them refuse the same
//! things with the same words:
//!
//! - anything that is not a regular file (a FIFO would block for ever, `/dev/zero` never ends),
//!   and files larger than the largest model any preset has ([`max_bytes`]): the size is known
//!   before a byte is read;
//! - a device blob whose signature names no preset, or whose header, length, CRC or values are
//!   wrong (the core's [`shinso::model::check`] says which);
//! - a safetensors file whose tensors do not match the preset, hold NaN or infinity, or whose
//!   metadata is not what `shinso train` writes: `activation` one of the known names,
//!   `batch_norm` exactly `true` or `false`, `dropout` a number in the range that can train
//!   ([`shinso::optim::limits::DROPOUT`]);
//! - batch-norm running variances below zero (they are square roots' arguments).
//!
//! Files are written through [`write_atomic`], so a refused or failed command never leaves half
//! a file behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use shinso::{optim::limits, TensorKind};

use crate::model::Model;
use crate::presets::{knobs, ActKind, Preset};
use crate::safetensors_io::{self, Metadata};

/// Room for a safetensors header (tensor names, shapes, metadata with the training config).
const HEADER_ROOM: u64 = 1 << 20;

/// The largest model file accepted: the largest preset's floats as F64 (safetensors may hold
/// F64), plus a header.
pub fn max_bytes() -> u64 {
    let floats = Preset::all().iter().map(|p| p.shape().1).max().unwrap_or(0);
    8 * floats as u64 + HEADER_ROOM
}

/// The whole of `path`, if it is a regular file of at most `limit` bytes. The check comes
/// before opening (opening a FIFO blocks), and the read stops at `limit` whatever the file
/// does meanwhile.
pub fn read_regular(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{}: file not found", path.display()),
        _ => anyhow!("{}: {e}", path.display()),
    })?;
    if !meta.is_file() {
        bail!(
            "{}: not a regular file (a {what} is read from a file)",
            path.display()
        );
    }
    if meta.len() > limit {
        bail!(
            "{}: {} bytes, larger than any {what} ({limit} bytes at most)",
            path.display(),
            meta.len()
        );
    }
    let f = std::fs::File::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{}: grew past {limit} bytes while being read",
            path.display()
        );
    }
    Ok(bytes)
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
    pub activation: ActKind,
}

/// Loads a model file (a device blob, recognised by its magic, or safetensors). The preset
/// comes from `preset`, else the blob's signature or the file's metadata, else the tensor
/// shapes; `activation` overrides the recorded one.
pub fn load(path: &Path, preset: Option<Preset>, activation: Option<ActKind>) -> Result<Loaded> {
    let bytes = read(path)?;
    let at = |e: String| anyhow!("{}: {e}", path.display());
    let (mut model, meta) = if bytes.starts_with(&shinso::model::MAGIC) {
        let preset = match preset {
            Some(p) => p,
            None => blob_preset(&bytes).map_err(at)?,
        };
        let mut m = preset.build();
        m.load_blob(&bytes).map_err(|e| at(e.to_string()))?;
        (m, Metadata::new())
    } else {
        let file = safetensors_io::parse(&bytes).map_err(at)?;
        safetensors_io::load_model(file, preset).map_err(at)?
    };
    let (act, bn, dropout) = knobs_of(&meta, model.preset(), activation).map_err(at)?;
    check_state(&mut *model).map_err(at)?;
    model.configure(&knobs(act, bn, dropout));
    Ok(Loaded {
        model,
        meta,
        activation: act,
    })
}

/// The preset a blob's header names by its signature.
pub fn blob_preset(blob: &[u8]) -> Result<Preset, String> {
    let sig = blob
        .get(8..16)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| format!("truncated model blob ({} bytes)", blob.len()))?;
    Preset::by_signature(sig).ok_or_else(|| {
        format!("the blob's signature {sig:#018x} is no preset's (pass --preset to see why)")
    })
}

/// Activation, batch norm and dropout from validated metadata (the preset's defaults where a
/// key is absent, as in files from other tools).
fn knobs_of(
    meta: &Metadata,
    preset: Preset,
    activation: Option<ActKind>,
) -> Result<(ActKind, bool, f32), String> {
    let act = match (activation, meta.get("activation")) {
        (Some(a), _) => a,
        (None, Some(s)) => ActKind::from_name(s)
            .ok_or_else(|| format!("unknown activation {s:?} in the model's metadata"))?,
        (None, None) => preset.defaults().activation,
    };
    if preset.fixed_relu() && act != ActKind::Relu {
        return Err(format!(
            "{} is fixed to relu; the model asks for {}",
            preset.name(),
            act.name()
        ));
    }
    let bn = match meta.get("batch_norm").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(s) => return Err(format!("batch_norm must be true or false, got {s:?}")),
    };
    let dropout = match meta.get("dropout") {
        None => 0.0,
        Some(s) => {
            let v: f32 = s
                .trim()
                .parse()
                .map_err(|_| format!("dropout must be a number, got {s:?}"))?;
            limits::DROPOUT
                .check("dropout", v)
                .map_err(|e| format!("{e} in the model's metadata"))?;
            v
        }
    };
    Ok((act, bn, dropout))
}

/// Saved state a network can run with: every running variance at least 0 (the values are
/// already known to be finite).
fn check_state(model: &mut dyn Model) -> Result<(), String> {
    let mut bad = None;
    let mut names = safetensors_io::Namer::default();
    model.visit(&mut names.with(|name, t| {
        if t.kind == TensorKind::RunningVar && bad.is_none() {
            if let Some(i) = t.value.iter().position(|v| *v < 0.0) {
                bad = Some(format!(
                    "tensor {name} holds a negative variance ({}) at index {i}",
                    t.value[i]
                ));
            }
        }
    }));
    bad.map_or(Ok(()), Err)
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file next to it, renamed
/// over `path` once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.part", std::process::id()));
    let tmp: PathBuf = dir.join(tmp_name);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("{}: cannot write", path.display()))
}
