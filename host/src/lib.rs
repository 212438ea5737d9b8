//! `shinso-host`: the host side of shinso — data loading, training driver, plots, reports.
//!
//! The binary `shinso` is a thin wrapper over [`cli::run`]; integration tests call the same
//! functions.

pub mod data;
pub mod rng;
pub mod metrics;
pub mod plot;
