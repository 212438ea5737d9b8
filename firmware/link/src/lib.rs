//! The host side of a shinso device (used by the `shinso device|emulate|demo` commands and by
//! the end-to-end tests).
//!
//! * [`Link`]: a serial client for the shinso protocol over any serial port (a board's
//!   `/dev/ttyACM0` or `COM3`, QEMU's pseudo-terminal, [`emulate_on_pty`]'s), with timeouts;
//! * [`transfer`]: weights to and from a device ([`Link::push`], [`Link::pull`]);
//! * [`emulate_on_pty`]: the device's application logic running in a thread behind a
//!   pseudo-terminal pair, for hosts without QEMU;
//! * [`Backend`]: what the device runs on (a board, the emulation, QEMU);
//! * [`Qemu`]: builds the firmware (`--features qemu`) and boots it in `qemu-system-arm`, finding
//!   the pseudo-terminal QEMU made for USART1;
//! * [`elf_memory`]: the memory budget, read from the firmware's ELF;
//! * [`answer`]: each request's answer taken out of its response and checked, and a refusal
//!   in words;
//! * [`scenario`]: the checks every backend must pass.
//!
//! Real ports go through the `serialport` crate (Linux, macOS, Windows); the pseudo-terminals
//! of the emulation and of QEMU exist on unix only.

pub mod answer;
mod backend;
mod client;
mod elf;
#[cfg(unix)]
mod pty;
mod qemu;
mod ram_flash;
pub mod scenario;
pub mod transfer;

pub use answer::{listed, target, Answer, AnswerError, Inferred, Learned, Tally};
pub use backend::Backend;
pub use client::{open_serial, Link, LinkError};
pub use elf::{check_memory, elf_memory, elf_symbol, RAM_PLAN};
#[cfg(unix)]
pub use pty::{emulate_on_pty, scripted_on_pty, Emulator, HostPlatform, Script};
pub use qemu::{build_firmware, firmware_dir, qemu_installed, Qemu};
pub use ram_flash::RamFlash;
pub use scenario::pixels;
pub use transfer::{Push, TransferError};
