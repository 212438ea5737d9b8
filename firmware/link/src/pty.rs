//! The device behind a pseudo-terminal pair, for hosts without QEMU or a board: its
//! application logic ([`emulate_on_pty`]) or a script that plays a misbehaving device
//! ([`scripted_on_pty`]), in a background thread on the pair's master side. The pair is
//! serialport's (unix); the host opens the other side by its path like any serial port.

use crate::RamFlash;
use serialport::{SerialPort, TTYPort};
use shinso_proto::{self as proto, Decoder, Request, Response, MAX_FRAME};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

/// The device's side of the pair waits this long for a byte before it looks again: it has
/// nothing else to do, so this only bounds how long a wait is one system call.
const IDLE: Duration = Duration::from_secs(3600);

/// A device behind a pseudo-terminal pair, in a background thread. Open [`Emulator::path`]
/// like a serial port; the thread ends when this is dropped (or the device hangs up).
pub struct Emulator {
    /// The pseudo-terminal to open.
    pub path: PathBuf,
    /// The host's side, kept open so that the device's never sees the pair closed between
    /// two hosts' connections.
    _slave: TTYPort,
}

/// Starts the device's application logic with the same models the firmware holds.
pub fn emulate_on_pty() -> std::io::Result<Emulator> {
    on_pty("device-emulator", |mut master| {
        let mut models = Box::new(shinso_app::Models::ZERO);
        let mut arena = vec![0.0; shinso_app::ARENA_FLOATS];
        let mut checkpoints = shinso_app::checkpoint::Store::open(RamFlash::new());
        let mut device = shinso_app::Device::new(models.app(&mut arena));
        device.app.keep_checkpoints(&mut checkpoints);
        let platform = HostPlatform;
        let ready = device.ready_frame().to_vec();
        let _ = master.write_all(&ready);
        let mut buf = [0u8; 4096];
        while let Some(n) = read_master(&mut master, &mut buf) {
            for &b in &buf[..n] {
                if let Some(frame) = device.on_byte(b, &platform) {
                    if master.write_all(frame).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// What a [`scripted_on_pty`] device does with a request.
pub enum Script {
    /// Answer with this (under the request's seq).
    Answer(Box<Response>),
    /// Say nothing.
    Silence,
    /// Close the port, as a device that resets or a QEMU that exits.
    HangUp,
}

/// A device that answers each request as `script` says: a host's tests use it to play a
/// device that lies (a model of 2³²−1 parameters, class 200), fails or vanishes mid-request.
pub fn scripted_on_pty(
    mut script: impl FnMut(&Request) -> Script + Send + 'static,
) -> std::io::Result<Emulator> {
    on_pty("scripted-device", move |mut master| {
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 4096];
        let mut out = [0u8; MAX_FRAME];
        while let Some(n) = read_master(&mut master, &mut buf) {
            for &b in &buf[..n] {
                let Some(Ok((seq, req))) = decoder.feed::<Request>(b) else {
                    continue;
                };
                let answer = match script(&req) {
                    Script::Answer(r) => *r,
                    Script::Silence => continue,
                    Script::HangUp => return,
                };
                let frame = proto::encode(seq, &answer, &mut out).expect("a response fits");
                if master.write_all(frame).is_err() {
                    return;
                }
            }
        }
    })
}

/// Runs `device` in a thread on the master side of a new pseudo-terminal pair; the master
/// closes when `device` returns.
fn on_pty(name: &str, device: impl FnOnce(TTYPort) + Send + 'static) -> std::io::Result<Emulator> {
    let (mut master, slave) = TTYPort::pair()?;
    let path = slave
        .name()
        .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no name"))?
        .into();
    // Not inherited by child processes (QEMU, a `shinso` under test): a child holding the
    // master would keep the port open after the device here has hung up. serialport makes
    // the pair without close-on-exec, and has no call to set it.
    for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
        // SAFETY: fd is open and ours; F_SETFD only changes its flags.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    master.set_timeout(IDLE)?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || device(master))?;
    Ok(Emulator {
        path,
        _slave: slave,
    })
}

/// The next bytes from the host on a pty master, or `None` once the pair is gone for good.
fn read_master(master: &mut TTYPort, buf: &mut [u8]) -> Option<usize> {
    loop {
        match master.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => return None,
        }
    }
}

/// The host as a [`shinso_app::Platform`]: no counter, no memory plan.
pub struct HostPlatform;

impl shinso_app::Platform for HostPlatform {
    fn now(&self) -> u64 {
        0
    }
    fn counter(&self) -> proto::Counter {
        proto::Counter::None
    }
    fn clock_hz(&self) -> u32 {
        0
    }
    fn memory(&self) -> proto::MemoryBudget {
        proto::MemoryBudget::default()
    }
}
