//! The four files of an MNIST-format directory, found by their usual names.

use std::path::{Path, PathBuf};

use super::{load_pair, DataError, Dataset};

/// Training and test sets loaded from one directory.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub dir: PathBuf,
    pub train: Dataset,
    pub test: Dataset,
}

/// Each of the four files (training images and labels, test images and labels): what it is,
/// and the base names it may have, separated by spaces; each may also end in `.gz`.
const NAMES: [(&str, &str); 4] = [
    (
        "training images",
        "train-images-idx3-ubyte train-images.idx3-ubyte",
    ),
    (
        "training labels",
        "train-labels-idx1-ubyte train-labels.idx1-ubyte",
    ),
    (
        "test images",
        "t10k-images-idx3-ubyte t10k-images.idx3-ubyte test-images-idx3-ubyte",
    ),
    (
        "test labels",
        "t10k-labels-idx1-ubyte t10k-labels.idx1-ubyte test-labels-idx1-ubyte",
    ),
];

/// Find one of the four files in `dir` (gzip preferred if both exist).
fn find_file(dir: &Path, (what, bases): (&'static str, &str)) -> Result<PathBuf, DataError> {
    let tried: Vec<String> = bases
        .split(' ')
        .flat_map(|base| [format!("{base}.gz"), base.to_string()])
        .collect();
    let found = tried.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    found.ok_or_else(|| DataError::Missing {
        dir: dir.to_owned(),
        what,
        tried,
    })
}

/// Load the four MNIST files from `dir` (MNIST, the bundled subset, or Fashion-MNIST).
pub fn load_dir(dir: &Path) -> Result<Mnist, DataError> {
    let dir = dir.to_owned();
    if !dir.is_dir() {
        return Err(DataError::NoDir { dir });
    }
    let files = NAMES
        .iter()
        .map(|&role| find_file(&dir, role))
        .collect::<Result<Vec<_>, _>>()?;
    let train = load_pair(&files[0], &files[1])?;
    let test = load_pair(&files[2], &files[3])?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::ShapeMismatch {
            train: files[0].clone(),
            train_shape: (train.rows, train.cols),
            test: files[2].clone(),
            test_shape: (test.rows, test.cols),
        });
    }
    Ok(Mnist { dir, train, test })
}

/// The bundled data set: `$SHINSO_DATA` if set, else `data/mnist` next to the sources this
/// binary was built from, else `data/mnist` in the executable's directory or any parent, else
/// `./data/mnist`. The first candidate that is a directory wins.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SHINSO_DATA") {
        return PathBuf::from(d);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let exe = std::env::current_exe().ok();
    let near_exe = exe.iter().flat_map(|e| e.ancestors().skip(1));
    let mut candidates = std::iter::once(built.clone())
        .chain(near_exe.map(|d| d.join("data/mnist")))
        .chain([PathBuf::from("data/mnist")]);
    match candidates.find(|c| c.is_dir()) {
        Some(c) => c.canonicalize().unwrap_or(c),
        None => built,
    }
}
