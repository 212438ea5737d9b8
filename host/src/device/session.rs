//! A connected device: the link, what the device said about itself, and what keeps it alive
//! (QEMU or the emulation thread); its failures in words.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use shinso_link::{listed, Answer, AnswerError, Backend, Link, LinkError, TransferError};
use shinso_proto::{self as proto, DeviceInfo, Request};

use crate::ui::progress_bar;

/// How long one request may take before the device counts as gone.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A connected device and what keeps it alive (QEMU, or the emulation thread).
pub struct Session {
    pub link: Link,
    pub info: DeviceInfo,
    pub backend: Backend,
}

/// A link failure in words, with what to check when the device says nothing.
fn link_err(e: LinkError) -> anyhow::Error {
    match e {
        LinkError::Timeout => anyhow!(
            "the device did not answer within {} s (is it running, and is this its port?)",
            TIMEOUT.as_secs()
        ),
        e => anyhow!("{e}"),
    }
}

impl Session {
    /// The device on serial port `port`.
    pub fn open(port: &Path) -> Result<Session> {
        let mut link =
            Link::open(port).with_context(|| format!("{}: cannot open", port.display()))?;
        let info = link.connect(TIMEOUT).map_err(link_err)?;
        let backend = Backend::Serial;
        Ok(Session {
            link,
            info,
            backend,
        })
    }

    /// QEMU when available (building the firmware unless `elf` is given), else the pty
    /// emulation; says which on stderr.
    pub fn emulated(elf: Option<&Path>, no_qemu: bool) -> Result<Session> {
        let note = |m: &str| eprintln!("{m}");
        let (backend, link, info) =
            Backend::start(elf, no_qemu, note, TIMEOUT).map_err(|e| anyhow!(e))?;
        Ok(Session {
            link,
            info,
            backend,
        })
    }

    /// A link failure, with QEMU's own word when it is QEMU that went away.
    fn link_failed(&mut self, e: LinkError) -> anyhow::Error {
        self.backend
            .exited()
            .map_or_else(|| link_err(e), |why| anyhow!(why))
    }

    /// `req`'s answer of the kind `T`, or why the device gave none: the link's failure is the
    /// error, a refusal or another answer comes back for the caller to judge.
    pub fn answer<T: Answer>(&mut self, req: &Request) -> Result<Result<T, AnswerError>> {
        match self.link.request(req, TIMEOUT) {
            Ok(r) => Ok(T::take(r)),
            Err(e) => Err(self.link_failed(e)),
        }
    }

    /// `req`'s answer of the kind `T`; anything else is the error, with `what` in front.
    pub fn ask<T: Answer>(&mut self, what: &str, req: &Request) -> Result<T> {
        self.answer(req)?.map_err(|e| anyhow!("{what}: {e}"))
    }

    /// A push or pull of `len` bytes under a progress bar: `run` moves them over the link,
    /// telling the bar how far it got; its failure comes back in words.
    pub fn transfer<T>(
        &mut self,
        label: &str,
        len: usize,
        run: impl FnOnce(&mut Link, &mut dyn FnMut(usize)) -> Result<T, TransferError<LinkError>>,
    ) -> Result<T> {
        let pb = progress_bar(len as u64, label, false);
        let done = run(&mut self.link, &mut |n| pb.set_position(n as u64));
        pb.finish_and_clear();
        done.map_err(|e| match e {
            TransferError::Link(e) => self.link_failed(e),
            e => anyhow!("{e}"),
        })
    }

    /// What the device said about model `id`: it must have listed one.
    pub fn model_info(&self, id: u8) -> Result<proto::ModelInfo> {
        listed(&self.info, id).cloned().map_err(|e| anyhow!(e))
    }

    pub fn counter_unit(&self) -> &'static str {
        match self.info.counter {
            proto::Counter::Instructions => "instructions",
            proto::Counter::Cycles => "cycles",
            proto::Counter::None => "(not counted)",
        }
    }
}
