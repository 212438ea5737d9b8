//! [`Link`]: the request/response client for the shinso protocol over a serial port (a
//! board's `/dev/ttyACM0` or `COM3`, QEMU's pseudo-terminal, an emulator's), with timeouts.

use crate::{Push, TransferError};
use serialport::SerialPort;
use shinso_proto::{self as proto, Decoder, Request, Response, MAX_FRAME};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

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

impl From<serialport::Error> for LinkError {
    fn from(e: serialport::Error) -> Self {
        LinkError::Io(e.into())
    }
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Timeout => write!(f, "the device did not answer in time"),
            LinkError::HungUp => write!(
                f,
                "the device hung up: its port closed mid-request (did it reset, or exit?)"
            ),
            LinkError::Io(e) => write!(f, "serial port: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Opens a serial device or pseudo-terminal in raw mode (no echo, no line editing, 8 bits,
/// 115200 baud where the port has a rate), for this process alone while it is open.
pub fn open_serial(path: &Path) -> std::io::Result<Box<dyn SerialPort>> {
    Ok(serialport::new(path.to_string_lossy(), 115_200).open()?)
}

/// How long one write may wait for room in the port's output buffer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A request/response client for the shinso protocol.
pub struct Link {
    port: Box<dyn SerialPort>,
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
    pub fn new(port: Box<dyn SerialPort>) -> Self {
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
        self.port.set_timeout(WRITE_TIMEOUT)?;
        self.port.write_all(bytes)
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
            self.port.set_timeout(left)?;
            let n = match self.port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    continue
                }
                // The port reports a hang-up (a pty whose other side is closed, an unplugged
                // board) as an error; the other side sending nothing more is all it means here.
                Err(_) => 0,
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
        self.port.set_timeout(WRITE_TIMEOUT)?;
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

    /// Sends a model's weights ([`crate::transfer::push`]), `timeout` for each request; `progress`
    /// hears the bytes sent so far.
    pub fn push(
        &mut self,
        blob: &Push<'_>,
        timeout: Duration,
        progress: impl FnMut(usize),
    ) -> Result<(), TransferError<LinkError>> {
        crate::transfer::push(|r| self.request(r, timeout), blob, progress)
    }

    /// Reads `len` bytes of `model`'s weights ([`crate::transfer::pull`]), `timeout` for each
    /// request; `progress` hears the bytes read so far.
    pub fn pull(
        &mut self,
        model: proto::ModelId,
        len: usize,
        timeout: Duration,
        progress: impl FnMut(usize),
    ) -> Result<Vec<u8>, TransferError<LinkError>> {
        crate::transfer::pull(|r| self.request(r, timeout), model, len, progress)
    }

    /// A staged upload other than a model push ([`crate::transfer::send`]): the learner's
    /// whole state after a `RestoreBegin`.
    pub fn send(
        &mut self,
        begin: &Request,
        payload: &[u8],
        timeout: Duration,
        progress: impl FnMut(usize),
    ) -> Result<(), TransferError<LinkError>> {
        crate::transfer::send(|r| self.request(r, timeout), begin, payload, progress)
    }

    /// `len` bytes read with the requests `request(offset, len)` makes
    /// ([`crate::transfer::fetch`]): the learner's whole state by `PullState`.
    pub fn fetch(
        &mut self,
        len: usize,
        request: impl Fn(u32, u16) -> Request,
        timeout: Duration,
        progress: impl FnMut(usize),
    ) -> Result<Vec<u8>, TransferError<LinkError>> {
        crate::transfer::fetch(|r| self.request(r, timeout), len, request, progress)
    }
}
