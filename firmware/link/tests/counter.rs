//! The firmware's instruction counter against QEMU's own count of executed instructions.
//!
//! The firmware turns SysTick ticks into instructions (`board::ticks_to_count`, 0.168 ticks per
//! instruction under `-icount shift=0`). Here QEMU runs it with `-singlestep -d exec,nochain`:
//! one guest instruction per translation block and a log line for every block executed, so
//! the log counts instructions one by one, independently of SysTick. The stretch an inference
//! measures lies between two calls of `Counter::ticks` (never inlined, so its instructions
//! carry its symbol in the log); the instructions executed between those calls must be what
//! the firmware reports, to within the few instructions of `ticks` itself on either side.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target. Takes about a minute: QEMU
//! logs some ten million lines, read here through a FIFO as they come.

use shinso_link::{build_firmware, Link, Qemu};
use shinso_proto::{Pixels, Request, Response};
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// Instructions executed between consecutive calls of `Counter::ticks` in a `-d exec` log
/// (one instruction per line with `-singlestep`), and the longest run of `ticks` itself.
#[derive(Default, Debug)]
struct Gaps {
    gaps: Vec<u64>,
    longest_call: u64,
}

/// Reads the log: a line per executed instruction, `Trace 0: 0x… [cs_base/pc/flags/cflags]
/// symbol`.
fn gaps(log: impl BufRead) -> Gaps {
    let mut g = Gaps::default();
    let (mut since, mut run, mut seen) = (0u64, 0u64, false);
    for line in log.split(b'\n') {
        let Ok(line) = line else { break };
        if !line.starts_with(b"Trace ") {
            continue;
        }
        let in_ticks = line
            .windows(b"Counter5ticks".len())
            .any(|w| w == b"Counter5ticks");
        if in_ticks {
            if run == 0 && seen {
                g.gaps.push(since);
            }
            run += 1;
            g.longest_call = g.longest_call.max(run);
            (since, seen) = (0, true);
        } else {
            run = 0;
            since += 1;
        }
    }
    g
}

#[test]
fn counter_agrees_with_qemu_trace() {
    std::env::set_var(
        "SHINSO_FIRMWARE_TARGET_DIR",
        shinso_link::firmware_dir().join("target/qemu"),
    );
    let elf = build_firmware().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("shinso-counter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("exec.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    // QEMU opens the log when it starts; the reader must be there or QEMU blocks.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || gaps(BufReader::new(std::fs::File::open(fifo).unwrap())))
    };
    let trace = [
        "-singlestep",
        "-d",
        "exec,nochain",
        "-D",
        fifo.to_str().unwrap(),
    ];
    let qemu = Qemu::boot_with(&elf, &trace).unwrap_or_else(|e| panic!("{e}"));
    let mut link = Link::open(&qemu.pty).expect("open QEMU's pty");
    link.connect(Duration::from_secs(120))
        .expect("device ready");
    let pixels = Pixels(core::array::from_fn(|i| (i * 37 % 256) as u8));
    let reply = link.request(
        &Request::Infer { model: 0, pixels },
        Duration::from_secs(300),
    );
    let count = match reply {
        Ok(Response::Inferred { count, .. }) => count,
        other => panic!("inference: {other:?}"),
    };
    drop(link);
    drop(qemu);
    let g = reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The inference is the longest stretch between two reads of the counter.
    let traced = *g
        .gaps
        .iter()
        .max()
        .expect("no Counter::ticks calls in the trace");
    eprintln!(
        "firmware: {count} instructions; QEMU trace: {traced} between the ticks calls \
         (a call is at most {} instructions)",
        g.longest_call
    );
    assert!(
        count.abs_diff(traced) <= 2 * g.longest_call + 8,
        "firmware {count} vs trace {traced}"
    );
}
