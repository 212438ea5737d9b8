//! MNIST-style data: IDX reader (gzip or raw), data sets, batching and augmentation.
//!
//! An IDX file is a 4-byte magic `00 00 <type> <ndims>` (type 0x08 = unsigned byte), `ndims`
//! big-endian u32 dimensions, then the payload. Images are `idx3` (count, rows, cols),
//! labels `idx1` (count). Files may be gzip-compressed; compression is detected by the gzip
//! magic `1f 8b`, not by the file name.
//!
//! Every failure is a [`DataError`] whose `Display` is one line naming the file and the problem.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use shinso::Rng;

/// Largest decompressed IDX file we accept (guards against gzip bombs and absurd headers).
pub const MAX_IDX_BYTES: u64 = 2 << 30;

/// Number of classes (digits 0–9, or the 10 Fashion-MNIST classes).
pub const CLASSES: usize = 10;

/// What went wrong while loading data. `Display` is a single line.
#[derive(Debug)]
pub enum DataError {
    /// A directory lacks one of the four files.
    Missing {
        dir: PathBuf,
        what: &'static str,
        tried: Vec<String>,
    },
    /// The data directory itself does not exist or is not a directory.
    NoDir { dir: PathBuf },
    /// An explicitly named file does not exist.
    NotFound { path: PathBuf },
    /// Any other I/O error.
    Io { path: PathBuf, msg: String },
    /// The file starts with the gzip magic but does not decompress.
    Gzip { path: PathBuf, msg: String },
    /// The first bytes are not an IDX magic of unsigned bytes.
    BadMagic { path: PathBuf, found: Vec<u8> },
    /// Valid IDX, but not the kind expected (e.g. labels where images belong).
    WrongKind {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    /// Shorter than its header says.
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// Longer than its header says.
    TrailingBytes { path: PathBuf, extra: u64 },
    /// Decompresses to more than its header says (read no further: it may be a gzip bomb).
    Overlong { path: PathBuf, expected: u64 },
    /// Images and labels disagree on the number of samples.
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    /// A label outside 0..=9.
    BadLabel {
        path: PathBuf,
        index: usize,
        value: u8,
    },
    /// Training and test images have different sizes.
    ShapeMismatch {
        train: PathBuf,
        train_shape: (usize, usize),
        test: PathBuf,
        test_shape: (usize, usize),
    },
    /// A header with a zero-sized or absurdly large dimension.
    BadHeader { path: PathBuf, msg: String },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            Missing { dir, what, tried } => write!(
                f,
                "{}: no {what} file (looked for {})",
                dir.display(),
                tried.join(", ")
            ),
            NoDir { dir } => write!(f, "{}: data directory not found", dir.display()),
            NotFound { path } => write!(f, "{}: file not found", path.display()),
            Io { path, msg } => write!(f, "{}: {msg}", path.display()),
            Gzip { path, msg } => write!(f, "{}: corrupt gzip data ({msg})", path.display()),
            BadMagic { path, found } => write!(
                f,
                "{}: not an IDX file of unsigned bytes (magic {})",
                path.display(),
                found
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            WrongKind {
                path,
                expected,
                found,
            } => {
                write!(f, "{}: expected {expected}, found {found}", path.display())
            }
            Truncated {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{}: truncated: header promises {expected} bytes, file holds {actual}",
                path.display()
            ),
            TrailingBytes { path, extra } => write!(
                f,
                "{}: {extra} unexpected bytes after the data the header describes",
                path.display()
            ),
            Overlong { path, expected } => write!(
                f,
                "{}: decompresses to more than the {expected} bytes its header declares",
                path.display()
            ),
            CountMismatch {
                images,
                n_images,
                labels,
                n_labels,
            } => write!(
                f,
                "{} holds {n_images} images but {} holds {n_labels} labels",
                images.display(),
                labels.display()
            ),
            BadLabel { path, index, value } => write!(
                f,
                "{}: label {value} at index {index} is outside 0..=9",
                path.display()
            ),
            ShapeMismatch {
                train,
                train_shape,
                test,
                test_shape,
            } => write!(
                f,
                "{} holds {}x{} images but {} holds {}x{}",
                train.display(),
                train_shape.0,
                train_shape.1,
                test.display(),
                test_shape.0,
                test_shape.1
            ),
            BadHeader { path, msg } => write!(f, "{}: bad IDX header: {msg}", path.display()),
        }
    }
}

impl std::error::Error for DataError {}

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX file (gzip or raw), never more than its header declares: a gzip bomb, a
/// FIFO or `/dev/zero` cost at most the declared size (itself bounded by [`MAX_IDX_BYTES`]).
pub fn read_idx(path: &Path) -> Result<Idx, DataError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_owned(),
        },
        _ => DataError::Io {
            path: path.to_owned(),
            msg: e.to_string(),
        },
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(DataError::Io {
            path: path.to_owned(),
            msg: "not a regular file".into(),
        });
    }
    let mut raw = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gzip = std::io::BufRead::fill_buf(&mut raw)
        .map_err(io)?
        .starts_with(&[0x1f, 0x8b]);
    let gz_err = |e: std::io::Error| DataError::Gzip {
        path: path.to_owned(),
        msg: match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "unexpected end of compressed stream".into(),
            _ => e.to_string(),
        },
    };
    let mut src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut read_to = |bytes: &mut Vec<u8>, len: u64| {
        let more = len.saturating_sub(bytes.len() as u64);
        (&mut src)
            .take(more)
            .read_to_end(bytes)
            .map_err(|e| if gzip { gz_err(e) } else { io(e) })
    };
    // The magic, then the dimensions it announces, then exactly the payload they describe.
    let mut bytes = Vec::new();
    read_to(&mut bytes, 4)?;
    if let Some(&ndims) = bytes.get(3) {
        read_to(&mut bytes, 4 + 4 * ndims.min(4) as u64)?;
    }
    let Ok((_, header, total)) = idx_header(path, &bytes) else {
        return parse_idx(path, &bytes); // the header's own error
    };
    let expected = header as u64 + total;
    bytes.reserve_exact(total as usize);
    read_to(&mut bytes, expected + 1)?;
    if bytes.len() as u64 > expected {
        return Err(if gzip {
            DataError::Overlong {
                path: path.to_owned(),
                expected,
            }
        } else {
            DataError::TrailingBytes {
                path: path.to_owned(),
                extra: meta.len().saturating_sub(expected),
            }
        });
    }
    parse_idx(path, &bytes)
}

/// An IDX header: dimensions, header bytes and payload bytes.
fn idx_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize, u64), DataError> {
    let p = || path.to_owned();
    if bytes.len() < 4 {
        if bytes.is_empty() {
            return Err(DataError::Truncated {
                path: p(),
                expected: 4,
                actual: 0,
            });
        }
        return Err(DataError::BadMagic {
            path: p(),
            found: bytes.to_vec(),
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 || bytes[3] > 4 {
        return Err(DataError::BadMagic {
            path: p(),
            found: bytes[..4].to_vec(),
        });
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: p(),
            expected: header as u64,
            actual: bytes.len() as u64,
        });
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut total: u64 = 1;
    for i in 0..ndims {
        let o = 4 + 4 * i;
        let d = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as u64;
        total = total.saturating_mul(d);
        dims.push(d as usize);
    }
    if total > MAX_IDX_BYTES {
        return Err(DataError::BadHeader {
            path: p(),
            msg: format!("dimensions {dims:?} describe more than {MAX_IDX_BYTES} bytes"),
        });
    }
    Ok((dims, header, total))
}

/// Parse IDX bytes (already decompressed). `path` only names the file in errors.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<Idx, DataError> {
    let p = || path.to_owned();
    let (dims, header, total) = idx_header(path, bytes)?;
    let expected = header as u64 + total;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: p(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            path: p(),
            extra: actual - expected,
        });
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Images as f32 in [0, 1] (pixel / 255), row-major, one after another.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// `len() * rows * cols` pixels.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }
    /// The first `n` samples (or all, if fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.pixels()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }
    /// Samples per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut c = [0; CLASSES];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
    /// Copy the samples `idx` into `x` (len `idx.len() * pixels`) and `y`.
    pub fn gather(&self, idx: &[usize], x: &mut [f32], y: &mut [u8]) {
        let p = self.pixels();
        for (k, &i) in idx.iter().enumerate() {
            x[k * p..(k + 1) * p].copy_from_slice(self.image(i));
            y[k] = self.labels[i];
        }
    }
}

/// Load an image file and a label file into a [`Dataset`], checking they agree.
pub fn load_pair(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let img = read_idx(images)?;
    if img.dims.len() != 3 {
        return Err(DataError::WrongKind {
            path: images.to_owned(),
            expected: "images (idx3: count, rows, cols)",
            found: format!("idx{} with dimensions {:?}", img.dims.len(), img.dims),
        });
    }
    let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    if n == 0 || rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            path: images.to_owned(),
            msg: format!("empty image set ({n} images of {rows}x{cols})"),
        });
    }
    let lab = read_idx(labels)?;
    if lab.dims.len() != 1 {
        return Err(DataError::WrongKind {
            path: labels.to_owned(),
            expected: "labels (idx1: count)",
            found: format!("idx{} with dimensions {:?}", lab.dims.len(), lab.dims),
        });
    }
    if lab.dims[0] != n {
        return Err(DataError::CountMismatch {
            images: images.to_owned(),
            n_images: n,
            labels: labels.to_owned(),
            n_labels: lab.dims[0],
        });
    }
    if let Some((index, &value)) = lab
        .data
        .iter()
        .enumerate()
        .find(|(_, &v)| v as usize >= CLASSES)
    {
        return Err(DataError::BadLabel {
            path: labels.to_owned(),
            index,
            value,
        });
    }
    const SCALE: f32 = 1.0 / 255.0;
    let images_f = img.data.iter().map(|&b| b as f32 * SCALE).collect();
    Ok(Dataset {
        images: images_f,
        labels: lab.data,
        rows,
        cols,
    })
}

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

/// Shuffled passes over `0..n`: each epoch visits every index once, in a seeded order.
#[derive(Clone, Debug)]
pub struct EpochSampler {
    order: Vec<usize>,
    pos: usize,
    epoch: usize,
    rng: Rng,
}

impl EpochSampler {
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        Self {
            order,
            pos: 0,
            epoch: 0,
            rng,
        }
    }
    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
    /// Fraction of epochs completed, e.g. 2.5.
    pub fn progress(&self) -> f64 {
        self.epoch as f64 + self.pos as f64 / self.order.len().max(1) as f64
    }
    /// Fill `out` with the next indices; an epoch boundary reshuffles (a batch may straddle it).
    pub fn next_batch(&mut self, out: &mut [usize]) {
        for slot in out.iter_mut() {
            if self.pos == self.order.len() {
                self.pos = 0;
                self.epoch += 1;
                self.rng.shuffle(&mut self.order);
            }
            *slot = self.order[self.pos];
            self.pos += 1;
        }
        if self.pos == self.order.len() {
            self.pos = 0;
            self.epoch += 1;
            self.rng.shuffle(&mut self.order);
        }
    }
}

/// Shift one `rows x cols` image by `(dx, dy)` pixels (right and down positive), filling
/// uncovered pixels with zero: `dst[y][x] = src[y - dy][x - dx]`.
pub fn shift_image(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, dx: i32, dy: i32) {
    debug_assert_eq!(src.len(), rows * cols);
    debug_assert_eq!(dst.len(), rows * cols);
    dst.fill(0.0);
    let (r, c) = (rows as i32, cols as i32);
    if dx.abs() >= c || dy.abs() >= r {
        return;
    }
    let x0 = dx.max(0) as usize; // first destination column written
    let x1 = (c + dx.min(0)) as usize; // one past the last
    let sx0 = (x0 as i32 - dx) as usize;
    for y in dy.max(0)..(r + dy.min(0)) {
        let sy = (y - dy) as usize;
        let d = y as usize * cols;
        let s = sy * cols;
        dst[d + x0..d + x1].copy_from_slice(&src[s + sx0..s + sx0 + (x1 - x0)]);
    }
}

/// Random translations of up to `±max_shift` pixels in each direction, zero filled,
/// deterministic from the seed.
#[derive(Clone, Debug)]
pub struct Augmenter {
    pub max_shift: u32,
    rng: Rng,
    scratch: Vec<f32>,
}

impl Augmenter {
    pub fn new(max_shift: u32, seed: u64) -> Self {
        Self {
            max_shift,
            rng: Rng::new(seed ^ 0xA5A5_5A5A_C3C3_3C3C),
            scratch: Vec::new(),
        }
    }
    /// Shift every image of a batch in place (each by its own random offset).
    pub fn apply(&mut self, batch: &mut [f32], rows: usize, cols: usize) {
        if self.max_shift == 0 {
            return;
        }
        let p = rows * cols;
        self.scratch.resize(p, 0.0);
        for img in batch.chunks_exact_mut(p) {
            let k = self.max_shift as usize;
            let dx = self.rng.below(2 * k + 1) as i32 - k as i32;
            let dy = self.rng.below(2 * k + 1) as i32 - k as i32;
            if dx == 0 && dy == 0 {
                continue;
            }
            self.scratch.copy_from_slice(img);
            shift_image(&self.scratch, img, rows, cols, dx, dy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// A valid directory with `n` 4x3 images; returns the temp dir.
    fn make_dir(n: usize, gzip: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let px: Vec<u8> = (0..n * 12).map(|i| (i % 256) as u8).collect();
        let lb: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let files = [
            ("train-images-idx3-ubyte", idx_bytes(&[n as u32, 4, 3], &px)),
            ("train-labels-idx1-ubyte", idx_bytes(&[n as u32], &lb)),
            ("t10k-images-idx3-ubyte", idx_bytes(&[n as u32, 4, 3], &px)),
            ("t10k-labels-idx1-ubyte", idx_bytes(&[n as u32], &lb)),
        ];
        for (name, b) in files {
            if gzip {
                std::fs::write(dir.path().join(format!("{name}.gz")), gz(&b)).unwrap();
            } else {
                std::fs::write(dir.path().join(name), b).unwrap();
            }
        }
        dir
    }

    fn err_of(dir: &Path) -> (DataError, String) {
        let e = load_dir(dir).unwrap_err();
        let s = e.to_string();
        assert!(!s.contains('\n'), "error must be one line: {s}");
        (e, s)
    }

    #[test]
    fn loads_raw_and_gzip() {
        for gzip in [false, true] {
            let d = make_dir(30, gzip);
            let m = load_dir(d.path()).unwrap();
            assert_eq!(m.train.len(), 30);
            assert_eq!((m.train.rows, m.train.cols), (4, 3));
            assert_eq!(m.train.images.len(), 30 * 12);
            assert_eq!(m.train.images[1], 1.0 / 255.0);
            assert_eq!(m.train.images[255], 1.0);
            assert!(m.train.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
            assert_eq!(m.test.labels[3], 3);
        }
    }

    #[test]
    fn missing_file() {
        let d = make_dir(3, false);
        std::fs::remove_file(d.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let (e, s) = err_of(d.path());
        assert!(
            matches!(
                e,
                DataError::Missing {
                    what: "test labels",
                    ..
                }
            ),
            "{s}"
        );
        assert!(s.contains("t10k-labels-idx1-ubyte.gz"), "{s}");
        let (e, _) = err_of(&d.path().join("nope"));
        assert!(matches!(e, DataError::NoDir { .. }));
        let e = read_idx(&d.path().join("absent")).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }));
    }

    #[test]
    fn truncated_file() {
        let d = make_dir(3, false);
        let p = d.path().join("train-images-idx3-ubyte");
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 5);
        std::fs::write(&p, &b).unwrap();
        let (e, s) = err_of(d.path());
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: 52,
                    actual: 47,
                    ..
                }
            ),
            "{s}"
        );
        assert!(
            s.contains("train-images-idx3-ubyte") && s.contains("truncated"),
            "{s}"
        );
        // truncated inside the header
        std::fs::write(&p, &b[..9]).unwrap();
        assert!(matches!(
            err_of(d.path()).0,
            DataError::Truncated {
                expected: 16,
                actual: 9,
                ..
            }
        ));
        // empty file
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(err_of(d.path()).0, DataError::Truncated { .. }));
    }

    #[test]
    fn trailing_bytes() {
        let d = make_dir(3, false);
        let p = d.path().join("train-labels-idx1-ubyte");
        let mut b = std::fs::read(&p).unwrap();
        b.extend_from_slice(&[1, 2]);
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(
            err_of(d.path()).0,
            DataError::TrailingBytes { extra: 2, .. }
        ));
    }

    #[test]
    fn bad_magic() {
        let d = make_dir(3, false);
        let p = d.path().join("train-images-idx3-ubyte");
        std::fs::write(&p, b"PK\x03\x04 this is a zip file").unwrap();
        let (e, s) = err_of(d.path());
        assert!(matches!(e, DataError::BadMagic { .. }), "{s}");
        assert!(s.contains("50 4b 03 04"), "{s}");
        // float IDX (type 0x0d) is not supported
        std::fs::write(&p, idx_bytes(&[1, 1, 1], &[0, 0, 0, 0])).unwrap();
        let mut b = std::fs::read(&p).unwrap();
        b[2] = 0x0d;
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(err_of(d.path()).0, DataError::BadMagic { .. }));
    }

    #[test]
    fn wrong_kind() {
        let d = make_dir(3, false);
        std::fs::copy(
            d.path().join("train-labels-idx1-ubyte"),
            d.path().join("train-images-idx3-ubyte"),
        )
        .unwrap();
        let (e, s) = err_of(d.path());
        assert!(matches!(e, DataError::WrongKind { .. }), "{s}");
    }

    #[test]
    fn corrupt_gzip() {
        let d = make_dir(50, true);
        let p = d.path().join("train-images-idx3-ubyte.gz");
        let mut b = std::fs::read(&p).unwrap();
        // clobber the deflate stream
        for x in b.iter_mut().skip(12).take(40) {
            *x ^= 0x5a;
        }
        std::fs::write(&p, &b).unwrap();
        let (e, s) = err_of(d.path());
        assert!(matches!(e, DataError::Gzip { .. }), "{s}");
        assert!(
            s.contains("train-images-idx3-ubyte.gz") && s.contains("gzip"),
            "{s}"
        );
        // a gzip cut short
        let good = gz(&idx_bytes(&[50, 4, 3], &[7; 600]));
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        assert!(matches!(err_of(d.path()).0, DataError::Gzip { .. }));
    }

    #[test]
    fn count_mismatch() {
        let d = make_dir(3, false);
        std::fs::write(
            d.path().join("t10k-labels-idx1-ubyte"),
            idx_bytes(&[2], &[1, 2]),
        )
        .unwrap();
        let (e, s) = err_of(d.path());
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    n_images: 3,
                    n_labels: 2,
                    ..
                }
            ),
            "{s}"
        );
        assert!(s.contains("3 images") && s.contains("2 labels"), "{s}");
    }

    #[test]
    fn label_out_of_range() {
        let d = make_dir(3, false);
        std::fs::write(
            d.path().join("train-labels-idx1-ubyte"),
            idx_bytes(&[3], &[1, 10, 2]),
        )
        .unwrap();
        let (e, s) = err_of(d.path());
        assert!(
            matches!(
                e,
                DataError::BadLabel {
                    index: 1,
                    value: 10,
                    ..
                }
            ),
            "{s}"
        );
    }

    #[test]
    fn shape_mismatch_and_empty() {
        let d = make_dir(3, false);
        std::fs::write(
            d.path().join("t10k-images-idx3-ubyte"),
            idx_bytes(&[3, 2, 6], &[0; 36]),
        )
        .unwrap();
        assert!(matches!(
            err_of(d.path()).0,
            DataError::ShapeMismatch { .. }
        ));
        std::fs::write(
            d.path().join("t10k-images-idx3-ubyte"),
            idx_bytes(&[0, 4, 3], &[]),
        )
        .unwrap();
        assert!(matches!(err_of(d.path()).0, DataError::BadHeader { .. }));
        // absurd dimensions are refused before any allocation
        std::fs::write(
            d.path().join("t10k-images-idx3-ubyte"),
            idx_bytes(&[u32::MAX, u32::MAX, 4], &[]),
        )
        .unwrap();
        assert!(matches!(err_of(d.path()).0, DataError::BadHeader { .. }));
    }

    #[test]
    fn alternative_names() {
        let d = make_dir(3, false);
        std::fs::rename(
            d.path().join("t10k-images-idx3-ubyte"),
            d.path().join("t10k-images.idx3-ubyte"),
        )
        .unwrap();
        assert_eq!(load_dir(d.path()).unwrap().test.len(), 3);
    }

    #[test]
    fn bundled_data_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
        let m = load_dir(&dir).unwrap();
        assert_eq!(m.train.len(), 10_000);
        assert_eq!(m.test.len(), 10_000);
        assert_eq!((m.train.rows, m.train.cols), (28, 28));
        // the first official training labels: 5 0 4 1 9 2 1 3 1 4
        assert_eq!(&m.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        // the first official test labels: 7 2 1 0 4 1 4 9 5 9
        assert_eq!(&m.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        assert!(m.train.class_counts().iter().all(|&c| c > 800));
    }

    #[test]
    fn shift_moves_pixels_and_zero_fills() {
        // 3x4 image with distinct values 1..=12
        let src: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let mut dst = vec![-1.0; 12];
        shift_image(&src, &mut dst, 3, 4, 1, 0);
        assert_eq!(dst, vec![0., 1., 2., 3., 0., 5., 6., 7., 0., 9., 10., 11.]);
        shift_image(&src, &mut dst, 3, 4, -2, 1);
        assert_eq!(dst, vec![0., 0., 0., 0., 3., 4., 0., 0., 7., 8., 0., 0.]);
        shift_image(&src, &mut dst, 3, 4, 0, 0);
        assert_eq!(dst, src);
        shift_image(&src, &mut dst, 3, 4, 5, 0);
        assert!(dst.iter().all(|&v| v == 0.0));
        // shifting back and forth keeps the interior
        let mut back = vec![0.0; 12];
        shift_image(&src, &mut dst, 3, 4, 1, 1);
        shift_image(&dst, &mut back, 3, 4, -1, -1);
        assert_eq!(&back[..3], &src[..3]);
        assert_eq!(&back[4..7], &src[4..7]);
    }

    #[test]
    fn augmenter_is_deterministic_and_bounded() {
        let mut img = vec![0.0f32; 28 * 28];
        img[14 * 28 + 14] = 1.0; // one lit pixel in the centre
        let batch: Vec<f32> = img.iter().cycle().take(28 * 28 * 50).copied().collect();
        let run = |seed| {
            let mut b = batch.clone();
            Augmenter::new(2, seed).apply(&mut b, 28, 28);
            b
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let out = run(3);
        let mut moved = 0;
        for im in out.chunks(28 * 28) {
            let pos = im.iter().position(|&v| v == 1.0).unwrap();
            let (y, x) = ((pos / 28) as i32, (pos % 28) as i32);
            assert!((y - 14).abs() <= 2 && (x - 14).abs() <= 2);
            assert_eq!(im.iter().filter(|&&v| v != 0.0).count(), 1);
            moved += (pos != 14 * 28 + 14) as usize;
        }
        assert!(moved > 30);
    }

    #[test]
    fn sampler_visits_each_index_once_per_epoch() {
        let mut s = EpochSampler::new(10, 1);
        let mut seen = [0; 10];
        let mut b = [0usize; 5];
        for _ in 0..2 {
            s.next_batch(&mut b);
            for &i in &b {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        assert_eq!(s.epoch(), 1);
        let mut b3 = [0usize; 3];
        for _ in 0..10 {
            s.next_batch(&mut b3);
        }
        assert_eq!(s.epoch(), 4);
    }
}
