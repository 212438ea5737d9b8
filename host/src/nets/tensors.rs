//! Tensor names of a network's model files: `"{layer}.{kind}.{tensor}"`, `layer` counting the
//! layers that have tensors, from 0, in forward order.

use shinso::layer::{SpecVisitor, TensorSpec};
use shinso::Tensor;

use super::{Model, Preset};

/// Names and shapes of the tensors a network type describes.
#[derive(Default)]
struct Namer {
    layers: usize,
    kind: &'static str,
    out: Vec<(String, Vec<usize>)>,
}

impl SpecVisitor for Namer {
    fn layer(&mut self, kind: &'static str) {
        self.kind = kind;
        self.layers += 1;
    }
    fn tensor(&mut self, t: TensorSpec) {
        let name = format!("{}.{}.{}", self.layers - 1, self.kind, t.kind.name());
        self.out.push((name, t.shape[..t.rank()].to_vec()));
    }
}

impl Preset {
    /// `(name, shape)` of every tensor of this preset's model files, in blob order, from the
    /// network's type alone (no network is built).
    pub fn tensors(self) -> Vec<(String, Vec<usize>)> {
        let mut namer = Namer::default();
        (self.net().visit_specs)(&mut namer);
        namer.out
    }
}

/// Show `f` every tensor of `model` with its name, in blob order.
pub fn visit_named(model: &mut dyn Model, mut f: impl FnMut(&str, Tensor<'_>)) {
    let names = model.preset().tensors();
    let mut names = names.iter().map(|(name, _)| name.as_str());
    model.visit(&mut |t: Tensor<'_>| f(names.next().expect("a name per tensor"), t));
}

/// Whether a tensor belongs to a batch-norm layer (those may be absent from a file: a model
/// trained without batch norm elsewhere has none).
pub fn is_batchnorm(name: &str) -> bool {
    name.contains(".batchnorm.")
}
