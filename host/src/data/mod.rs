//! MNIST-style data: the IDX reader, data sets, batch sampling and augmentation.
//!
//! Every failure is a [`DataError`] whose `Display` is one line naming the file and the problem.

mod augment;
mod dataset;
mod dir;
mod error;
mod idx;
pub mod rotate;
mod sampling;

use std::path::PathBuf;

pub use augment::{shift_image, Augmenter};
pub use dataset::{load_pair, pixel, Dataset};
pub use dir::{default_data_dir, load_dir, Mnist};
pub use error::DataError;
pub use idx::{read_idx, Idx};
pub use sampling::EpochSampler;
/// Number of classes (digits 0–9, or the 10 Fashion-MNIST classes): the wire protocol's,
/// which every network's output and every label check share.
pub use shinso_proto::CLASSES;

/// Where the data comes from: the `--data` flag every command that reads data takes.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Directory holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] (default: the bundled
    /// data/mnist, or $SHINSO_DATA)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    /// The data set, if its images are the 28×28 that the networks and the device take
    /// (training and test images are one size, or it does not load).
    pub fn load(&self) -> Result<Mnist, DataError> {
        let data = load_dir(&self.data.clone().unwrap_or_else(default_data_dir))?;
        let (dir, rows, cols) = (data.dir.clone(), data.test.rows, data.test.cols);
        match rows * cols == shinso_proto::PIXELS {
            true => Ok(data),
            false => Err(DataError::Not28x28 { dir, rows, cols }),
        }
    }
}
