//! What can go wrong while loading a data set: one variant per problem, each displayed as one
//! line that names the file.

use std::path::PathBuf;

/// What went wrong while loading data, each variant's message in its `#[error]`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: no {what} file (looked for {})", .dir.display(), .tried.join(", "))]
    Missing {
        dir: PathBuf,
        what: &'static str,
        tried: Vec<String>,
    },
    #[error("{}: data directory not found", .dir.display())]
    NoDir { dir: PathBuf },
    #[error("{}: file not found", .path.display())]
    NotFound { path: PathBuf },
    /// Any other I/O error.
    #[error("{}: {msg}", .path.display())]
    Io { path: PathBuf, msg: String },
    /// The file starts with the gzip magic but does not decompress.
    #[error("{}: corrupt gzip data ({msg})", .path.display())]
    Gzip { path: PathBuf, msg: String },
    #[error("{}: not an IDX file of unsigned bytes (magic {})", .path.display(), hex(.found))]
    BadMagic { path: PathBuf, found: Vec<u8> },
    /// Valid IDX, but not the kind expected (e.g. labels where images belong).
    #[error("{}: expected {expected}, found {found}", .path.display())]
    WrongKind {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error("{}: truncated: header promises {expected} bytes, file holds {actual}", .path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{}: {extra} unexpected bytes after the data the header describes", .path.display())]
    TrailingBytes { path: PathBuf, extra: u64 },
    /// Decompresses to more than its header says (read no further: it may be a gzip bomb).
    #[error("{}: decompresses to more than the {expected} bytes its header declares", .path.display())]
    Overlong { path: PathBuf, expected: u64 },
    #[error("{} holds {n_images} images but {} holds {n_labels} labels", .images.display(), .labels.display())]
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    #[error("{}: label {value} at index {index} is outside 0..=9", .path.display())]
    BadLabel {
        path: PathBuf,
        index: usize,
        value: u8,
    },
    #[error("{} holds {}x{} images but {} holds {}x{}", .train.display(), .train_shape.0, .train_shape.1, .test.display(), .test_shape.0, .test_shape.1)]
    ShapeMismatch {
        train: PathBuf,
        train_shape: (usize, usize),
        test: PathBuf,
        test_shape: (usize, usize),
    },
    /// Well-formed, but not the 28×28 images the networks and the device take.
    #[error("{}: the networks and the device take 28x28 images; these are {rows}x{cols}", .dir.display())]
    Not28x28 {
        dir: PathBuf,
        rows: usize,
        cols: usize,
    },
    /// A header with a zero-sized or absurdly large dimension.
    #[error("{}: bad IDX header: {msg}", .path.display())]
    BadHeader { path: PathBuf, msg: String },
}

/// Bytes as `50 4b 03 04`.
fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(" ")
}
