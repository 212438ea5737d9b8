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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use shinso::{Tensor, Visitor};

use crate::model::Model;

/// A [`Visitor`] adapter that names each tensor `"{layer}.{kind}.{tensor}"`.
#[derive(Default)]
pub struct Namer {
    next: usize,
    kind: &'static str,
}

/// The adapter returned by [`Namer::with`].
pub struct Named<'a, F> {
    namer: &'a mut Namer,
    f: F,
}

impl Namer {
    /// Visit with `f(name, tensor)`.
    pub fn with<F: FnMut(String, Tensor<'_>)>(&mut self, f: F) -> Named<'_, F> {
        Named { namer: self, f }
    }
}

impl<F: FnMut(String, Tensor<'_>)> Visitor for Named<'_, F> {
    fn layer(&mut self, kind: &'static str) {
        self.namer.kind = kind;
        self.namer.next += 1;
    }
    fn tensor(&mut self, t: Tensor<'_>) {
        let name = format!("{}.{}.{}", self.namer.next.saturating_sub(1), self.namer.kind, t.kind.name());
        (self.f)(name, t)
    }
}

/// Knobs and provenance stored next to the tensors.
pub type Metadata = BTreeMap<String, String>;

/// Write `model` with `meta` (plus `format`, `preset`, `signature`, `params`).
pub fn save(model: &mut dyn Model, meta: &Metadata, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut namer = Namer::default();
    model.visit(&mut namer.with(|name, t| {
        let bytes = t.value.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, t.shape[..t.rank()].to_vec(), bytes));
    }));
    let mut info: HashMap<String, String> = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    info.insert("format".into(), "shinso".into());
    info.insert("preset".into(), model.preset().name().into());
    info.insert("signature".into(), format!("{:#018x}", model.signature()));
    info.insert("params".into(), model.params().to_string());
    let views = tensors
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow!("{e}"))?;
    safetensors::tensor::serialize_to_file(views, &Some(info), path)
        .map_err(|e| anyhow!("{}: cannot write model: {e}", path.display()))
}

/// A safetensors file read into memory.
pub struct File {
    pub meta: Metadata,
    /// name -> (shape, values)
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Read a safetensors file (any tensors, F32 or F64).
pub fn read(path: &Path) -> Result<File> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{}: file not found", path.display()),
        _ => anyhow!("{}: {e}", path.display()),
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| anyhow!("{}: not a safetensors file ({e})", path.display()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let meta: Metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => bail!("{}: tensor {name} has dtype {other:?}; shinso reads F32 or F64", path.display()),
        };
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(File { meta, tensors })
}

fn shape_str(s: &[usize]) -> String {
    if s.is_empty() {
        "scalar".into()
    } else {
        s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
    }
}

/// Whether `file` holds exactly the tensors `model` has, by name and shape.
pub fn matches(model: &mut dyn Model, file: &File) -> bool {
    let want = crate::model::tensor_list(model);
    want.len() == file.tensors.len()
        && want.iter().all(|(n, s)| file.tensors.get(n).is_some_and(|(fs, _)| fs == s))
}

/// Copy the file's tensors into `model`; every tensor must be present with the right shape
/// and finite values, and no other tensor may be present. On error the model is unchanged.
pub fn load_into(model: &mut dyn Model, file: &File, path: &Path) -> Result<()> {
    let want = crate::model::tensor_list(model);
    for (name, shape) in &want {
        let Some((fs, values)) = file.tensors.get(name) else {
            bail!(
                "{}: missing tensor {name} ({}) for preset {}",
                path.display(),
                shape_str(shape),
                model.preset().name()
            );
        };
        if fs != shape {
            bail!(
                "{}: tensor {name} has shape {}, preset {} needs {}",
                path.display(),
                shape_str(fs),
                model.preset().name(),
                shape_str(shape)
            );
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            bail!("{}: tensor {name} holds a non-finite value at index {i}", path.display());
        }
    }
    if let Some(extra) = file.tensors.keys().find(|k| !want.iter().any(|(n, _)| n == *k)) {
        bail!("{}: unexpected tensor {extra} for preset {}", path.display(), model.preset().name());
    }
    let mut namer = Namer::default();
    model.visit(&mut namer.with(|name, t| {
        if let Some((_, values)) = file.tensors.get(&name) {
            t.value.copy_from_slice(values);
        }
    }));
    Ok(())
}

/// Load `path` into a fresh model: the preset comes from `preset` if given, else the file's
/// metadata, else the first preset whose tensor names and shapes match.
pub fn load_model(path: &Path, preset: Option<crate::presets::Preset>) -> Result<(Box<dyn Model>, Metadata)> {
    use crate::presets::Preset;
    let file = read(path)?;
    let preset = match preset {
        Some(p) => p,
        None => match file.meta.get("preset") {
            Some(name) => Preset::from_name(name)
                .ok_or_else(|| anyhow!("{}: unknown preset {name:?} in metadata", path.display()))?,
            None => {
                let found = Preset::all().iter().copied().find(|p| matches(&mut *p.build(), &file));
                found.ok_or_else(|| {
                    anyhow!(
                        "{}: tensors match no preset (pass --preset to see which tensor differs)",
                        path.display()
                    )
                })?
            }
        },
    };
    let mut model = preset.build();
    load_into(&mut *model, &file, path).with_context(|| String::new()).map_err(|e| anyhow!("{}", e.root_cause()))?;
    Ok((model, file.meta))
}
