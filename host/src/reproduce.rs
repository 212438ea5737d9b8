//! `shinso reproduce`: the course's experiments on the bundled data.

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct ReproduceArgs {}

pub fn run(_a: &ReproduceArgs) -> Result<()> {
    anyhow::bail!("reproduce is not implemented yet")
}
