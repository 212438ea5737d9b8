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
    /// The update would have made a parameter or the optimizer's state NaN or infinite; the
    /// step was refused and nothing changed.
    NonFiniteUpdate,
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
    /// Targets that do not match the samples one for one.
    BatchSize {
        /// Samples given.
        samples: usize,
        /// Targets given.
        targets: usize,
    },
    /// A float buffer (an arena, gradients, optimizer state) is smaller than the call needs:
    /// sizes in floats.
    ArenaTooSmall { needed: usize, found: usize },
    /// The output buffer given to `save` is too small (bytes).
    BufferTooSmall { needed: usize },
    /// A payload range that is not inside the payload, or (for writes) not whole floats.
    PayloadRange {
        offset: usize,
        len: usize,
        payload: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFiniteInput => write!(f, "input contains NaN or infinity"),
            Error::NonFiniteLoss => write!(f, "loss is not finite; step rolled back"),
            Error::NonFiniteGradient => write!(f, "gradient is not finite; step rolled back"),
            Error::NonFiniteUpdate => {
                write!(f, "update would make a parameter non-finite; step refused")
            }
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
            Error::BatchSize { samples, targets } => {
                write!(f, "batch of {samples} samples but {targets} targets")
            }
            Error::ArenaTooSmall { needed, found } => {
                write!(f, "buffer of {found} floats, {needed} needed")
            }
            Error::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
            Error::PayloadRange { offset, len, payload } => write!(
                f,
                "payload bytes {offset}..{} are not whole floats within the {payload}-byte payload",
                offset + len
            ),
        }
    }
}

impl core::error::Error for Error {}
