//! The networks the CLI trains, behind one object-safe trait so a preset chosen on the command
//! line can drive any of the core's statically-shaped network types.

use bytemuck::Pod;
use shinso::{
    layer::floats, Error, Init, Knobs, Layer, Loss, Memory, Network, Optimizer, Rule, Visitor,
    WeightDecay,
};

use crate::presets::Preset;

/// Batch capacity of every host network: `--batch-size` may be at most this.
pub const BATCH: usize = 128;
/// Floats per input sample (28×28 grey images).
pub const INPUT: usize = 784;
/// Output classes.
pub const CLASSES: usize = 10;

/// A network of any preset, with its batch buffers.
pub trait Model: Send {
    fn preset(&self) -> Preset;
    /// Trainable parameters.
    fn params(&self) -> usize;
    /// Non-trainable saved floats (batch-norm running statistics).
    fn state(&self) -> usize;
    /// Blob signature (kind and sizes of every layer).
    fn signature(&self) -> u64;
    /// Memory plan with optimizer `rule`.
    fn memory(&self, rule: &Rule) -> Memory;
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
}

impl<L> Net<L>
where
    L: Layer<Out = [f32; CLASSES]> + Send + 'static,
    L::OutBatch: Send,
{
    /// A zeroed network (call [`Model::init`]).
    pub fn boxed(preset: Preset) -> Box<dyn Model> {
        assert_eq!(floats::<L::In>(), INPUT, "preset input must be 784 floats");
        assert!(L::BATCH >= 1);
        Box::new(Self {
            net: Network::<L>::boxed(),
            preset,
            targets: vec![[0.0; CLASSES]; L::BATCH],
        })
    }
}

fn as_inputs<T: Pod>(x: &[f32]) -> &[T] {
    bytemuck::cast_slice(x)
}

impl<L> Model for Net<L>
where
    L: Layer<Out = [f32; CLASSES]> + Send + 'static,
    L::OutBatch: Send,
{
    fn preset(&self) -> Preset {
        self.preset
    }
    fn params(&self) -> usize {
        L::PARAMS
    }
    fn state(&self) -> usize {
        L::STATE
    }
    fn signature(&self) -> u64 {
        L::SIGNATURE
    }
    fn memory(&self, rule: &Rule) -> Memory {
        Network::<L>::memory(rule)
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
        let n = labels.len();
        assert!(
            n <= L::BATCH && x.len() == n * INPUT,
            "batch larger than the network's capacity"
        );
        for (t, &l) in self.targets.iter_mut().zip(labels) {
            *t = shinso::one_hot::<CLASSES>(l as usize);
        }
        self.net
            .train_step(as_inputs::<L::In>(x), &self.targets[..n], loss, decay, opt)
    }
    fn predict(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let xs = as_inputs::<L::In>(x);
        assert!(xs.len() <= L::BATCH);
        let y = self.net.predict(xs)?;
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

/// Tensor description for documentation and safetensors: `(name, shape)` in blob order.
pub fn tensor_list(model: &mut dyn Model) -> Vec<(String, Vec<usize>)> {
    let mut names = crate::safetensors_io::Namer::default();
    let mut out = Vec::new();
    model.visit(&mut names.with(|name, t| out.push((name, t.shape[..t.rank()].to_vec()))));
    out
}
