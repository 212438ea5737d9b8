//! `shinso-host`: the host side of shinso — data loading, the training driver, plots, reports.
//!
//! The binary `shinso` is a thin wrapper over [`cli::run`]; integration tests call the same
//! functions.

pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod plot;
pub mod presets;
pub mod reproduce;
pub mod safetensors_io;
pub mod shift;
pub mod train;
