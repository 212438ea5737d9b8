//! The networks: presets by name, the object-safe [`Model`] over the core's typed networks,
//! and the names of their tensors.

mod model;
mod preset;
mod tensors;

pub use model::{predict_all, Model, Net, BATCH, INPUT};
pub use preset::{knobs, Classifier, InitKind, NetType, Preset};
pub use tensors::{is_batchnorm, visit_named};
