//! Hot loops over plain slices. Layers are thin typed wrappers around these.
//!
//! Written to vectorise on x86-64 (AVX2 via `target-cpu=x86-64-v3`) and to pipeline on a
//! Cortex-M4F: contiguous rows, several independent accumulators, no bounds checks in inner
//! loops (slices are cut to size first, then zipped). Summation order is fixed by the code, not
//! by the target, so the host and the device compute the same floats. With the `std` feature
//! the host's large products run an AVX-512 micro-kernel where the core has one (`avx512`,
//! chosen at run time): the same floats, twice the lanes.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;
pub mod batchnorm;
#[cfg(not(target_arch = "arm"))]
mod blocked;
pub mod conv;
pub mod conv_pool;
pub mod dense;
pub mod elementwise;
pub mod gemm;
pub mod im2col;
pub mod pool;
mod tile;

/// Lets the host's large products use AVX-512 where the core has it (the default), or keeps
/// them on the portable x86-64-v3 micro-kernel: the same floats either way, so this is for
/// benchmarks and for tests of both paths on one machine. A no-op elsewhere.
#[cfg(feature = "std")]
pub fn allow_avx512(on: bool) {
    #[cfg(target_arch = "x86_64")]
    avx512::ALLOWED.store(on, core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = on;
}

/// Whether the host's large products run on AVX-512 now: allowed ([`allow_avx512`]) and this
/// core has it.
#[cfg(feature = "std")]
pub fn uses_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

pub use batchnorm::{bn_backward, bn_normalize, bn_stats, bn_update_running, BnShape, Norm};
pub use conv::{conv2d_direct, conv2d_direct_backward, conv2d_direct_rows, conv2d_direct_tiles};
pub use conv_pool::{
    conv_relu_pool, conv_relu_pool_backward, conv_relu_pool_bands, conv_relu_pool_tiles, ConvPool,
};
pub use dense::affine_backward_one;
pub use elementwise::{all_finite, relu, sqrt};
pub use gemm::{axpy, dot, gemm_nn, gemm_nt, gemm_tn};
pub use im2col::{col2im, im2col, im2col_t, out_size, Axis, Geometry};
pub use pool::{avg_pool, avg_pool_backward, max_pool, max_pool_backward, max_pool_infer};
