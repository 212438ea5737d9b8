//! Errors for data that comes from outside: model blobs and samples. Shape mistakes are not
//! here: they do not compile.

use core::fmt;

/// What was wrong with an input, a model blob or a training step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// An input or target value is NaN or infinite.
    NonFiniteInput,
    /// The loss of a training step was NaN or infinite; the parameters were left unchanged.
    NonFiniteLoss,
    /// A gradient was NaN or infinite; the parameters were left unchanged.
    NonFiniteGradient,
    /// A blob is shorter than its header says, or longer.
    BlobLength { expected: usize, found: usize },
    /// A blob header declaring another number of floats than the network holds.
    BlobCount { expected: usize, found: u32 },
    /// A network's outputs hold NaN or an infinity, so they name no class.
    NonFiniteOutput,
    /// A blob does not start with the shinso magic bytes.
    BadMagic,
    /// A blob from a format version this build does not read.
    BadVersion(u16),
    /// A blob for another network.
    WrongSignature { expected: u64, found: u64 },
    /// A blob whose payload does not match its checksum.
    BadChecksum { expected: u32, found: u32 },
    /// A blob holding NaN or infinite parameters.
    NonFiniteParameter,
    /// A batch larger than the network's capacity, or targets that do not match the samples
    /// one for one.
    BatchSize {
        /// Samples given.
        samples: usize,
        /// Targets given (equal to `samples` where there are none).
        targets: usize,
        /// The network's batch capacity.
        capacity: usize,
    },
    /// The output buffer given to `save` is too small.
    BufferTooSmall { needed: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFiniteInput => write!(f, "input contains NaN or infinity"),
            Error::NonFiniteLoss => write!(f, "loss is not finite; step rolled back"),
            Error::NonFiniteGradient => write!(f, "gradient is not finite; step rolled back"),
            Error::BlobLength { expected, found } => {
                write!(f, "model blob has {found} bytes, expected {expected}")
            }
            Error::BlobCount { expected, found } => write!(
                f,
                "model blob header declares {found} floats, the network has {expected}"
            ),
            Error::NonFiniteOutput => write!(f, "the network's outputs are NaN or infinite"),
            Error::BadMagic => write!(f, "not a shinso model blob (bad magic)"),
            Error::BadVersion(v) => write!(f, "unsupported model blob version {v}"),
            Error::WrongSignature { expected, found } => write!(
                f,
                "model blob is for another network (signature {found:#018x}, expected {expected:#018x})"
            ),
            Error::BadChecksum { expected, found } => {
                write!(f, "model blob is corrupt (CRC {found:#010x}, expected {expected:#010x})")
            }
            Error::NonFiniteParameter => write!(f, "model blob holds NaN or infinite parameters"),
            Error::BatchSize { samples, targets, capacity } => write!(
                f,
                "batch of {samples} samples and {targets} targets for a network of batch capacity {capacity}"
            ),
            Error::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
        }
    }
}

impl core::error::Error for Error {}
