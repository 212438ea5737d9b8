//! Checkpoints of the learner's state in NOR flash that survive a reset and a power cut.
//!
//! The state (weights, optimizer state, step count: whatever the learner serialises) is an
//! opaque run of bytes. It is kept in two *slots*, each one erase sector of a [`NorFlash`],
//! written alternately: a save always goes into the slot that does **not** hold the newest
//! valid checkpoint, so however a write ends — finished, cut after any word, cut in the
//! middle of the erase — the previous checkpoint is still there, untouched.
//!
//! A slot, in little-endian 32-bit words:
//!
//! | bytes | field | written |
//! |---|---|---|
//! | 0 | [`MAGIC`] (format and version) | first |
//! | 4 | sequence number (one more than the previous checkpoint's) | first |
//! | 8 | payload length in bytes | first |
//! | 12 | CRC-32 of sequence number, length and payload | after the payload |
//! | 16 | [`COMMIT`] | last |
//! | 20.. | payload, its last word padded with `0xFF` | second |
//!
//! A slot is valid when its magic and commit words are right, its length fits and the CRC
//! matches. The commit word is written only after everything else, so a write cut anywhere
//! leaves it erased (`0xFFFF_FFFF`) or half-programmed, never equal to [`COMMIT`]; the CRC
//! catches what the commit record cannot, bits that decay later. At boot [`Store::open`] picks
//! the valid slot with the newer sequence number; if neither is valid the learner starts afresh.
//!
//! NOR flash rules the writer keeps: a sector is erased to all ones before it is written, and a
//! word is programmed once (programming can only clear bits, 1 → 0). The header's CRC and
//! commit words are left erased and programmed at the end, which those rules allow.

use shinso::model::CRC32;

/// Bytes in a programmed word.
pub const WORD: usize = 4;
/// First word of a slot: "SHC" and format version 1.
pub const MAGIC: u32 = u32::from_le_bytes(*b"SHC\x01");
/// Commit record, programmed last: a slot without it was never completely written.
pub const COMMIT: u32 = 0x600D_C0DE;
/// Header bytes before the payload.
pub const HEADER: usize = 5 * WORD;

const AT_MAGIC: usize = 0;
const AT_SEQ: usize = WORD;
const AT_LEN: usize = 2 * WORD;
const AT_CRC: usize = 3 * WORD;
const AT_COMMIT: usize = 4 * WORD;

/// Two erase sectors of NOR flash, the checkpoint slots `0` and `1`.
///
/// `offset`s are byte offsets inside a slot, word-aligned, below [`NorFlash::slot_size`]; the
/// [`Store`] never passes anything else.
pub trait NorFlash {
    /// Bytes in one slot (one erase sector), a multiple of [`WORD`].
    fn slot_size(&self) -> usize;
    /// Sets every bit of `slot` to 1.
    fn erase(&mut self, slot: usize) -> Result<(), FlashError>;
    /// Programs one word: each bit that is 0 in `word` is cleared; no bit is ever set.
    fn program(&mut self, slot: usize, offset: usize, word: u32) -> Result<(), FlashError>;
    /// Reads one word (flash on a microcontroller is memory-mapped: reading cannot fail).
    fn read(&self, slot: usize, offset: usize) -> u32;
}

/// The flash controller refused or failed an erase or a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashError;

/// Why a checkpoint was not saved. In every case the previous checkpoint is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The state is larger than a slot's payload capacity.
    TooLarge {
        /// Bytes of state.
        len: usize,
        /// Bytes a slot holds after its header.
        capacity: usize,
    },
    /// The flash reported an error while erasing or programming.
    Flash,
    /// Everything was written without an error, but the slot does not read back as the
    /// checkpoint just written (a flash that ignores writes, as QEMU's does, ends here).
    Verify,
}

impl From<FlashError> for Error {
    fn from(_: FlashError) -> Self {
        Error::Flash
    }
}

/// The state to save, as bytes read on demand (so it never needs a second copy in RAM).
pub trait Source {
    /// Total bytes of state.
    fn size(&self) -> usize;
    /// Copies the bytes at `offset..offset + out.len()` (always inside `0..size()`) to `out`.
    fn read(&self, offset: usize, out: &mut [u8]);
}

impl Source for [u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn read(&self, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self[offset..offset + out.len()]);
    }
}

/// A valid checkpoint found in flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The slot holding it (0 or 1).
    pub slot: usize,
    /// Its sequence number: the newer of two checkpoints has the larger one (modulo 2³²).
    pub seq: u32,
    /// Payload bytes.
    pub len: usize,
}

/// The two slots and what they hold.
pub struct Store<F> {
    flash: F,
    latest: Option<Checkpoint>,
}

impl<F: NorFlash> Store<F> {
    /// Scans both slots and remembers the newest valid checkpoint (none on a fresh flash, or
    /// when both slots are torn or corrupt).
    pub fn open(flash: F) -> Self {
        let a = validate(&flash, 0);
        let b = validate(&flash, 1);
        let latest = match (a, b) {
            (Some(a), Some(b)) => Some(if newer(b.seq, a.seq) { b } else { a }),
            (a, b) => a.or(b),
        };
        Store { flash, latest }
    }

    /// The newest valid checkpoint, if any.
    pub fn latest(&self) -> Option<Checkpoint> {
        self.latest
    }

    /// Bytes of state a slot can hold.
    pub fn capacity(&self) -> usize {
        self.flash.slot_size().saturating_sub(HEADER)
    }

    /// Copies payload bytes of the newest checkpoint starting at `offset` into `out`; returns
    /// how many were copied (fewer at the end, 0 past it or without a checkpoint). Its CRC was
    /// checked by [`Store::open`] or [`Store::save`].
    pub fn read(&self, offset: usize, out: &mut [u8]) -> usize {
        let Some(c) = self.latest else { return 0 };
        let n = out.len().min(c.len.saturating_sub(offset));
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = payload_byte(&self.flash, c.slot, offset + i);
        }
        n
    }

    /// Saves `state` as the next checkpoint, into the slot not holding the newest one, then
    /// reads it back whole. On success it is the newest; on any error the previous one still is.
    pub fn save(&mut self, state: &(impl Source + ?Sized)) -> Result<Checkpoint, Error> {
        let len = state.size();
        if len > self.capacity() {
            return Err(Error::TooLarge {
                len,
                capacity: self.capacity(),
            });
        }
        let (slot, seq) = match self.latest {
            Some(c) => (1 - c.slot, c.seq.wrapping_add(1)),
            None => (0, 1),
        };
        let f = &mut self.flash;
        f.erase(slot)?;
        f.program(slot, AT_MAGIC, MAGIC)?;
        f.program(slot, AT_SEQ, seq)?;
        f.program(slot, AT_LEN, len as u32)?;
        let mut crc = CRC32.digest();
        crc.update(&seq.to_le_bytes());
        crc.update(&(len as u32).to_le_bytes());
        let mut chunk = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = chunk.len().min(len - done);
            state.read(done, &mut chunk[..n]);
            crc.update(&chunk[..n]);
            // Pad the last word with erased bytes: programming 0xFF changes nothing.
            let words = n.div_ceil(WORD);
            chunk[n..words * WORD].fill(0xFF);
            for (w, bytes) in chunk[..words * WORD].chunks_exact(WORD).enumerate() {
                let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                f.program(slot, HEADER + done + w * WORD, word)?;
            }
            done += n;
        }
        f.program(slot, AT_CRC, crc.finalize())?;
        f.program(slot, AT_COMMIT, COMMIT)?;
        let written = Checkpoint { slot, seq, len };
        if validate(&self.flash, slot) != Some(written) {
            return Err(Error::Verify);
        }
        self.latest = Some(written);
        Ok(written)
    }

    /// The flash, back (for instance to reopen it after a simulated reset).
    pub fn into_flash(self) -> F {
        self.flash
    }
}

/// `a` comes after `b` in sequence-number order (serial-number arithmetic, so the count may
/// wrap; two slots are never more than one save apart).
fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The checkpoint in `slot`, if the slot is complete and its CRC matches.
fn validate<F: NorFlash>(flash: &F, slot: usize) -> Option<Checkpoint> {
    if flash.read(slot, AT_MAGIC) != MAGIC || flash.read(slot, AT_COMMIT) != COMMIT {
        return None;
    }
    let seq = flash.read(slot, AT_SEQ);
    let len = flash.read(slot, AT_LEN) as usize;
    if len > flash.slot_size().saturating_sub(HEADER) {
        return None;
    }
    let mut crc = CRC32.digest();
    crc.update(&seq.to_le_bytes());
    crc.update(&(len as u32).to_le_bytes());
    let mut chunk = [0u8; 64];
    for start in (0..len).step_by(chunk.len()) {
        let n = chunk.len().min(len - start);
        let words = chunk[..n.div_ceil(WORD) * WORD].chunks_exact_mut(WORD);
        for (at, b) in (start..).step_by(WORD).zip(words) {
            b.copy_from_slice(&flash.read(slot, HEADER + at).to_le_bytes());
        }
        crc.update(&chunk[..n]);
    }
    (crc.finalize() == flash.read(slot, AT_CRC)).then_some(Checkpoint { slot, seq, len })
}

/// Byte `at` of the payload in `slot`.
fn payload_byte<F: NorFlash>(flash: &F, slot: usize, at: usize) -> u8 {
    let word = flash.read(slot, HEADER + at / WORD * WORD);
    word.to_le_bytes()[at % WORD]
}
