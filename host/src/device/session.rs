//! A connected device: the link, what the device said about itself, and what keeps it alive
//! (QEMU or the emulation thread); its failures in words.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use shinso_link::{build_firmware, emulate_on_pty, Emulator, Link, LinkError, Qemu, TransferError};
use shinso_proto::{self as proto, DeviceInfo, ErrorCode, Request, Response};

/// How long one request may take before the device counts as gone.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A connected device and what keeps it alive (QEMU, or the emulation thread).
pub struct Session {
    pub link: Link,
    pub info: DeviceInfo,
    pub backend: &'static str,
    _qemu: Option<Qemu>,
    _emu: Option<Emulator>,
}

fn link_err(e: LinkError) -> anyhow::Error {
    match e {
        LinkError::Timeout => anyhow!(
            "the device did not answer within {} s (is it running, and is this its port?)",
            TIMEOUT.as_secs()
        ),
        LinkError::HungUp => {
            anyhow!("the device hung up: its port closed mid-request (did it reset, or exit?)")
        }
        LinkError::Io(e) => anyhow!("serial port: {e}"),
    }
}

pub fn device_error(what: &str, code: ErrorCode, detail: u32) -> anyhow::Error {
    let why = match code {
        ErrorCode::BadFrame | ErrorCode::BadCrc => "the frame was damaged on the way".to_string(),
        ErrorCode::Unknown => {
            "the device does not know this request (firmware too old?)".to_string()
        }
        ErrorCode::Oversized => "the frame was too long".to_string(),
        ErrorCode::NonFinite => "a value is NaN or infinite".to_string(),
        ErrorCode::BadSignature => "the weights are for another network".to_string(),
        ErrorCode::BadLength => format!("wrong length (device expects {detail})"),
        ErrorCode::BadOffset => format!("out of order (device is at byte {detail})"),
        ErrorCode::BadBlobCrc => {
            "the weights' CRC does not match; the old weights stay".to_string()
        }
        ErrorCode::NoSuchModel => "no such model on the device".to_string(),
        ErrorCode::NotTrainable => "that model does not learn".to_string(),
        ErrorCode::BadValue => "a value is out of range".to_string(),
        ErrorCode::NoPush => "no push in progress (interrupted by another request?)".to_string(),
        ErrorCode::RolledBack => "the step was not finite and was undone".to_string(),
        ErrorCode::OutOfMemory => "the device is out of memory".to_string(),
        ErrorCode::Overrun => format!(
            "its receive queue overflowed and {detail} bytes were lost (send one request at a time)"
        ),
        ErrorCode::Flash => super::checkpoint::flash_failed(detail),
        ErrorCode::NoFlash => "it has no checkpoint flash".to_string(),
    };
    anyhow!("{what}: device refused: {why}")
}

impl Session {
    pub fn open(port: &Path) -> Result<Session> {
        let mut link =
            Link::open(port).with_context(|| format!("{}: cannot open", port.display()))?;
        let info = link.connect(TIMEOUT).map_err(link_err)?;
        Ok(Session {
            link,
            info,
            backend: "serial",
            _qemu: None,
            _emu: None,
        })
    }

    /// QEMU when available (building the firmware unless `elf` is given), else the pty
    /// emulation; says which on stderr.
    pub fn emulated(elf: Option<&Path>, no_qemu: bool) -> Result<Session> {
        let have_qemu = std::process::Command::new("qemu-system-arm")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if no_qemu || !have_qemu {
            if !no_qemu {
                eprintln!("qemu-system-arm not found: running the device's application logic on the host over a pseudo-terminal pair");
            }
            let emu = emulate_on_pty().context("cannot create a pseudo-terminal pair")?;
            let mut link = Link::open(&emu.path)?;
            let info = link.connect(TIMEOUT).map_err(link_err)?;
            return Ok(Session {
                link,
                info,
                backend: "pty emulation",
                _qemu: None,
                _emu: Some(emu),
            });
        }
        let elf = match elf {
            Some(e) => e.to_path_buf(),
            None => {
                eprintln!("building the firmware (cargo build --release --features qemu in firmware/) ...");
                build_firmware().map_err(|e| {
                    anyhow!("{}", e.lines().next().unwrap_or("firmware build failed"))
                })?
            }
        };
        let mut qemu = Qemu::boot(&elf).map_err(|e| anyhow!(e))?;
        eprintln!("QEMU: USART1 on {}", qemu.pty.display());
        let mut link = match Link::open(&qemu.pty) {
            Ok(l) => l,
            Err(e) => bail!(qemu.exited().unwrap_or_else(|| format!("QEMU's port: {e}"))),
        };
        // Booting takes a while; ask in short rounds so a QEMU that died says why at once.
        let deadline = Instant::now() + Duration::from_secs(60);
        let info = loop {
            match link.connect(Duration::from_secs(1)) {
                Ok(info) => break info,
                Err(e) => {
                    if let Some(why) = qemu.exited() {
                        bail!(why);
                    }
                    if !matches!(e, LinkError::Timeout) || Instant::now() > deadline {
                        return Err(link_err(e));
                    }
                }
            }
        };
        Ok(Session {
            link,
            info,
            backend: "QEMU",
            _qemu: Some(qemu),
            _emu: None,
        })
    }

    /// A link failure, with QEMU's own word when it is QEMU that went away.
    pub fn link_failed(&mut self, e: LinkError) -> anyhow::Error {
        match self._qemu.as_mut().and_then(Qemu::exited) {
            Some(why) => anyhow!(why),
            None => link_err(e),
        }
    }

    /// A push or pull that stopped, in words: the link's failure, the device's refusal, or
    /// its answer out of protocol.
    pub fn transfer_failed(&mut self, e: TransferError<LinkError>) -> anyhow::Error {
        match e {
            TransferError::Link(e) => self.link_failed(e),
            TransferError::Refused {
                transfer,
                code,
                detail,
            } => device_error(transfer, code, detail),
            TransferError::Unexpected { asked, answer } => {
                anyhow!("{asked}: unexpected answer {answer:?}")
            }
        }
    }

    /// One request; errors the device answers become the error, with `what` in front.
    pub fn ask(&mut self, what: &str, req: &Request) -> Result<Response> {
        match self.link.request(req, TIMEOUT) {
            Err(e) => Err(self.link_failed(e)),
            Ok(Response::Error { code, detail }) => Err(device_error(what, code, detail)),
            Ok(r) => Ok(r),
        }
    }

    /// What the device said about model `id`: it must have listed one.
    pub fn model_info(&self, id: u8) -> Result<proto::ModelInfo> {
        self.info
            .models
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .ok_or_else(|| {
                let ids: Vec<String> = self.info.models.iter().map(|m| m.id.to_string()).collect();
                anyhow!(
                    "the device has no model {id} (it lists {})",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                )
            })
    }

    pub fn counter_unit(&self) -> &'static str {
        match self.info.counter {
            proto::Counter::Instructions => "instructions",
            proto::Counter::Cycles => "cycles",
            proto::Counter::None => "(not counted)",
        }
    }
}
