//! `shinso export`: a model converted between safetensors and the device blob.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::io::{self, safetensors};
use crate::nets::Preset;
use crate::ui::say;

/// Model file formats for `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelFormat {
    /// The device's blob: 24-byte header (magic SHNS, version, signature, length, CRC-32),
    /// then little-endian f32 parameters
    Blob,
    /// safetensors with the documented tensor names
    Safetensors,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Input model: safetensors, or a device blob (recognised by its magic)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Output file
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Output format (default: blob for .bin, safetensors for .safetensors)
    #[arg(long, value_enum)]
    pub format: Option<ModelFormat>,
    /// Preset of the model (default: from the blob's signature or the file's metadata)
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
}

pub fn run(a: &ExportArgs) -> Result<()> {
    let loaded = io::load(&a.model, a.preset, None)?;
    let (mut model, meta) = (loaded.model, loaded.meta);
    let preset = model.preset().name();
    let by_name = match a.out.extension() {
        Some(e) if e == "safetensors" => ModelFormat::Safetensors,
        _ => ModelFormat::Blob,
    };
    match a.format.unwrap_or(by_name) {
        ModelFormat::Blob => {
            let blob = model.save_blob();
            io::write_atomic(&a.out, &blob)?;
            let (out, len, header) = (a.out.display(), blob.len(), shinso::model::HEADER);
            let (sig, floats) = model.preset().shape();
            say(&format!(
                "wrote {out} ({len} bytes: {header} header + {floats} parameters, preset {preset}, signature {sig:#018x})"
            ));
        }
        ModelFormat::Safetensors => {
            safetensors::save(&mut *model, &meta, &a.out)?;
            say(&format!("wrote {} (preset {preset})", a.out.display()));
        }
    }
    Ok(())
}
