//! `shinso-host`: the host side of shinso — data loading, the training driver, plots, reports,
//! and the device client.
//!
//! Imports point one way, from the commands down to the leaves:
//! `cmd` → `device` → `report` → `train` → `io` → `nets` → `data` → `ui`, each using only
//! modules to its right. The binary `shinso` is a thin wrapper over [`cmd::run`]; integration
//! tests call the same functions.

pub mod cmd;
pub mod data;
pub mod device;
pub mod io;
pub mod nets;
pub mod report;
pub mod train;
pub mod ui;
