//! What a device the host talks to runs on, what keeps it running, and how one is started
//! on this host.

use crate::Qemu;
#[cfg(unix)]
use crate::{build_firmware, emulate_on_pty, qemu_installed, Emulator, Link};
#[cfg(unix)]
use shinso_proto::DeviceInfo;
#[cfg(unix)]
use std::{path::Path, time::Duration};

/// How long the firmware may take to boot in QEMU and answer.
#[cfg(unix)]
const BOOT: Duration = Duration::from_secs(60);

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

    /// Starts a device on this host: the firmware in QEMU when QEMU is installed (`elf`, or
    /// the firmware built first), else, or with `no_qemu`, the application logic behind a
    /// pseudo-terminal pair. `note` hears what happens (which one, the build, QEMU's port);
    /// `timeout` bounds the emulation's first answer. Returns it, a link to it and its `Info`.
    #[cfg(unix)]
    pub fn start(
        elf: Option<&Path>,
        no_qemu: bool,
        note: impl Fn(&str),
        timeout: Duration,
    ) -> Result<(Backend, Link, DeviceInfo), String> {
        if no_qemu || !qemu_installed() {
            if !no_qemu {
                note("qemu-system-arm not found: running the device's application logic on the host over a pseudo-terminal pair");
            }
            let emu = emulate_on_pty()
                .map_err(|e| format!("cannot create a pseudo-terminal pair: {e}"))?;
            let mut link = Link::open(&emu.path).map_err(|e| e.to_string())?;
            let info = link.connect(timeout).map_err(|e| e.to_string())?;
            return Ok((Backend::Pty(emu), link, info));
        }
        let elf = match elf {
            Some(e) => e.to_path_buf(),
            None => {
                note("building the firmware (cargo build --release --features qemu in firmware/) ...");
                // Its first line: the compiler's output is for a build run by hand.
                let first = |e: String| e.lines().next().unwrap_or_default().to_string();
                build_firmware().map_err(first)?
            }
        };
        let mut qemu = Qemu::boot(&elf)?;
        note(&format!("QEMU: USART1 on {}", qemu.pty.display()));
        let (link, info) = qemu.connect(BOOT)?;
        Ok((Backend::Qemu(qemu), link, info))
    }

    /// If the device has gone away by itself (QEMU exited): how, in QEMU's words.
    pub fn exited(&mut self) -> Option<String> {
        match self {
            Backend::Qemu(qemu) => qemu.exited(),
            _ => None,
        }
    }
}
