//! Images and labels in memory, and the one pixel scaling.

use std::borrow::Cow;
use std::path::Path;

use super::idx::{read_idx, Idx};
use super::{DataError, CLASSES};

/// A pixel as the networks take it: `p · (1/255)`, the device's scaling (`firmware/app`'s
/// `slot::scale`), so host and device see the same floats. (`p / 255` differs from it in
/// the last bit for 126 of the 256 values.)
pub fn pixel(p: u8) -> f32 {
    p as f32 * (1.0 / 255.0)
}

/// Images as f32 in [0, 1] (see [`pixel`]), row-major, one after another.
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
    /// The first `n` samples (all of them when `n` is `None` or larger), copied only if cut.
    pub fn first(&self, n: Option<usize>) -> Cow<'_, Dataset> {
        match n {
            Some(n) if n < self.len() => Cow::Owned(Dataset {
                images: self.images[..n * self.pixels()].to_vec(),
                labels: self.labels[..n].to_vec(),
                ..*self
            }),
            _ => Cow::Borrowed(self),
        }
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
    let [n, rows, cols] = img.dims[..] else {
        return Err(wrong_kind(images, "images (idx3: count, rows, cols)", &img));
    };
    if n == 0 || rows == 0 || cols == 0 {
        let msg = format!("empty image set ({n} images of {rows}x{cols})");
        let path = images.to_owned();
        return Err(DataError::BadHeader { path, msg });
    }
    let lab = read_idx(labels)?;
    let [n_labels] = lab.dims[..] else {
        return Err(wrong_kind(labels, "labels (idx1: count)", &lab));
    };
    if n_labels != n {
        return Err(DataError::CountMismatch {
            images: images.to_owned(),
            n_images: n,
            labels: labels.to_owned(),
            n_labels,
        });
    }
    if let Some(index) = lab.data.iter().position(|&v| v as usize >= CLASSES) {
        let (path, value) = (labels.to_owned(), lab.data[index]);
        return Err(DataError::BadLabel { path, index, value });
    }
    Ok(Dataset {
        images: img.data.iter().map(|&b| pixel(b)).collect(),
        labels: lab.data,
        rows,
        cols,
    })
}

/// A valid IDX file of the wrong kind (labels where images belong, or the reverse).
fn wrong_kind(path: &Path, expected: &'static str, found: &Idx) -> DataError {
    let dims = &found.dims;
    DataError::WrongKind {
        path: path.to_owned(),
        expected,
        found: format!("idx{} with dimensions {dims:?}", dims.len()),
    }
}
