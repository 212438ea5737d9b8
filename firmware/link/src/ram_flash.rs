//! The emulated device's checkpoint flash.

use shinso_app::checkpoint::{FlashError, NorFlash};

/// The emulated device's checkpoint flash: two sectors the size of the board's, in RAM (so
/// they last as long as the process), erased to ones, programming only clearing bits.
pub struct RamFlash {
    slots: [Vec<u32>; 2],
}

impl RamFlash {
    /// Bytes in a sector, as the board's sectors 10 and 11.
    pub const SECTOR: usize = 128 * 1024;

    /// Both sectors erased.
    pub fn new() -> Self {
        let erased = || vec![!0; Self::SECTOR / 4];
        RamFlash {
            slots: [erased(), erased()],
        }
    }

    /// Sector `slot` as bytes, as the board's flash holds them: an image to put there (QEMU's
    /// `-device loader,file=…,addr=0x080C0000` for slot 0).
    pub fn image(&self, slot: usize) -> Vec<u8> {
        self.slots[slot]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
}

impl Default for RamFlash {
    fn default() -> Self {
        Self::new()
    }
}

impl NorFlash for RamFlash {
    fn slot_size(&self) -> usize {
        Self::SECTOR
    }
    fn erase(&mut self, slot: usize) -> Result<(), FlashError> {
        let s = self.slots.get_mut(slot).ok_or(FlashError)?;
        s.fill(!0);
        Ok(())
    }
    fn program(&mut self, slot: usize, offset: usize, word: u32) -> Result<(), FlashError> {
        let w = self
            .slots
            .get_mut(slot)
            .and_then(|s| s.get_mut(offset / 4))
            .ok_or(FlashError)?;
        *w &= word;
        Ok(())
    }
    fn read(&self, slot: usize, offset: usize) -> u32 {
        self.slots
            .get(slot)
            .and_then(|s| s.get(offset / 4))
            .map_or(!0, |w| *w)
    }
}
