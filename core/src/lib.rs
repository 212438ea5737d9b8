//! # shinso
//!
//! A deep-learning core small enough for a microcontroller that still trains: `no_std`, no
//! allocation, `f32`, every shape a const generic. The same code is tested on the host, trains
//! MNIST from the `shinso` CLI and learns online on an STM32F405.
//!
//! A [`Network`] holds parameters and persistent state only; every call borrows its working
//! memory (activations, caches, gradients, scratch) from an arena whose size the network states
//! as `const fn`s, and the batch size is simply how many samples a call passes.
//!
//! ```
//! use shinso::{stack, Affine, ReLU, Network, Init, Loss, Rule, Optimizer, WeightDecay, one_hot};
//!
//! // 2-8-2 MLP. A mismatched size here is a compile error.
//! type Net = stack![Affine<2, 8>, ReLU<[f32; 8]>, Affine<8, 2>];
//!
//! let mut net = Network::<Net>::boxed();
//! net.init(Init::He, 42);
//! // The optimizer holds only its state (Adam: two moments per parameter).
//! let rule = Rule::adam(0.01);
//! let params = Network::<Net>::PARAMS;
//! let mut opt = Optimizer::new(rule, params, vec![0.0; rule.state_len(params)]).unwrap();
//! let x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let t = [one_hot::<2>(0), one_hot(1), one_hot(1), one_hot(0)];
//! // The arena of a training step on 4 samples: gradients, activations, caches, scratch.
//! let mut arena = vec![0.0; Network::<Net>::train_arena(x.len())];
//! let loss = net.train_step(&x, &t, Loss::SoftmaxCrossEntropy, WeightDecay::default(), &mut opt, &mut arena).unwrap();
//! assert!(loss.is_finite());
//!
//! let logits = net.predict(&x, &mut arena).unwrap(); // any arena of predict_arena(4) floats
//! assert_eq!(logits.len(), 4);
//!
//! let mut blob = vec![0u8; shinso::model::blob_len::<Net>()];
//! net.save(&mut blob).unwrap();
//! ```
//!
//! ## Examples
//!
//! `core/examples/` walks through the course one chapter per program, each checking its own
//! claims (`cargo run --release -p shinso --example NAME`): `forward_pass`,
//! `activations_losses`, `gradient_check`, `gradient_descent` (full batch, mini-batch,
//! stochastic, online), `optimizers`, `initialisation`, `batch_norm`, `overfitting`, `im2col`
//! and `convnet`.
#![no_std]
// `derive(Zeroable)` repeats a struct's bounds in a where clause; that is not ours to merge.
#![allow(clippy::multiple_bound_locations)]

#[cfg(feature = "alloc")]
extern crate alloc;
// clap's `ValueEnum` derive (on `optim::Kind`) names `::std`; clap itself needs std anyway.
// With `std`, the host's products pick their micro-kernel by what the core has.
#[cfg(any(feature = "clap", feature = "std"))]
extern crate std;

pub mod error;
pub mod finetune;
pub mod gradcheck;
pub mod init;
pub mod kernels;
pub mod knobs;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod math;
pub mod model;
pub mod network;
pub mod optim;
pub mod rng;
pub mod tensor;
pub mod zoo;

/// The README's tour compiles and runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeTour;

pub use error::Error;
pub use init::Init;
pub use knobs::ActivationKind;
pub use layer::{Knobs, Layer, Mode, Plan, Tensor, TensorKind, Visitor};
pub use layers::activation::{
    Activation, AnyActivation, IdentityLayer, ReLU, SigmoidLayer, StepLayer, TanhLayer,
};
pub use layers::affine::Affine;
pub use layers::batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use layers::chain::Chain;
pub use layers::conv::Conv2d;
pub use layers::conv_pool::ConvReluPool;
pub use layers::dropout::Dropout;
pub use layers::flatten::Flatten;
pub use layers::pool::{AvgPool2d, MaxPool2d};
pub use layers::softmax::Softmax;
pub use layers::toggle::Toggle;
pub use loss::{argmax, class_of, one_hot, Loss};
pub use network::{Forward, Memory, Network};
pub use optim::{Kind as OptimizerKind, Optimizer, Rule, WeightDecay};
pub use rng::Rng;
