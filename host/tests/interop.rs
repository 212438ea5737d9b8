//! safetensors interchange checked from outside Rust: a plain-Python reader runs the forward
//! pass of a shinso model, and a file written the way a foreign tool would (F64, no metadata,
//! no batch-norm tensors) loads into shinso. Needs `python3` (standard library only): without
//! it the test fails, unless `SHINSO_SKIP_PYTHON=1` says to skip it (and it says so).

use std::path::Path;
use std::process::Command;

/// `python3` if it runs; `None` only when the user asked to skip (a missing interpreter must
/// not pass the test silently).
fn python() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("python3");
    }
    assert!(
        std::env::var_os("SHINSO_SKIP_PYTHON").is_some_and(|v| v == "1"),
        "python3 not found: install it to run the safetensors interop test, or set \
         SHINSO_SKIP_PYTHON=1 to skip it"
    );
    eprintln!("SKIPPED: safetensors interop test (SHINSO_SKIP_PYTHON=1 and no python3)");
    None
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn correct(eval_out: &str) -> String {
    // "... accuracy 0.9400 (282 of 300)" -> "282 of 300"
    let s = eval_out.lines().next().unwrap_or_default();
    let a = s.rfind('(').expect("count in eval output");
    s[a + 1..s.len() - 1].to_string()
}

#[test]
fn python_reads_and_writes_shinso_models() {
    let Some(py) = python() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/safetensors_interop.py");
    let data = root.join("../data/mnist");
    let bin = env!("CARGO_BIN_EXE_shinso");
    let d = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("plain", vec![]),
        (
            "bn",
            vec!["--batch-norm", "--dropout", "0.1", "--activation", "tanh"],
        ),
    ] {
        let out = d.path().join(name);
        let mut args = vec![
            "train",
            "--preset",
            "mlp",
            "-n",
            "200",
            "--test-size",
            "500",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        run(Command::new(bin).args(&args));
        let model = out.join("model.safetensors");
        let ours = run(Command::new(bin).args([
            "eval",
            "--limit",
            "300",
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        let theirs = run(Command::new(py).arg(&script).args([
            "forward",
            model.to_str().unwrap(),
            data.to_str().unwrap(),
            "300",
        ]));
        assert_eq!(
            theirs.trim(),
            format!("correct {}", correct(&ours)),
            "{name}: {ours}"
        );
        if name == "plain" {
            let foreign = d.path().join("foreign.safetensors");
            run(Command::new(py).arg(&script).args([
                "strip",
                model.to_str().unwrap(),
                foreign.to_str().unwrap(),
            ]));
            let again = run(Command::new(bin).args([
                "eval",
                "--limit",
                "300",
                "--model",
                foreign.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]));
            assert!(
                again.contains("(mlp, relu,"),
                "preset found from shapes: {again}"
            );
            assert_eq!(correct(&again), correct(&ours));
        }
    }
}
