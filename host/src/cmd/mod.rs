//! The `shinso` command line: one module per subcommand, each owning its flags; this one
//! parses and dispatches.

mod bench;
mod eval;
mod export;
mod info;
mod reproduce;
mod train;

use std::ffi::OsString;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

/// shinso: a no_std deep-learning core, trained and inspected from the host.
#[derive(Parser, Debug)]
#[command(name = "shinso", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a network on MNIST (or any data in the same format) and write metrics, plots,
    /// a summary and the model.
    Train(Box<train::TrainArgs>),
    /// Measure a saved model: accuracy, per-class accuracy and confusion matrix.
    Eval(eval::EvalArgs),
    /// Run the course's experiments and write REPORT.md, report.json and plots.
    Reproduce(reproduce::ReproduceArgs),
    /// Convert a model between safetensors and the device's blob format.
    Export(export::ExportArgs),
    /// Time the training step of presets and print samples per second.
    Bench(bench::BenchArgs),
    /// Describe presets: layers, parameters, memory, and the tensor names of their model files.
    Info(info::InfoArgs),
    /// Talk to a device over a serial port: info, infer, learn, stats, push, pull, eval.
    Device(crate::device::DeviceArgs),
    /// Boot the firmware in QEMU (building it if needed) and run a device command against it.
    Emulate(crate::device::EmulateArgs),
    /// The whole story: train on the host, push to the emulated device, evaluate there, learn
    /// on the device, summarise.
    Demo(crate::device::DemoArgs),
}

/// Plot file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    pub fn ext(self) -> &'static str {
        ["png", "svg"][self as usize]
    }
}

/// Parse `args` and run the command. A parsing error (or `--help` / `--version`) is returned
/// as the [`clap::Error`] itself, for `main` to print.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> Result<()> {
    match Cli::try_parse_from(args)?.command {
        Command::Train(a) => train::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Reproduce(a) => reproduce::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Info(a) => info::run(&a),
        Command::Device(a) => crate::device::device(&a),
        Command::Emulate(a) => crate::device::emulate(&a),
        Command::Demo(a) => crate::device::demo(&a),
    }
}
