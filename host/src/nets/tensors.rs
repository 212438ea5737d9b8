//! Tensor names of a network's model files: `"{layer}.{kind}.{tensor}"`.

use shinso::{Tensor, Visitor};

use super::Model;

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
        let name = format!(
            "{}.{}.{}",
            self.namer.next.saturating_sub(1),
            self.namer.kind,
            t.kind.name()
        );
        (self.f)(name, t)
    }
}

/// Tensor description for documentation and safetensors: `(name, shape)` in blob order.
pub fn tensor_list(model: &mut dyn Model) -> Vec<(String, Vec<usize>)> {
    let mut names = Namer::default();
    let mut out = Vec::new();
    model.visit(&mut names.with(|name, t| out.push((name, t.shape[..t.rank()].to_vec()))));
    out
}
