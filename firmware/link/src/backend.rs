//! What a device the host talks to runs on, and what keeps it running.

use crate::Qemu;
#[cfg(unix)]
use crate::Emulator;

/// Where the device runs: a board on a serial port, the application logic behind a
/// pseudo-terminal pair, or the firmware in QEMU. Dropping it ends the emulation or QEMU.
pub enum Backend {
    /// A board (or anything else) on a serial port.
    Serial,
    /// The emulation thread ([`crate::emulate_on_pty`]).
    #[cfg(unix)]
    Pty(Emulator),
    /// QEMU, whose exit explains a link that fails.
    Qemu(Qemu),
}

impl Backend {
    /// Its name, for what the host prints.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Serial => "serial",
            #[cfg(unix)]
            Backend::Pty(_) => "pty emulation",
            Backend::Qemu(_) => "QEMU",
        }
    }

    /// If the device has gone away by itself (QEMU exited): how, in QEMU's words.
    pub fn exited(&mut self) -> Option<String> {
        match self {
            Backend::Qemu(qemu) => qemu.exited(),
            _ => None,
        }
    }
}
