//! MNIST as the device sees it: 784 bytes per image, labels 0..9 (IDX files, gzip or raw).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Images (784 bytes each) and their labels.
pub struct Set {
    /// `len × 784` pixels.
    pub images: Vec<u8>,
    /// One per image.
    pub labels: Vec<u8>,
}

impl Set {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i` as the protocol carries it.
    pub fn pixels(&self, i: usize) -> shinso_proto::Pixels {
        shinso_proto::Pixels::from_slice(&self.images[i * 784..(i + 1) * 784]).expect("784 bytes")
    }
}

/// The project's bundled data set (`data/mnist` at the repository root).
pub fn bundled_dir() -> PathBuf {
    crate::firmware_dir().parent().unwrap().join("data/mnist")
}

fn read_idx(path: &Path, header: usize) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    } else {
        bytes = raw;
    }
    if bytes.len() < header {
        return Err(format!("{}: truncated IDX file", path.display()));
    }
    Ok(bytes.split_off(header))
}

/// Loads `prefix` (`train` or `t10k`) from `dir`.
pub fn load(dir: &Path, prefix: &str) -> Result<Set, String> {
    let find = |kind: &str| {
        let gz = dir.join(format!("{prefix}-{kind}.gz"));
        if gz.is_file() {
            gz
        } else {
            dir.join(format!("{prefix}-{kind}"))
        }
    };
    let images = read_idx(&find("images-idx3-ubyte"), 16)?;
    let labels = read_idx(&find("labels-idx1-ubyte"), 8)?;
    if images.len() != labels.len() * 784 || labels.iter().any(|&l| l > 9) {
        return Err(format!("{}: images and labels do not match", dir.display()));
    }
    Ok(Set { images, labels })
}
