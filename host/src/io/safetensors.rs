//! Models as safetensors files, in the layout `host/README.md` documents ("Model files"):
//! tensors named by [`visit_named`], little-endian F32 (F64 is accepted on load and converted),
//! shaped as in the course; `__metadata__` records `format = "shinso"`, the `preset`, the
//! run-time knobs and the core's network `signature`. A file without metadata (written by
//! NumPy or PyTorch) loads when its names and shapes match a preset.
//!
//! Files are written by the `safetensors` crate (tensors in the data section by name). The
//! crate takes the metadata as a `HashMap`, whose order changes from process to process, and
//! writes it in that order; same-seed runs must write the same bytes (a test trains twice and
//! compares the files, a device backup pulled twice is the same file), so the header's
//! `__metadata__` is then written again with its keys sorted. The order of a JSON object's
//! keys carries no meaning: the crate, the loaders here and any JSON parser read the same file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use shinso::TensorKind;

use super::fs::write_atomic;
use crate::nets::{is_batchnorm, visit_named, Model, Preset};

/// Knobs and provenance stored next to the tensors.
pub type Metadata = BTreeMap<String, String>;

/// Tensors whose names start with this are not the model's (a device learner's optimizer
/// state, `shinso device checkpoint`): loading a model skips them.
pub const EXTRA: &str = "optimizer.";

/// Write `model` with `meta` (plus `format`, `preset`, `signature`, `params`).
pub fn save(model: &mut dyn Model, meta: &Metadata, path: &Path) -> Result<()> {
    write_atomic(path, &encode_model(model, meta, Vec::new())?)
}

/// [`save`]'s bytes, with `extra` tensors (named [`EXTRA`]…) beside the model's.
pub fn encode_model(
    model: &mut dyn Model,
    meta: &Metadata,
    extra: Vec<(String, Vec<usize>, Vec<u8>)>,
) -> Result<Vec<u8>> {
    let mut tensors = Vec::new();
    visit_named(model, |name, t| {
        let bytes = t.value.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name.to_string(), t.shape[..t.rank()].to_vec(), bytes));
    });
    tensors.extend(extra);
    let mut info = meta.clone();
    info.insert("format".into(), "shinso".into());
    info.insert("preset".into(), model.preset().name().into());
    let (signature, _) = model.preset().shape();
    info.insert("signature".into(), format!("{signature:#018x}"));
    info.insert("params".into(), model.params().to_string());
    encode(&tensors, &info)
}

/// A safetensors file of F32 tensors `(name, shape, little-endian bytes)` and `meta`.
pub fn encode(tensors: &[(String, Vec<usize>, Vec<u8>)], meta: &Metadata) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| Ok((name, TensorView::new(Dtype::F32, shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>>>()?;
    let file = safetensors::serialize(views, &Some(meta.clone().into_iter().collect()))?;
    // The same header with the metadata in sorted order (see the module doc).
    let (n, _) = SafeTensors::read_metadata(&file)?;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&file[8..8 + n])?;
    header.insert("__metadata__".into(), serde_json::to_value(meta)?);
    let mut h = serde_json::to_vec(&header)?;
    h.resize(h.len().next_multiple_of(8), b' '); // the data section starts 8-byte aligned
    Ok([&(h.len() as u64).to_le_bytes(), &h[..], &file[8 + n..]].concat())
}

/// A safetensors file read into memory.
pub struct File {
    pub meta: Metadata,
    /// name -> (shape, values)
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// A safetensors file's tensors (any names, F32 or F64) and metadata.
pub fn parse(bytes: &[u8]) -> Result<File, String> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let meta = header.metadata().clone().unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values = match view.dtype() {
            Dtype::F32 => floats(view.data(), f32::from_le_bytes),
            Dtype::F64 => floats(view.data(), |b| f64::from_le_bytes(b) as f32),
            other => {
                return Err(format!(
                    "tensor {name} has dtype {other:?}; shinso reads F32 or F64"
                ))
            }
        };
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(File {
        meta: meta.into_iter().collect(),
        tensors,
    })
}

/// Little-endian floats of `N` bytes each, as f32.
fn floats<const N: usize>(data: &[u8], f32_of: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    let float = |b: &[u8]| f32_of(b.try_into().expect("N bytes"));
    data.chunks_exact(N).map(float).collect()
}

/// `784x40`, or `scalar`.
fn shape_str(s: &[usize]) -> String {
    match s {
        [] => "scalar".into(),
        _ => s.iter().map(usize::to_string).collect::<Vec<_>>().join("x"),
    }
}

/// Check the file's tensors against the preset's: each present with the right shape and
/// finite values (batch-norm tensors all present or all absent), nothing else but [`EXTRA`]
/// tensors. Returns whether the batch-norm tensors are present.
fn check(preset: Preset, file: &File) -> Result<bool, String> {
    let (want, p) = (preset.tensors(), preset.name());
    let has_bn = want
        .iter()
        .any(|(n, _)| is_batchnorm(n) && file.tensors.contains_key(n));
    for (name, shape) in &want {
        let Some((fs, values)) = file.tensors.get(name) else {
            if is_batchnorm(name) && !has_bn {
                continue;
            }
            let s = shape_str(shape);
            return Err(format!("missing tensor {name} ({s}) for preset {p}"));
        };
        if fs != shape {
            let (got, need) = (shape_str(fs), shape_str(shape));
            return Err(format!(
                "tensor {name} has shape {got}, preset {p} needs {need}"
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "tensor {name} holds a non-finite value at index {i}"
            ));
        }
    }
    let mine = |k: &&String| k.starts_with(EXTRA) || want.iter().any(|(n, _)| n == *k);
    match file.tensors.keys().find(|k| !mine(k)) {
        Some(extra) => Err(format!("unexpected tensor {extra} for preset {p}")),
        None => Ok(has_bn),
    }
}

/// The file's tensors in a fresh model (checked first): the preset comes from `preset` if
/// given, else the file's metadata, else the first preset whose tensor names and shapes
/// match. Absent batch-norm tensors become the identity (γ 1, β 0, mean 0, variance 1). The
/// metadata's knobs are checked by [`super::load`], the one way in.
pub fn load_model(
    file: File,
    preset: Option<Preset>,
) -> Result<(Box<dyn Model>, Metadata), String> {
    let preset = match (preset, file.meta.get("preset")) {
        (Some(p), _) => p,
        (None, Some(name)) => {
            Preset::from_name(name).ok_or_else(|| format!("unknown preset {name:?} in metadata"))?
        }
        (None, None) => Preset::all()
            .iter()
            .copied()
            .find(|&p| check(p, &file).is_ok())
            .ok_or("tensors match no preset (pass --preset to see which tensor differs)")?,
    };
    let has_bn = check(preset, &file)?;
    let mut meta = file.meta;
    if !has_bn {
        if meta.get("batch_norm").is_some_and(|v| v == "true") {
            return Err(
                "metadata says batch_norm = true but the file has no batch-norm tensors".into(),
            );
        }
        // absent means off; any other value is left for the knobs' check to refuse
        meta.entry("batch_norm".into()).or_insert("false".into());
    }
    let mut model = preset.build();
    visit_named(&mut *model, |name, t| match file.tensors.get(name) {
        Some((_, values)) => t.value.copy_from_slice(values),
        None => {
            let identity = matches!(t.kind, TensorKind::Scale | TensorKind::RunningVar);
            t.value.fill(if identity { 1.0 } else { 0.0 });
        }
    });
    Ok((model, meta))
}
