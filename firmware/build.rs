//! Writes `memory.x` (from `memory.x.in`) where cortex-m-rt's `link.x` finds it. The CCM origin
//! depends on the target: a board has CCM at 0x1000_0000; QEMU 7.2 has none, but 192 KiB of
//! SRAM, whose last 64 KiB stand in for it. The stack size is set here once, for the linker
//! script and (as `SHINSO_STACK`) for the firmware's compile-time memory check.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let ccm = if env::var_os("CARGO_FEATURE_QEMU").is_some() {
        "0x20020000"
    } else {
        "0x10000000"
    };
    const STACK: usize = 8 * 1024;
    let text = include_str!("memory.x.in")
        .replace("CCM_ORIGIN", ccm)
        .replace("STACK_SIZE", &STACK.to_string());
    println!("cargo:rustc-env=SHINSO_STACK={STACK}");
    fs::write(out.join("memory.x"), text).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x.in");
}
