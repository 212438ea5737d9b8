//! The firmware under QEMU: [`build_firmware`] builds the ELF (`--features qemu`), [`Qemu`]
//! boots it in `qemu-system-arm` and finds the pseudo-terminal QEMU made for USART1.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Link, LinkError};
use shinso_proto::DeviceInfo;

/// Whether `qemu-system-arm` runs on this host.
pub fn qemu_installed() -> bool {
    Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
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

    /// A link to the booted firmware, and its `Info`. Booting takes a while: it asks in short
    /// rounds until `timeout`, so that a QEMU that died says why at once.
    pub fn connect(&mut self, timeout: Duration) -> Result<(Link, DeviceInfo), String> {
        let mut link = Link::open(&self.pty)
            .map_err(|e| self.exited().unwrap_or_else(|| format!("QEMU's port: {e}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            match link.connect(Duration::from_secs(1)) {
                Ok(info) => return Ok((link, info)),
                Err(e) => {
                    if let Some(why) = self.exited() {
                        return Err(why);
                    }
                    if !matches!(e, LinkError::Timeout) || Instant::now() > deadline {
                        return Err(e.to_string());
                    }
                }
            }
        }
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
