//! The four files of an MNIST-format directory, found by their usual names.

use std::path::{Path, PathBuf};

use super::{load_pair, DataError, Dataset};

/// Training and test sets loaded from one directory.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub dir: PathBuf,
    pub train: Dataset,
    pub test: Dataset,
    /// The four files actually read: train images, train labels, test images, test labels.
    pub files: [PathBuf; 4],
}

/// Base names accepted for each of the four files; each may also end in `.gz`.
const NAMES: [(&str, &[&str]); 4] = [
    (
        "training images",
        &["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ),
    (
        "training labels",
        &["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ),
    (
        "test images",
        &[
            "t10k-images-idx3-ubyte",
            "t10k-images.idx3-ubyte",
            "test-images-idx3-ubyte",
        ],
    ),
    (
        "test labels",
        &[
            "t10k-labels-idx1-ubyte",
            "t10k-labels.idx1-ubyte",
            "test-labels-idx1-ubyte",
        ],
    ),
];

/// Find one of the four files in `dir` (gzip preferred if both exist).
fn find_file(dir: &Path, role: usize) -> Result<PathBuf, DataError> {
    let (what, bases) = NAMES[role];
    let mut tried = Vec::new();
    for base in bases {
        for name in [format!("{base}.gz"), base.to_string()] {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(name);
        }
    }
    Err(DataError::Missing {
        dir: dir.to_owned(),
        what,
        tried,
    })
}

/// Load the four MNIST files from `dir` (MNIST, the bundled subset, or Fashion-MNIST).
pub fn load_dir(dir: &Path) -> Result<Mnist, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NoDir {
            dir: dir.to_owned(),
        });
    }
    let files = [
        find_file(dir, 0)?,
        find_file(dir, 1)?,
        find_file(dir, 2)?,
        find_file(dir, 3)?,
    ];
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
    Ok(Mnist {
        dir: dir.to_owned(),
        train,
        test,
        files,
    })
}

/// The bundled data set: `$SHINSO_DATA` if set, else `data/mnist` next to the sources this
/// binary was built from, else `data/mnist` in the executable's directory or any parent, else
/// `./data/mnist`. The first candidate that is a directory wins.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SHINSO_DATA") {
        return PathBuf::from(d);
    }
    let mut candidates = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")];
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            candidates.push(d.join("data/mnist"));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    candidates.push(PathBuf::from("data/mnist"));
    for c in &candidates {
        if c.is_dir() {
            return c.canonicalize().unwrap_or_else(|_| c.clone());
        }
    }
    candidates.swap_remove(0)
}
