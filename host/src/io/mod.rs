//! Model files: the device blob and safetensors, read and checked in one place, written whole.

mod fs;
mod model_file;
pub mod safetensors;

pub use fs::{create_out_dir, read_regular, write_atomic};
pub use model_file::{load, read, Loaded};
pub use safetensors::Metadata;
