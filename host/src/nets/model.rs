//! The networks the CLI trains, behind one object-safe trait so a preset chosen on the command
//! line can drive any of the core's statically-shaped network types; [`Preset::build`] makes
//! one.

use crate::data::CLASSES;
use shinso::{
    layer::floats, Error, Init, Knobs, Layer, Loss, Network, Optimizer, Visitor, WeightDecay,
};

use super::{Classifier, Preset};

/// Largest batch the CLI trains or evaluates at once (`--batch-size` may be at most this); each
/// network's arena grows to what the batches it is given need.
pub const BATCH: usize = 128;
/// Floats per input sample (28×28 grey images).
pub const INPUT: usize = 784;

/// A network of any preset, with the arena its calls work in.
pub trait Model: Send {
    fn preset(&self) -> Preset;
    /// Trainable parameters.
    fn params(&self) -> usize {
        self.preset().net().params
    }
    fn configure(&mut self, knobs: &Knobs);
    fn init(&mut self, init: Init, seed: u64);
    /// One optimizer step on `labels.len()` samples (`x` holds `labels.len() × 784` floats,
    /// at most [`BATCH`] samples). Returns the loss.
    fn train_step(
        &mut self,
        x: &[f32],
        labels: &[u8],
        loss: Loss,
        decay: WeightDecay,
        opt: &mut Optimizer<Vec<f32>>,
    ) -> Result<f32, Error>;
    /// Inference outputs (logits) for up to [`BATCH`] samples into `out` (`n × 10`).
    fn predict(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error>;
    /// Every tensor, in blob order.
    fn visit(&mut self, v: &mut dyn Visitor);
    /// The device blob (header, CRC, parameters).
    fn save_blob(&mut self) -> Vec<u8>;
    fn load_blob(&mut self, blob: &[u8]) -> Result<(), Error>;
}

/// [`Model`] for a core network type `L`.
pub struct Net<L: Layer> {
    net: Box<Network<L>>,
    preset: Preset,
    targets: Vec<L::Out>,
    /// Working memory of every call, grown to the largest batch seen.
    arena: Vec<f32>,
}

impl<L: Classifier> Net<L> {
    /// A zeroed network (call [`Model::init`]).
    pub fn boxed(preset: Preset) -> Box<dyn Model> {
        assert_eq!(floats::<L::In>(), INPUT, "preset input must be 784 floats");
        Box::new(Self {
            net: Network::<L>::boxed(),
            preset,
            targets: Vec::new(),
            arena: Vec::new(),
        })
    }
}

/// The first `floats` of `arena`, grown (zeroed) if it is shorter.
fn at_least(arena: &mut Vec<f32>, floats: usize) -> &mut [f32] {
    arena.resize(arena.len().max(floats), 0.0);
    &mut arena[..floats]
}

impl<L: Classifier> Model for Net<L> {
    fn preset(&self) -> Preset {
        self.preset
    }
    fn configure(&mut self, knobs: &Knobs) {
        self.net.configure(knobs);
    }
    fn init(&mut self, init: Init, seed: u64) {
        self.net.init(init, seed);
    }
    fn train_step(
        &mut self,
        x: &[f32],
        labels: &[u8],
        loss: Loss,
        decay: WeightDecay,
        opt: &mut Optimizer<Vec<f32>>,
    ) -> Result<f32, Error> {
        assert_eq!(x.len(), labels.len() * INPUT, "one label per image");
        self.targets.clear();
        let one_hot = labels.iter().map(|&l| shinso::one_hot(l as usize));
        self.targets.extend(one_hot);
        let arena = at_least(&mut self.arena, Network::<L>::train_arena(labels.len()));
        let x: &[L::In] = bytemuck::cast_slice(x);
        self.net
            .train_step(x, &self.targets, loss, decay, opt, arena)
    }
    fn predict(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let xs: &[L::In] = bytemuck::cast_slice(x);
        let arena = at_least(&mut self.arena, Network::<L>::predict_arena(xs.len()));
        let y = self.net.predict(xs, arena)?;
        out[..y.len() * CLASSES].copy_from_slice(bytemuck::cast_slice(y));
        Ok(())
    }
    fn visit(&mut self, v: &mut dyn Visitor) {
        self.net.layers.visit(v);
    }
    fn save_blob(&mut self) -> Vec<u8> {
        let mut blob = vec![0u8; shinso::model::blob_len::<L>()];
        // The buffer is exactly the right size, so saving cannot fail.
        let n = self.net.save(&mut blob).unwrap_or(0);
        blob.truncate(n);
        blob
    }
    fn load_blob(&mut self, blob: &[u8]) -> Result<(), Error> {
        self.net.load(blob)
    }
}

/// Predicted classes of every sample of `images` (flat, 784 floats each), in batches, by the
/// core's one rule ([`shinso::class_of`]: outputs that are not finite are an error, not a class).
pub fn predict_all(model: &mut dyn Model, images: &[f32]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0.0f32; BATCH * CLASSES];
    let mut preds = Vec::with_capacity(images.len() / INPUT);
    for chunk in images.chunks(BATCH * INPUT) {
        let n = chunk.len() / INPUT;
        model.predict(chunk, &mut out)?;
        for row in out[..n * CLASSES].chunks_exact(CLASSES) {
            preds.push(shinso::class_of(row)? as u8);
        }
    }
    Ok(preds)
}
