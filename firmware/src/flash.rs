//! The checkpoint slots in the STM32F405's own flash: its last two 128 KiB sectors, 10
//! (0x080C_0000) and 11 (0x080E_0000), which `memory.x` keeps out of the firmware image.
//!
//! Erase and program go through `stm32f4xx-hal`'s flash driver (unlock, sector erase, byte
//! programming with 8-bit parallelism, which works at any supply voltage). Reads are plain
//! loads from the memory-mapped flash: the HAL's own read view sizes itself from the flash-size
//! register in system memory, which QEMU does not map.
//!
//! While the flash erases or programs, every fetch from flash stalls, interrupts included, so
//! bytes arriving on the UART meanwhile are lost: checkpoints are taken between requests. On a
//! board a sector erase takes about 2 s (4 s at most, datasheet, 8-bit parallelism) and the
//! programming about 16 µs per byte.
//!
//! Under QEMU 7.2 (`netduinoplus2`) the flash is a ROM and the flash interface an unimplemented
//! device: every erase and program "succeeds" and changes nothing, so [`shinso_app::checkpoint`]'s
//! read-back reports [`Error::Verify`](shinso_app::checkpoint::Error::Verify), and the slots read
//! as zeros (no checkpoint) unless QEMU was given an image to put there.

use shinso_app::checkpoint::{FlashError, NorFlash};
use stm32f4xx_hal::flash::{FlashExt, LockedFlash};
use stm32f4xx_hal::pac::FLASH;

/// Where the flash is mapped.
const FLASH_BASE: usize = 0x0800_0000;
/// Bytes in each slot: one 128 KiB sector.
const SECTOR_SIZE: usize = 128 * 1024;
/// Each slot's sector number and offset from [`FLASH_BASE`] (a 1 MiB part: sectors 0–3 are
/// 16 KiB, 4 is 64 KiB, 5–11 are 128 KiB).
const SLOTS: [(u8, usize); 2] = [(10, 0x000C_0000), (11, 0x000E_0000)];

/// The two checkpoint sectors.
pub struct Slots {
    flash: LockedFlash,
}

impl Slots {
    /// Takes the flash controller (it stays locked except during an erase or a program).
    pub fn new(flash: FLASH) -> Self {
        Slots {
            flash: LockedFlash::new(flash),
        }
    }
}

impl NorFlash for Slots {
    fn slot_size(&self) -> usize {
        SECTOR_SIZE
    }

    fn erase(&mut self, slot: usize) -> Result<(), FlashError> {
        let (sector, _) = *SLOTS.get(slot).ok_or(FlashError)?;
        self.flash.unlocked().erase(sector).map_err(|_| FlashError)
    }

    fn program(&mut self, slot: usize, offset: usize, word: u32) -> Result<(), FlashError> {
        let at = word_offset(slot, offset).ok_or(FlashError)?;
        self.flash
            .unlocked()
            .program(at, word.to_le_bytes().iter())
            .map_err(|_| FlashError)
    }

    fn read(&self, slot: usize, offset: usize) -> u32 {
        match word_offset(slot, offset) {
            // SAFETY: an aligned word inside sector 10 or 11 of the memory-mapped flash, which
            // is always readable.
            Some(at) => unsafe { core::ptr::read_volatile((FLASH_BASE + at) as *const u32) },
            None => !0,
        }
    }
}

/// Offset from [`FLASH_BASE`] of the word at `offset` in `slot`, if that is an aligned word
/// inside one of the two sectors.
fn word_offset(slot: usize, offset: usize) -> Option<usize> {
    let &(_, start) = SLOTS.get(slot)?;
    (offset.is_multiple_of(4) && offset < SECTOR_SIZE).then_some(start + offset)
}
