//! End to end under QEMU: build the firmware with `--features qemu`, boot it on the emulated
//! STM32F405 (netduinoplus2), talk to it over USART1's pseudo-terminal.
//!
//! Needs `qemu-system-arm` (Debian: `qemu-system-arm`) and the `thumbv7em-none-eabihf` target.

use shinso_link::{build_firmware, scenario, Link, Qemu};
use std::time::{Duration, Instant};

#[test]
fn firmware_in_qemu_passes_the_scenario() {
    let t0 = Instant::now();
    // `cargo test` in this workspace holds the lock on firmware/target: build elsewhere.
    std::env::set_var(
        "SHINSO_FIRMWARE_TARGET_DIR",
        shinso_link::firmware_dir().join("target/qemu"),
    );
    let elf = build_firmware().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("firmware built in {:.1?}: {}", t0.elapsed(), elf.display());
    let qemu = Qemu::boot(&elf).unwrap_or_else(|e| panic!("{e}"));
    let mut link = Link::open(&qemu.pty).expect("open QEMU's pty");
    let t1 = Instant::now();
    let report =
        scenario::run(&mut link, Duration::from_secs(20), 600).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("scenario in {:.1?}: {report:#?}", t1.elapsed());
    assert_eq!(report.info.counter, shinso_proto::Counter::Instructions);
    assert_eq!(report.info.clock_hz, 16_000_000);
    // The budget once every kind of request has run (the stack's high-water mark with them).
    let Ok(shinso_proto::Response::Info(info)) =
        link.request(&shinso_proto::Request::Info, Duration::from_secs(20))
    else {
        panic!("no Info after the scenario")
    };
    let total = shinso_link::check_memory(&info, &elf).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{:?}\nnetworks, optimizer state, arena and stack: {total} B",
        info.memory
    );
}
