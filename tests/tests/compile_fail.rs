//! Shape mistakes do not compile. Each program of the fixture crate `tests/compile-fail/` is
//! built with `cargo build` (a failed `const { assert!(..) }` on sizes derived from const
//! generics is reported only once the code is monomorphised, which `cargo check` may skip),
//! and must fail with the message that names the rule — while the `*_ok` controls, the same
//! code with the right sizes, build.
//!
//! The fixture is its own workspace, built into `<target>/compile-fail` with the root's
//! `Cargo.lock` (copied in first, so it needs no crate the root build has not fetched). The
//! first run compiles shinso and its dependencies there once (unoptimised, ~10–20 s); later
//! runs only the tiny binaries.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One cargo at a time on the fixture's target directory.
static CARGO: Mutex<()> = Mutex::new(());

fn build(bin: &str) -> (bool, String) {
    let _guard = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = here.join("compile-fail");
    let root = here.parent().unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("compile-fail");
    std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock")).expect("copy Cargo.lock");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&fixture)
        .args(["build", "--offline", "--bin", bin])
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn builds(bin: &str) {
    let (ok, stderr) = build(bin);
    assert!(ok, "{bin} should build:\n{stderr}");
}

#[track_caller]
fn fails_with(bin: &str, messages: &[&str]) {
    let (ok, stderr) = build(bin);
    assert!(!ok, "{bin} built, but its shapes are wrong");
    for m in messages {
        assert!(
            stderr.contains(m),
            "{bin}: expected `{m}` in the compiler's output:\n{stderr}"
        );
    }
}

#[test]
fn wrong_conv_output_size_does_not_build() {
    builds("conv_ok");
    fails_with(
        "conv_wrong_size",
        &["output size must be OH = (H + 2P - FH) / S + 1 and OW = (W + 2P - FW) / S + 1"],
    );
}

#[test]
fn wrong_pool_output_size_does_not_build() {
    fails_with(
        "pool_wrong_size",
        &["output size must be OH = (H + 2P - FH) / S + 1"],
    );
}

#[test]
fn mismatched_stack_does_not_build() {
    builds("stack_ok");
    // Affine<784, 40> outputs [f32; 40]; Affine<30, 10> wants [f32; 30].
    fails_with(
        "stack_mismatch",
        &["E0271", "Affine<30, 10> as Layer>::In", "[f32; 40]"],
    );
}

#[test]
fn wrong_flatten_does_not_build() {
    fails_with("flatten_wrong", &["Flatten must keep the number of floats"]);
}

/// The arena plans are `const fn`s: a `static` arena is checked when the program compiles.
#[test]
fn too_small_a_static_arena_does_not_build() {
    builds("arena_ok");
    fails_with(
        "arena_too_small",
        &["the arena is too small for a training step"],
    );
}
