//! `shinso device`, `shinso emulate` and `shinso demo` through the CLI's entry point, on the
//! pty emulation of the device (no QEMU, no board): they work, and they fail with one clear
//! error, not a panic.

use shinso_host::cmd::run;

fn shinso(args: &[&str]) -> anyhow::Result<()> {
    run(std::iter::once("shinso").chain(args.iter().copied()))
}

#[test]
fn emulated_device_commands_work() {
    shinso(&["emulate", "--no-qemu", "info"]).unwrap();
    shinso(&["emulate", "--no-qemu", "infer", "--count", "3"]).unwrap();
    shinso(&[
        "emulate",
        "--no-qemu",
        "learn",
        "--count",
        "20",
        "--optimizer",
        "momentum",
        "--reset",
        "1",
    ])
    .unwrap();
    shinso(&[
        "emulate",
        "--no-qemu",
        "eval",
        "--model-id",
        "1",
        "--count",
        "20",
    ])
    .unwrap();
    let out = std::env::temp_dir().join(format!("shinso-pull-{}.bin", std::process::id()));
    shinso(&[
        "emulate",
        "--no-qemu",
        "pull",
        out.to_str().unwrap(),
        "--model-id",
        "1",
    ])
    .unwrap();
    // A pulled learner blob is a valid model file: it goes back in.
    shinso(&["emulate", "--no-qemu", "push", out.to_str().unwrap()]).unwrap();
    let _ = std::fs::remove_file(out);
}

#[test]
fn bad_device_input_is_one_clear_error() {
    let e = shinso(&["device", "--port", "/nonexistent/tty", "info"]).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/tty"), "{e:#}");
    let junk = std::env::temp_dir().join(format!("shinso-junk-{}.bin", std::process::id()));
    std::fs::write(&junk, b"not a model").unwrap();
    let e = shinso(&["emulate", "--no-qemu", "push", junk.to_str().unwrap()]).unwrap_err();
    assert!(format!("{e:#}").contains("shinso-junk"), "{e:#}");
    let _ = std::fs::remove_file(junk);
    let e = shinso(&["emulate", "--no-qemu", "learn", "--lr", "0.1"]).unwrap_err();
    assert!(format!("{e:#}").contains("--optimizer"), "{e:#}");
}

#[test]
fn demo_tells_the_story_on_the_pty_emulation() {
    shinso(&[
        "demo",
        "--no-qemu",
        "--json",
        "--epochs",
        "1",
        "--eval-count",
        "200",
        "--learn-count",
        "300",
        "--learner-eval-count",
        "50",
    ])
    .unwrap();
}

#[test]
fn finetune_streams_rotated_samples_to_the_pushed_model() {
    shinso(&[
        "emulate",
        "--no-qemu",
        "finetune",
        "--count",
        "30",
        "--rotate",
        "30",
        "--lr",
        "0.02",
    ])
    .unwrap();
    // SGD refuses rates that cannot train, before anything is sent.
    let e = shinso(&["emulate", "--no-qemu", "finetune", "--lr", "50"]).unwrap_err();
    assert!(format!("{e:#}").contains("--lr"), "{e:#}");
}
