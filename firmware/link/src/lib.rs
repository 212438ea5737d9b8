//! The host side of a shinso device (used by the `shinso device|emulate|demo` commands and by
//! the end-to-end tests).
//!
//! * [`Link`]: a serial client for the shinso protocol over any file descriptor (a board's
//!   `/dev/ttyACM0`, QEMU's pseudo-terminal, [`emulate_on_pty`]'s), with timeouts;
//! * [`emulate_on_pty`]: the device's application logic running in a thread behind a
//!   pseudo-terminal pair, for hosts without QEMU;
//! * [`Qemu`]: builds the firmware (`--features qemu`) and boots it in `qemu-system-arm`, finding
//!   the pseudo-terminal QEMU made for USART1;
//! * [`elf_memory`]: the memory budget, read from the firmware's ELF;
//! * [`scenario`]: the checks every backend must pass.
//!
//! Linux only (termios, openpty).

use shinso_proto::{self as proto, Decoder, Request, Response, MAX_FRAME};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod mnist;
pub mod scenario;

/// Why a request got no answer.
#[derive(Debug)]
pub enum LinkError {
    /// Nothing (or nothing matching) arrived in time.
    Timeout,
    /// The other end closed the port after it had talked (the device reset or was unplugged,
    /// QEMU exited): no answer will come.
    HungUp,
    /// The port failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for LinkError {
    fn from(e: std::io::Error) -> Self {
        LinkError::Io(e)
    }
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Timeout => write!(f, "the device did not answer in time"),
            LinkError::HungUp => write!(f, "the device hung up (the port closed)"),
            LinkError::Io(e) => write!(f, "serial port: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Opens a serial device or pseudo-terminal in raw mode (no echo, no line editing, 8 bits).
pub fn open_serial(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags_noctty()
        .open(path)?;
    set_raw(&file)?;
    Ok(file)
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}
impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY)
    }
}

fn set_raw(file: &impl AsRawFd) -> std::io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: termios is plain data; fd is open for the duration of the calls.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        libc::cfsetspeed(&mut t, libc::B115200);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What [`readable`] saw.
enum Ready {
    /// Bytes are waiting.
    Data,
    /// Nothing within the timeout.
    Nothing,
    /// Nothing, and the other side has closed (or not opened yet) the port.
    Closed,
}

/// Waits until `fd` is readable or `timeout` passes.
fn readable(fd: &impl AsRawFd, timeout: Duration) -> std::io::Result<Ready> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    match n {
        n if n < 0 => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(Ready::Nothing)
            } else {
                Err(e)
            }
        }
        0 => Ok(Ready::Nothing),
        _ if p.revents & libc::POLLIN != 0 => Ok(Ready::Data),
        _ => Ok(Ready::Closed),
    }
}

/// A request/response client for the shinso protocol.
pub struct Link {
    port: File,
    decoder: Decoder,
    seq: u32,
    /// Frames decoded but not yet returned.
    pending: std::collections::VecDeque<(u32, Response)>,
    /// Frame-level errors the host's decoder saw (garbage from the device side).
    pub host_decode_errors: u32,
    /// Whether the device has sent anything: from then on a closed port is a hang-up, before
    /// it only means the other side has not opened its end yet.
    heard: bool,
}

impl Link {
    /// A client on an open, raw-mode port.
    pub fn new(port: File) -> Self {
        Link {
            port,
            decoder: Decoder::new(),
            seq: 0,
            pending: Default::default(),
            host_decode_errors: 0,
            heard: false,
        }
    }

    /// Opens `path` (raw mode) and makes a client.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(open_serial(path)?))
    }

    /// Writes bytes as they are (for tests that inject garbage).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    /// The next frame from the device, whatever its seq.
    pub fn recv(&mut self, timeout: Duration) -> Result<(u32, Response), LinkError> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 256];
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout);
            }
            let n = match readable(&self.port, left)? {
                Ready::Nothing => continue,
                Ready::Closed => 0,
                Ready::Data => match self.port.read(&mut buf) {
                    // EIO: a pty whose other side is closed.
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => 0,
                    r => r?,
                },
            };
            if n == 0 {
                // The other side is closed. After the device has talked that is a hang-up,
                // reported at once; before, its end may not be open yet (QEMU, an emulator
                // starting), so wait a little instead of spinning.
                if self.heard {
                    return Err(LinkError::HungUp);
                }
                std::thread::sleep(Duration::from_millis(10).min(left));
                continue;
            }
            self.heard = true;
            for &b in &buf[..n] {
                match self.decoder.feed::<Response>(b) {
                    Some(Ok(frame)) => self.pending.push_back(frame),
                    Some(Err(_)) => self.host_decode_errors += 1,
                    None => {}
                }
            }
        }
    }

    /// Makes contact with a device that may or may not still announce itself: a fresh one
    /// repeats `Ready` until it hears from the host; one that has already talked to a host is
    /// silent until asked. Returns its `Info`.
    pub fn connect(&mut self, timeout: Duration) -> Result<proto::DeviceInfo, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout);
            }
            // Either a Ready arrives, or we ask; a request sent before the receiver was on is
            // lost, so ask again until the deadline.
            let _ = self.wait_ready(left.min(Duration::from_millis(300)));
            match self.request(&Request::Info, left.min(Duration::from_secs(2))) {
                Ok(Response::Info(info)) => return Ok(info),
                Ok(_) | Err(LinkError::Timeout) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the device's `Ready` announcement.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let (0, Response::Ready) = self.recv(left)? {
                return Ok(());
            }
        }
    }

    /// The next sequence number (never 0, which marks unsolicited frames).
    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Sends `req` and returns its answer. Frames for other seqs and repeated `Ready`s are
    /// skipped; an error with seq 0 (the device could not read our frame) is returned as the
    /// answer, since only one request is ever outstanding.
    pub fn request(&mut self, req: &Request, timeout: Duration) -> Result<Response, LinkError> {
        let seq = self.next_seq();
        let mut buf = [0u8; MAX_FRAME];
        let frame = proto::encode(seq, req, &mut buf).expect("every request fits a frame");
        // Answers to earlier requests that timed out are stale now.
        self.pending.clear();
        self.port.write_all(frame)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left)? {
                (s, r) if s == seq => return Ok(r),
                (0, r @ Response::Error { .. }) => return Ok(r),
                _ => {}
            }
        }
    }
}

/// The device's application logic behind a pseudo-terminal pair, in a background thread.
/// Open [`Emulator::path`] like a serial port; the thread ends when the process does.
pub struct Emulator {
    /// The pseudo-terminal to open.
    pub path: PathBuf,
    _slave: OwnedFd,
}

/// Starts [`emulate_on_pty`]'s device with the same models the firmware holds.
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

impl shinso_app::checkpoint::NorFlash for RamFlash {
    fn slot_size(&self) -> usize {
        Self::SECTOR
    }
    fn erase(&mut self, slot: usize) -> Result<(), shinso_app::checkpoint::FlashError> {
        let s = self
            .slots
            .get_mut(slot)
            .ok_or(shinso_app::checkpoint::FlashError)?;
        s.fill(!0);
        Ok(())
    }
    fn program(
        &mut self,
        slot: usize,
        offset: usize,
        word: u32,
    ) -> Result<(), shinso_app::checkpoint::FlashError> {
        let w = self
            .slots
            .get_mut(slot)
            .and_then(|s| s.get_mut(offset / 4))
            .ok_or(shinso_app::checkpoint::FlashError)?;
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
fn on_pty(name: &str, device: impl FnOnce(File) + Send + 'static) -> std::io::Result<Emulator> {
    let (master, slave) = openpty()?;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd()))?;
    set_raw(&slave)?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || device(master))?;
    Ok(Emulator {
        path,
        _slave: slave,
    })
}

/// The next bytes from the host on a pty master, or `None` once it is gone for good.
fn read_master(master: &mut File, buf: &mut [u8]) -> Option<usize> {
    loop {
        match master.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            // EIO on the master: no one has the slave open right now; wait for someone.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                std::thread::sleep(Duration::from_millis(5));
            }
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

/// A pseudo-terminal pair: (master as a File, slave fd kept open so the master never sees EIO).
fn openpty() -> std::io::Result<(File, OwnedFd)> {
    let (mut m, mut s) = (0, 0);
    // SAFETY: out-pointers to two ints; null name/termios/winsize are allowed.
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (m, s) = unsafe { (File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    // Not inherited by child processes (QEMU, a `shinso` under test): a child holding the
    // master would keep the port open after the device here has hung up.
    for fd in [m.as_raw_fd(), s.as_raw_fd()] {
        // SAFETY: fd is open and ours.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok((m, s))
}

/// The firmware workspace (this crate's parent directory).
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the QEMU firmware (release, `--features qemu`) and returns the ELF's path.
///
/// `SHINSO_FIRMWARE_ELF` names a prebuilt ELF instead. The build goes to `firmware/target`, or
/// to `SHINSO_FIRMWARE_TARGET_DIR` (the firmware workspace's own tests use another directory:
/// the `cargo test` running them holds the lock on `firmware/target`). Cargo must run *in* the
/// firmware directory: that is where it finds `.cargo/config.toml`, which selects the
/// thumbv7em target.
pub fn build_firmware() -> Result<PathBuf, String> {
    if let Some(elf) = std::env::var_os("SHINSO_FIRMWARE_ELF") {
        return Ok(elf.into());
    }
    let dir = firmware_dir();
    let target = std::env::var_os("SHINSO_FIRMWARE_TARGET_DIR")
        .map_or_else(|| dir.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&dir)
        .args([
            "build",
            "--release",
            "--features",
            "qemu",
            "--bin",
            "shinso-firmware",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "firmware build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(target.join("thumbv7em-none-eabihf/release/shinso-firmware"))
}

/// The memory budget of a firmware ELF, from the same linker symbols the firmware reads at run
/// time (so it must equal what the device reports in `Info`, except `heap_used`):
/// flash = vector table to the end of the `.data` load image; RAM = `.data` + `.bss` +
/// `.uninit` in SRAM plus the statics in CCM; the arena = the `ARENA` static; stack = the
/// fixed region at the top of CCM; heap = the rest of SRAM.
pub fn elf_memory(elf: &Path) -> Result<proto::MemoryBudget, String> {
    let sym = |name: &str| elf_symbol(elf, name).map(|(address, _)| address);
    let data_len = sym("__edata")? - sym("__sdata")?;
    Ok(proto::MemoryBudget {
        flash: (sym("__sidata")? + data_len - sym("__vector_table")?) as u32,
        ram: (sym("__sheap")? - sym("_ram_start")? + sym("__eccmram")? - sym("__sccmram")?) as u32,
        arena: elf_symbol(elf, "ARENA")?.1 as u32,
        stack: (sym("_stack_start")? - sym("_stack_end")?) as u32,
        heap: (sym("_ram_end")? - sym("__sheap")?) as u32,
        stack_used: 0,
        heap_used: 0,
    })
}

/// RAM the memory plan may take: both networks, the optimizer state, the arena and the stack
/// (the rest of the 192 KiB is spare heap and the link's buffers).
pub const RAM_PLAN: u32 = 170 * 1024;

/// Checks what a firmware reports in `Info` against its ELF: the budget equals the linker's,
/// the models' RAM is the `MODELS` static, the arena the `ARENA` static, the heap in use holds
/// the optimizer state, the stack has room to spare, and networks, optimizer state, arena and
/// stack fit [`RAM_PLAN`]. Returns that sum.
pub fn check_memory(info: &proto::DeviceInfo, elf: &Path) -> Result<u32, String> {
    let m = info.memory;
    let from_elf = elf_memory(elf)?;
    if (proto::MemoryBudget {
        heap_used: 0,
        stack_used: 0,
        ..m
    }) != from_elf
    {
        return Err(format!(
            "the device reports {m:?}, its ELF says {from_elf:?}"
        ));
    }
    let networks: u32 = info.models.iter().map(|m| m.ram).sum();
    let optimizer: u32 = info.models.iter().map(|m| m.heap).sum();
    let models = elf_symbol(elf, "MODELS")?.1;
    if models != networks as u64 {
        return Err(format!(
            "models take {networks} B, the MODELS static {models} B"
        ));
    }
    let total = networks + optimizer + m.arena + m.stack;
    let fits = m.ram + m.stack + m.heap <= 192 * 1024
        && m.heap_used >= optimizer
        && m.stack_used > 0
        && m.stack_used < m.stack * 7 / 8
        && total <= RAM_PLAN;
    if !fits {
        return Err(format!(
            "networks {networks} B + optimizer {optimizer} B + arena {} B + stack {} B = {total} B (plan {RAM_PLAN} B): {m:?}",
            m.arena, m.stack
        ));
    }
    Ok(total)
}

/// Address and size of the symbol `name` in a firmware ELF (the board binary's statics are
/// `#[no_mangle]` so that they can be found here).
pub fn elf_symbol(elf: &Path, name: &str) -> Result<(u64, u64), String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| (s.address(), s.size()))
        .ok_or_else(|| format!("{}: no symbol {name}", elf.display()))
}

/// The firmware running in `qemu-system-arm -machine netduinoplus2`.
pub struct Qemu {
    child: Child,
    /// What QEMU wrote on stderr (its complaints when it cannot run the ELF).
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// QEMU's pseudo-terminal for USART1.
    pub pty: PathBuf,
    /// QEMU's stdout after the pty line: defmt frames (semihosting), for `defmt-print`.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Qemu {
    /// The command line (without `-kernel`): USART1 on a pty, semihosting for defmt,
    /// `-icount shift=0` so SysTick counts instructions.
    pub const ARGS: &'static [&'static str] = &[
        "-machine",
        "netduinoplus2",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "pty",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
    ];

    /// Boots `elf` and finds its pseudo-terminal.
    pub fn boot(elf: &Path) -> Result<Qemu, String> {
        Self::boot_with(elf, &[])
    }

    /// [`Qemu::boot`] with more QEMU arguments (tracing options, say).
    pub fn boot_with(elf: &Path, extra: &[&str]) -> Result<Qemu, String> {
        let mut child = Command::new("qemu-system-arm")
            .args(Self::ARGS)
            .args(extra)
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-arm (is it installed?): {e}"))?;
        let stderr = drain(child.stderr.take().expect("piped"));
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = Vec::new();
        // "char device redirected to /dev/pts/N (label serial0)" comes first, before the guest
        // runs; defmt's binary output follows on the same stream.
        out.read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&line);
        let Some(pty) = text
            .split_whitespace()
            .find(|w| w.starts_with("/dev/pts/"))
            .map(PathBuf::from)
        else {
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(50)); // let the drain catch up
            return Err(match complaint(&stderr) {
                Some(c) => format!("QEMU did not start: {c}"),
                None => format!("no pty in QEMU's first line: {text:?}"),
            });
        };
        // Keep draining stdout: QEMU blocks the guest on a full pipe.
        let log = drain(out);
        Ok(Qemu {
            child,
            stderr,
            pty,
            log,
        })
    }

    /// If QEMU has exited: how, and the first line it wrote on stderr (e.g. `qemu: fatal:
    /// Lockup: can't escalate 3 to HardFault` for an ELF that is not firmware).
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        // The drain thread may still hold the last bytes; they are already written by now.
        std::thread::sleep(Duration::from_millis(50));
        Some(match complaint(&self.stderr) {
            Some(c) => format!("QEMU exited ({status}): {c}"),
            None => format!("QEMU exited ({status})"),
        })
    }
}

/// Collects everything `from` produces, in a thread.
fn drain(mut from: impl Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let to = sink.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            to.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    sink
}

/// The first non-empty line of what was collected.
fn complaint(text: &std::sync::Mutex<Vec<u8>>) -> Option<String> {
    let text = text.lock().ok()?;
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
