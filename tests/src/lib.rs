//! Shared helpers for the integration tests: naive `f64` reference implementations.
