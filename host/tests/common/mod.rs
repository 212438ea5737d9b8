//! What the CLI tests share: how a success and a refusal must look, and where things are.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `o` is a refusal: exit code `code` and exactly one stderr line, starting `error:`, naming
/// every one of `needles`, without a panic or a backtrace. Returns that line.
pub fn one_error_line(o: &Output, what: &str, code: i32, needles: &[&str]) -> String {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{what}: stderr {err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected from {what}, got {err:?}");
    assert!(lines[0].starts_with("error: "), "{err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("internal error"),
        "{err:?}"
    );
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {err:?}");
    }
    lines[0].to_string()
}

/// `o`, the output of `shinso args`, is a success; returns its stdout.
pub fn succeeded(args: &[&str], o: &Output) -> String {
    assert!(
        o.status.success(),
        "shinso {args:?} failed:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The bundled MNIST files.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}
