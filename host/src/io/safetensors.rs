//! Models as safetensors files.
//!
//! Tensor names are `"{layer}.{kind}.{tensor}"`: `layer` counts the layers that have tensors,
//! from 0, in forward order; `kind` is `affine`, `conv` or `batchnorm`; `tensor` is `weight`,
//! `bias`, `gamma`, `beta`, `running_mean` or `running_var`. All tensors are little-endian F32
//! (F64 is accepted on load and converted), row-major, shaped as in the course:
//!
//! - affine `weight`: `(inputs, outputs)` — the transpose of PyTorch's `nn.Linear.weight`;
//! - conv `weight`: `(filters, channels, height, width)` — the same as PyTorch's `nn.Conv2d`;
//! - biases and batch-norm tensors: `(features)` or `(channels)`.
//!
//! The file's metadata (`__metadata__`) records `format = "shinso"`, the `preset`, the run-time
//! knobs (`activation`, `batch_norm`, `dropout`) and the core's network `signature`; a file
//! without metadata (written by NumPy or PyTorch) loads when its names and shapes match a
//! preset, and the knobs default to the preset's.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use safetensors::tensor::{Dtype, SafeTensors};

use super::fs::write_atomic;
use crate::nets::{tensor_list, Model, Namer, Preset};

/// Knobs and provenance stored next to the tensors.
pub type Metadata = BTreeMap<String, String>;

/// Write `model` with `meta` (plus `format`, `preset`, `signature`, `params`).
///
/// The file is written here rather than by the `safetensors` crate's `serialize` so that it is
/// byte-for-byte reproducible (a test trains twice and compares the files): tensors in blob
/// order, metadata keys sorted. The crate takes the metadata as a `HashMap`, whose order
/// changes from process to process. The crate reads the file back.
pub fn save(model: &mut dyn Model, meta: &Metadata, path: &Path) -> Result<()> {
    write_atomic(path, &encode_model(model, meta, Vec::new()))
}

/// Tensors whose names start with this are not the model's (a device learner's optimizer
/// state, `shinso device checkpoint`): loading a model skips them.
pub const EXTRA: &str = "optimizer.";

/// [`save`]'s bytes, with `extra` tensors (named [`EXTRA`]…) after the model's.
pub fn encode_model(
    model: &mut dyn Model,
    meta: &Metadata,
    extra: Vec<(String, Vec<usize>, Vec<u8>)>,
) -> Vec<u8> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut namer = Namer::default();
    model.visit(&mut namer.with(|name, t| {
        let bytes = t.value.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, t.shape[..t.rank()].to_vec(), bytes));
    }));
    let mut info = meta.clone();
    info.insert("format".into(), "shinso".into());
    info.insert("preset".into(), model.preset().name().into());
    info.insert("signature".into(), format!("{:#018x}", model.signature()));
    info.insert("params".into(), model.params().to_string());
    tensors.extend(extra);
    encode(&tensors, &info)
}

/// A safetensors file of F32 tensors `(name, shape, little-endian bytes)`, in the given order.
pub fn encode(tensors: &[(String, Vec<usize>, Vec<u8>)], meta: &Metadata) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(meta).unwrap_or_default(),
    );
    let mut offset = 0usize;
    for (name, shape, bytes) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes.len()] }),
        );
        offset += bytes.len();
    }
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap_or_default();
    // the data section starts 8-byte aligned; the format pads the header with spaces
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

/// A safetensors file read into memory.
pub struct File {
    pub meta: Metadata,
    /// name -> (shape, values)
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// A safetensors file's tensors (any names, F32 or F64) and metadata.
pub fn parse(bytes: &[u8]) -> std::result::Result<File, String> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let meta: Metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(format!(
                    "tensor {name} has dtype {other:?}; shinso reads F32 or F64"
                ))
            }
        };
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(File { meta, tensors })
}

fn shape_str(s: &[usize]) -> String {
    if s.is_empty() {
        "scalar".into()
    } else {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    }
}

/// Whether a tensor belongs to a batch-norm layer (those may be absent from a file: a model
/// trained without batch norm elsewhere has none).
fn is_batchnorm(name: &str) -> bool {
    name.contains(".batchnorm.")
}

/// Check the file's tensors against the model's: every non-batch-norm tensor present with
/// the right shape and finite values, batch-norm tensors all present or all absent, nothing
/// else. Returns whether the batch-norm tensors are present.
fn check(model: &mut dyn Model, file: &File) -> std::result::Result<bool, String> {
    let want = tensor_list(model);
    let preset = model.preset().name();
    let bn_total = want.iter().filter(|(n, _)| is_batchnorm(n)).count();
    let bn_present = want
        .iter()
        .filter(|(n, _)| is_batchnorm(n) && file.tensors.contains_key(n))
        .count();
    if bn_present != 0 && bn_present != bn_total {
        let missing = want
            .iter()
            .find(|(n, _)| is_batchnorm(n) && !file.tensors.contains_key(n));
        let (n, s) = missing.expect("some batch-norm tensor is missing");
        return Err(format!(
            "missing tensor {n} ({}) for preset {preset}",
            shape_str(s)
        ));
    }
    for (name, shape) in &want {
        let Some((fs, values)) = file.tensors.get(name) else {
            if is_batchnorm(name) && bn_present == 0 {
                continue;
            }
            return Err(format!(
                "missing tensor {name} ({}) for preset {preset}",
                shape_str(shape)
            ));
        };
        if fs != shape {
            return Err(format!(
                "tensor {name} has shape {}, preset {preset} needs {}",
                shape_str(fs),
                shape_str(shape)
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "tensor {name} holds a non-finite value at index {i}"
            ));
        }
    }
    if let Some(extra) = file
        .tensors
        .keys()
        .find(|k| !k.starts_with(EXTRA) && !want.iter().any(|(n, _)| n == *k))
    {
        return Err(format!("unexpected tensor {extra} for preset {preset}"));
    }
    Ok(bn_present > 0)
}

/// Whether `file` holds the tensors `model` needs, by name and shape.
pub fn matches(model: &mut dyn Model, file: &File) -> bool {
    check(model, file).is_ok()
}

/// Copy the file's tensors into `model` (checked first: on error the model is unchanged).
/// Absent batch-norm tensors become the identity (γ 1, β 0, mean 0, variance 1). Returns
/// whether the file had batch-norm tensors.
pub fn load_into(model: &mut dyn Model, file: &File) -> std::result::Result<bool, String> {
    let has_bn = check(model, file)?;
    let mut namer = Namer::default();
    model.visit(&mut namer.with(|name, t| match file.tensors.get(&name) {
        Some((_, values)) => t.value.copy_from_slice(values),
        None => {
            let v = match t.kind {
                shinso::TensorKind::Scale | shinso::TensorKind::RunningVar => 1.0,
                _ => 0.0,
            };
            t.value.fill(v);
        }
    }));
    Ok(has_bn)
}

/// The file's tensors in a fresh model: the preset comes from `preset` if given, else the
/// file's metadata, else the first preset whose tensor names and shapes match. The metadata's
/// knobs are checked by [`super::load`], the one way in.
pub fn load_model(
    file: File,
    preset: Option<Preset>,
) -> std::result::Result<(Box<dyn Model>, Metadata), String> {
    let preset = match preset {
        Some(p) => p,
        None => match file.meta.get("preset") {
            Some(name) => Preset::from_name(name)
                .ok_or_else(|| format!("unknown preset {name:?} in metadata"))?,
            None => Preset::all()
                .iter()
                .copied()
                .find(|p| matches(&mut *p.build(), &file))
                .ok_or_else(|| {
                    "tensors match no preset (pass --preset to see which tensor differs)"
                        .to_string()
                })?,
        },
    };
    let mut model = preset.build();
    let has_bn = load_into(&mut *model, &file)?;
    let mut meta = file.meta;
    if !has_bn {
        if meta.get("batch_norm").is_some_and(|v| v == "true") {
            return Err(
                "metadata says batch_norm = true but the file has no batch-norm tensors".into(),
            );
        }
        meta.insert("batch_norm".into(), "false".into());
    }
    Ok((model, meta))
}
