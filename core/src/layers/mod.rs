//! Typed layers over the kernels. Each file holds one kind of layer.

pub mod activation;
pub mod affine;
pub mod batchnorm;
pub mod chain;
pub mod conv;
pub mod conv_pool;
pub mod dropout;
pub mod flatten;
pub mod pool;
pub mod softmax;
pub mod toggle;
