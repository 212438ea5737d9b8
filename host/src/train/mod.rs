//! Training: the configuration of a run, each preset's recipe, the loop, and what it records.

mod config;
mod metrics;
mod recipe;
mod run;

pub use config::{Schedule, TrainConfig, MAX_ITERATIONS};
pub use metrics::{Confusion, Record};
pub use run::{evaluate, fresh, run, Progress, RunResult};
