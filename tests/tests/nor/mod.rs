//! A model of two sectors of NOR flash for the checkpoint tests: erase sets every bit,
//! programming only clears bits (a program that would set one fails the test), and power can
//! fail after any operation, the interrupted one ending cleanly or half done.
// Each test file that includes this uses its own part of it.
#![allow(dead_code)]

use shinso_app::checkpoint::{FlashError, NorFlash, WORD};

/// How the operation that meets the power cut ends.
#[derive(Clone, Copy, Debug)]
pub enum Tear {
    /// It does not happen at all.
    Clean,
    /// It happens in part: a program clears only some of its bits, an erase sets only the
    /// first half of the sector and leaves the rest as it was.
    Partial,
}

/// Two sectors of NOR flash.
#[derive(Clone)]
pub struct Nor {
    pub slots: [Vec<u32>; 2],
    /// Operations (erases and word programs) that complete before the power goes; `None`:
    /// never.
    budget: Option<usize>,
    tear: Tear,
    /// Operations completed so far.
    pub ops: usize,
    powered: bool,
}

impl Nor {
    /// A fresh part: both sectors erased.
    pub fn new(slot_bytes: usize) -> Self {
        Nor {
            slots: [vec![!0; slot_bytes / WORD], vec![!0; slot_bytes / WORD]],
            budget: None,
            tear: Tear::Clean,
            ops: 0,
            powered: true,
        }
    }

    /// Power will fail after `ops` more operations; the one it meets ends as `tear` says.
    pub fn cut_after(&mut self, ops: usize, tear: Tear) {
        self.budget = Some(self.ops + ops);
        self.tear = tear;
    }

    /// A reset: power is back and stays on.
    pub fn reboot(mut self) -> Self {
        self.budget = None;
        self.powered = true;
        self
    }

    /// Whether this operation runs in full (`Ok(true)`), is the one the cut interrupts
    /// (`Ok(false)`), or comes after the cut (`Err`).
    fn power(&mut self) -> Result<bool, FlashError> {
        if !self.powered {
            return Err(FlashError);
        }
        if self.budget == Some(self.ops) {
            self.powered = false;
            return Ok(false);
        }
        self.ops += 1;
        Ok(true)
    }

    pub fn byte(&self, slot: usize, at: usize) -> u8 {
        self.slots[slot][at / WORD].to_le_bytes()[at % WORD]
    }

    pub fn flip_bit(&mut self, slot: usize, at: usize, bit: u32) {
        self.slots[slot][at / WORD] ^= 1 << (8 * (at % WORD) as u32 + bit);
    }
}

impl NorFlash for Nor {
    fn slot_size(&self) -> usize {
        self.slots[0].len() * WORD
    }

    fn erase(&mut self, slot: usize) -> Result<(), FlashError> {
        let whole = self.power()?;
        let words = &mut self.slots[slot];
        match (whole, self.tear) {
            (true, _) => words.fill(!0),
            (false, Tear::Partial) => {
                let half = words.len() / 2;
                words[..half].fill(!0);
            }
            (false, Tear::Clean) => {}
        }
        if whole {
            Ok(())
        } else {
            Err(FlashError)
        }
    }

    fn program(&mut self, slot: usize, offset: usize, word: u32) -> Result<(), FlashError> {
        assert_eq!(offset % WORD, 0, "unaligned program at {offset}");
        let old = self.slots[slot][offset / WORD];
        assert_eq!(
            word & !old,
            0,
            "NOR violation: programming {word:#010x} over {old:#010x} would set bits (slot {slot}, offset {offset})"
        );
        let whole = self.power()?;
        let cleared = match (whole, self.tear) {
            (true, _) => !word,
            (false, Tear::Partial) => !word & 0x5555_5555,
            (false, Tear::Clean) => 0,
        };
        self.slots[slot][offset / WORD] = old & !cleared;
        if whole {
            Ok(())
        } else {
            Err(FlashError)
        }
    }

    fn read(&self, slot: usize, offset: usize) -> u32 {
        self.slots[slot][offset / WORD]
    }
}

/// A flash that takes every command and changes nothing, as QEMU's (flash is a ROM there and
/// the flash interface an unimplemented device).
pub struct Rom;

impl NorFlash for Rom {
    fn slot_size(&self) -> usize {
        128 * 1024
    }
    fn erase(&mut self, _: usize) -> Result<(), FlashError> {
        Ok(())
    }
    fn program(&mut self, _: usize, _: usize, _: u32) -> Result<(), FlashError> {
        Ok(())
    }
    fn read(&self, _: usize, _: usize) -> u32 {
        0
    }
}
