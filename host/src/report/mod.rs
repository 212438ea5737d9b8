//! What the CLI writes for people: `metrics.csv`, plots, and the reproduction report.

pub mod experiments;
pub mod markdown;
pub mod metrics;
pub mod plot;
