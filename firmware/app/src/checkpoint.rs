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
use shinso_proto::ErrorCode;

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
    /// The state could not be read (the learner has none to save: no optimizer).
    Source(ErrorCode),
    /// [`Store::write`] or [`Store::commit`] without a checkpoint begun, or a commit before
    /// all its bytes were written.
    NotBegun,
    /// A piece written after one that did not end on a word.
    Unaligned,
}

impl From<FlashError> for Error {
    fn from(_: FlashError) -> Self {
        Error::Flash
    }
}

/// The state to save, as bytes read on demand (so it never needs a second copy in RAM).
/// Reading takes `&mut` because a network shows its floats by visiting its tensors.
pub trait Source {
    /// Total bytes of state.
    fn size(&self) -> usize;
    /// Copies the bytes at `offset..offset + out.len()` (always inside `0..size()`) to `out`.
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode>;
}

/// Bytes already in RAM (`&mut &bytes[..]` reads them).
impl Source for &[u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode> {
        out.copy_from_slice(&self[offset..offset + out.len()]);
        Ok(())
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
    /// A checkpoint being written ([`Store::begin`]), not yet committed.
    pending: Option<Pending>,
}

/// A checkpoint between [`Store::begin`] and [`Store::commit`].
#[derive(Clone, Copy)]
struct Pending {
    slot: usize,
    seq: u32,
    len: usize,
    written: usize,
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
        Store {
            flash,
            latest,
            pending: None,
        }
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

    /// Saves `state` as the next checkpoint ([`Store::begin`], [`Store::write`] a piece at a
    /// time, [`Store::commit`]). On success it is the newest; on any error the previous one
    /// still is.
    pub fn save(&mut self, state: &mut (impl Source + ?Sized)) -> Result<Checkpoint, Error> {
        let len = state.size();
        self.begin(len)?;
        let mut chunk = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = chunk.len().min(len - done);
            state.read(done, &mut chunk[..n]).map_err(Error::Source)?;
            self.write(&chunk[..n])?;
            done += n;
        }
        self.commit()
    }

    /// Starts a checkpoint of `len` bytes in the slot not holding the newest one: erases it
    /// and writes the header's first words. Until [`Store::commit`] the slot is not valid, so
    /// whatever happens meanwhile (a cut, a push that stops) the previous checkpoint stays the
    /// newest. A second `begin` abandons the first.
    pub fn begin(&mut self, len: usize) -> Result<(), Error> {
        self.pending = None;
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
        program(f, slot, AT_MAGIC, MAGIC)?;
        program(f, slot, AT_SEQ, seq)?;
        program(f, slot, AT_LEN, len as u32)?;
        self.pending = Some(Pending {
            slot,
            seq,
            len,
            written: 0,
        });
        Ok(())
    }

    /// Writes the next `bytes` of the checkpoint begun: in order, every piece but the last a
    /// whole number of words ([`Error::Unaligned`]), no more than announced
    /// ([`Error::TooLarge`]). Each word is read back as it is programmed ([`Error::Verify`]).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let p = self.pending.as_mut().ok_or(Error::NotBegun)?;
        if p.written % WORD != 0 {
            return Err(Error::Unaligned);
        }
        if p.written + bytes.len() > p.len {
            return Err(Error::TooLarge {
                len: p.written + bytes.len(),
                capacity: p.len,
            });
        }
        for (w, b) in bytes.chunks(WORD).enumerate() {
            // Pad the last word with erased bytes: programming 0xFF changes nothing.
            let mut word = [0xFF; WORD];
            word[..b.len()].copy_from_slice(b);
            let at = HEADER + p.written + w * WORD;
            program(&mut self.flash, p.slot, at, u32::from_le_bytes(word))?;
        }
        p.written += bytes.len();
        Ok(())
    }

    /// Copies bytes of the checkpoint begun, as written so far, from `offset` into `out`;
    /// returns how many (0 without one).
    pub fn read_pending(&self, offset: usize, out: &mut [u8]) -> usize {
        let Some(p) = self.pending else { return 0 };
        let n = out.len().min(p.written.saturating_sub(offset));
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = payload_byte(&self.flash, p.slot, offset + i);
        }
        n
    }

    /// Completes the checkpoint begun once all its bytes are written: programs the CRC of
    /// what the flash holds, then the commit word, and reads the slot back whole. On success
    /// it is the newest; on any error the previous one still is.
    pub fn commit(&mut self) -> Result<Checkpoint, Error> {
        let p = self.pending.take().ok_or(Error::NotBegun)?;
        if p.written != p.len {
            return Err(Error::NotBegun);
        }
        let crc = slot_crc(&self.flash, p.slot, p.seq, p.len);
        program(&mut self.flash, p.slot, AT_CRC, crc)?;
        program(&mut self.flash, p.slot, AT_COMMIT, COMMIT)?;
        let written = Checkpoint {
            slot: p.slot,
            seq: p.seq,
            len: p.len,
        };
        if validate(&self.flash, p.slot) != Some(written) {
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

/// The two slots as the app holds them: a [`Store`] over whichever flash the board has.
pub trait Checkpoints {
    /// [`Store::latest`].
    fn latest(&self) -> Option<Checkpoint>;
    /// [`Store::read`].
    fn read(&self, offset: usize, out: &mut [u8]) -> usize;
    /// [`Store::save`].
    fn save(&mut self, state: &mut dyn Source) -> Result<Checkpoint, Error>;
    /// [`Store::begin`].
    fn begin(&mut self, len: usize) -> Result<(), Error>;
    /// [`Store::write`].
    fn write(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// [`Store::read_pending`].
    fn read_pending(&self, offset: usize, out: &mut [u8]) -> usize;
    /// [`Store::commit`].
    fn commit(&mut self) -> Result<Checkpoint, Error>;
}

impl<F: NorFlash> Checkpoints for Store<F> {
    fn latest(&self) -> Option<Checkpoint> {
        Store::latest(self)
    }
    fn read(&self, offset: usize, out: &mut [u8]) -> usize {
        Store::read(self, offset, out)
    }
    fn save(&mut self, state: &mut dyn Source) -> Result<Checkpoint, Error> {
        Store::save(self, state)
    }
    fn begin(&mut self, len: usize) -> Result<(), Error> {
        Store::begin(self, len)
    }
    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        Store::write(self, bytes)
    }
    fn read_pending(&self, offset: usize, out: &mut [u8]) -> usize {
        Store::read_pending(self, offset, out)
    }
    fn commit(&mut self) -> Result<Checkpoint, Error> {
        Store::commit(self)
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
    (slot_crc(flash, slot, seq, len) == flash.read(slot, AT_CRC)).then_some(Checkpoint {
        slot,
        seq,
        len,
    })
}

/// Programs one word and reads it back: a flash that ignores writes is caught at the first.
fn program<F: NorFlash>(flash: &mut F, slot: usize, at: usize, word: u32) -> Result<(), Error> {
    flash.program(slot, at, word)?;
    if flash.read(slot, at) != word {
        return Err(Error::Verify);
    }
    Ok(())
}

/// CRC-32 of `seq`, `len` and the `len` payload bytes in `slot`, as the flash holds them.
fn slot_crc<F: NorFlash>(flash: &F, slot: usize, seq: u32, len: usize) -> u32 {
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
    crc.finalize()
}

/// Byte `at` of the payload in `slot`.
fn payload_byte<F: NorFlash>(flash: &F, slot: usize, at: usize) -> u8 {
    let word = flash.read(slot, HEADER + at / WORD * WORD);
    word.to_le_bytes()[at % WORD]
}
