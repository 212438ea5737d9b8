//! The bundled MNIST for the device tests, read by the host's loader (the project's one IDX
//! reader, with its checks) and handed to the device as the bytes the protocol carries.

use shinso_host::data::{default_data_dir, load_dir, Dataset};
use shinso_proto::Pixels;

/// The bundled training and test sets.
pub fn bundled() -> (Dataset, Dataset) {
    let m = load_dir(&default_data_dir()).unwrap_or_else(|e| panic!("{e}"));
    (m.train, m.test)
}

/// Image `i` as the device takes it.
pub fn pixels(set: &Dataset, i: usize) -> Pixels {
    Pixels::from_unit(set.image(i)).expect("28×28 images")
}
