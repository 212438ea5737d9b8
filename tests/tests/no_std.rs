//! The core is really `no_std` and allocation-free: it builds for the STM32F405's target
//! (`thumbv7em-none-eabihf`, no standard library there at all). Needs the rustup target, which
//! `rust-toolchain.toml` names and `.ci/run` installs.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn core_builds_for_the_cortex_m4f() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // Its own target directory: the outer `cargo test` may still hold the main one.
    let target = root.join("target").join("no-std");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--offline", "--release", "-p", "shinso"])
        .args(["--target", "thumbv7em-none-eabihf"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "shinso does not build for thumbv7em-none-eabihf (is the target installed? \
         `rustup target add thumbv7em-none-eabihf`):\n{stderr}"
    );
}
