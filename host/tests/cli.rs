//! The `shinso` binary end to end: outputs of train / eval / export / reproduce, and bad input
//! that must end in one `error:` line and a non-zero exit, never a panic.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{data_dir, one_error_line, p, succeeded};

fn shinso(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shinso"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("SHINSO_DATA")
        .output()
        .expect("run shinso")
}

fn ok(args: &[&str]) -> String {
    succeeded(args, &shinso(args))
}

/// The command fails with exit code `code` and exactly one stderr line starting `error:`
/// that contains every one of `needles`.
fn fails(args: &[&str], code: i32, needles: &[&str]) -> String {
    one_error_line(&shinso(args), &format!("shinso {args:?}"), code, needles)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Train a small mlp into `dir` (fast: 300 iterations on all images, test on 2,000).
fn train_small(dir: &Path) {
    let out = ok(&[
        "train",
        "--preset",
        "mlp",
        "-n",
        "300",
        "--test-size",
        "2000",
        "--out",
        p(dir),
        "-q",
    ]);
    assert!(out.contains("test accuracy"), "{out}");
}

#[test]
fn train_writes_everything_and_eval_export_agree() {
    let d = tmp();
    let run = d.path().join("run");
    train_small(&run);
    for f in [
        "metrics.csv",
        "accuracy.png",
        "loss.png",
        "confusion.png",
        "summary.json",
        "model.safetensors",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("iteration,epoch,loss,train_accuracy,test_accuracy\n"));
    assert!(csv.lines().count() >= 3);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "mlp after 300 iterations: {acc}");
    assert_eq!(summary["config"]["preset"], "mlp");
    assert_eq!(summary["config"]["lr"], 0.1);
    assert!(summary["samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(summary["wall_time_s"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["data"]["test_samples"], 2000);

    // eval on the same 2,000 images gives the same accuracy as training reported
    let model = run.join("model.safetensors");
    let ev = d.path().join("ev");
    let out = ok(&["eval", "--model", p(&model), "--out", p(&ev)]);
    assert!(out.contains("accuracy"), "{out}");
    assert!(out.contains("true\\pred"), "{out}");
    let evj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev.join("eval.json")).unwrap()).unwrap();
    assert_eq!(evj["samples"], 10000);
    assert!(ev.join("confusion.png").is_file());

    // export to the device blob and back: same predictions
    let blob = d.path().join("model.bin");
    let out = ok(&["export", "--model", p(&model), "--out", p(&blob)]);
    assert!(out.contains("bytes"), "{out}");
    let b = std::fs::read(&blob).unwrap();
    assert_eq!(&b[..4], b"SHNS");
    let back = d.path().join("back.safetensors");
    ok(&[
        "export",
        "--model",
        p(&blob),
        "--preset",
        "mlp",
        "--out",
        p(&back),
    ]);
    let ev2 = d.path().join("ev2");
    ok(&["eval", "--model", p(&back), "--out", p(&ev2)]);
    let evj2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev2.join("eval.json")).unwrap()).unwrap();
    assert_eq!(evj["accuracy"], evj2["accuracy"]);
    assert_eq!(evj["confusion"], evj2["confusion"]);
}

#[test]
fn same_seed_same_run() {
    let d = tmp();
    let args = |o: &Path| {
        vec![
            "train".to_string(),
            "--preset".into(),
            "mlp".into(),
            "-n".into(),
            "60".into(),
            "--augment-shift".into(),
            "2".into(),
            "--dropout".into(),
            "0.1".into(),
            "--test-size".into(),
            "500".into(),
            "--seed".into(),
            "7".into(),
            "--out".into(),
            o.to_str().unwrap().into(),
            "-q".into(),
        ]
    };
    for name in ["a", "b"] {
        let a = args(&d.path().join(name));
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let read = |n: &str| std::fs::read(d.path().join(n).join("metrics.csv")).unwrap();
    assert_eq!(read("a"), read("b"));
    let ma = std::fs::read(d.path().join("a/model.safetensors")).unwrap();
    let mb = std::fs::read(d.path().join("b/model.safetensors")).unwrap();
    assert_eq!(ma, mb);
}

#[test]
fn every_preset_trains_a_few_steps() {
    let d = tmp();
    for preset in [
        "mlp",
        "deep-mlp",
        "simple-convnet",
        "double-convnet",
        "lenet",
        "alexnet-mini",
        "online-convnet",
        "online-mlp",
    ] {
        let out = d.path().join(preset);
        ok(&[
            "train",
            "--preset",
            preset,
            "-n",
            "3",
            "-b",
            "8",
            "--test-size",
            "64",
            "--eval-train-samples",
            "64",
            "--out",
            p(&out),
            "-q",
        ]);
        let model = out.join("model.safetensors");
        // the preset is found from the metadata, and again from the tensor shapes alone
        let s = ok(&["eval", "--model", p(&model), "--out", p(&out)]);
        assert!(s.contains(&format!("({preset}, ")), "{s}");
    }
}

#[test]
fn batch_norm_and_regularisers_run() {
    let d = tmp();
    let out = d.path().join("bn");
    ok(&[
        "train",
        "--preset",
        "deep-mlp",
        "--batch-norm",
        "--dropout",
        "0.2",
        "--l1",
        "0.001",
        "--l2",
        "0.01",
        "--optimizer",
        "momentum",
        "--lr-schedule",
        "cosine",
        "-n",
        "50",
        "--test-size",
        "500",
        "--out",
        p(&out),
        "-q",
    ]);
    let s = ok(&[
        "eval",
        "--model",
        p(&out.join("model.safetensors")),
        "--out",
        p(&out),
    ]);
    assert!(s.contains("deep-mlp"), "{s}");
    for opt in ["sgd", "adagrad", "rmsprop", "adam"] {
        ok(&[
            "train",
            "--preset",
            "mlp",
            "--optimizer",
            opt,
            "-n",
            "20",
            "--test-size",
            "200",
            "--out",
            p(&out),
            "-q",
        ]);
    }
    for act in ["sigmoid", "tanh", "step", "identity"] {
        ok(&[
            "train",
            "--preset",
            "mlp",
            "--activation",
            act,
            "--init",
            "xavier",
            "-n",
            "20",
            "--test-size",
            "200",
            "--out",
            p(&out),
            "-q",
        ]);
    }
    ok(&[
        "train",
        "--preset",
        "mlp",
        "--loss",
        "mse",
        "-n",
        "20",
        "--test-size",
        "200",
        "--out",
        p(&out),
        "-q",
    ]);
    ok(&[
        "train",
        "--preset",
        "mlp",
        "--plot-format",
        "svg",
        "-n",
        "20",
        "--test-size",
        "200",
        "--out",
        p(&out),
        "-q",
    ]);
    assert!(out.join("accuracy.svg").is_file());
}

#[test]
fn bad_flags_are_one_line_errors() {
    let d = tmp();
    let o = d.path().join("o");
    let o = p(&o);
    fails(
        &["train", "--preset", "nonsense", "--out", o],
        2,
        &["nonsense"],
    );
    fails(
        &["train", "--batch-size", "0", "--out", o],
        1,
        &["--batch-size"],
    );
    fails(
        &["train", "--batch-size", "129", "--out", o],
        1,
        &["--batch-size", "128"],
    );
    fails(&["train", "--lr=-1", "--out", o], 1, &["--lr"]);
    fails(&["train", "--lr", "NaN", "--out", o], 1, &["--lr"]);
    fails(
        &["train", "--dropout", "1.5", "--out", o],
        1,
        &["--dropout"],
    );
    fails(&["train", "--epochs", "0", "--out", o], 1, &["--epochs"]);
    // A rate without the rule it is for is a command-line mistake, refused before any device.
    fails(&["emulate", "learn", "--lr", "0.1"], 2, &["--optimizer"]);
    fails(
        &["train", "--epochs", "1", "--iterations", "5", "--out", o],
        2,
        &["--iterations"],
    );
    fails(
        &["train", "--train-size", "0", "--out", o],
        1,
        &["--train-size"],
    );
    fails(
        &[
            "train",
            "--preset",
            "double-convnet",
            "--batch-norm",
            "--out",
            o,
        ],
        1,
        &["batch-norm"],
    );
    fails(
        &[
            "train",
            "--preset",
            "online-convnet",
            "--activation",
            "sigmoid",
            "--out",
            o,
        ],
        1,
        &["relu"],
    );
    fails(
        &["train", "--lr-schedule", "step", "--lr-step=-2", "--out", o],
        1,
        &["--lr-step"],
    );
    fails(&["train", "--iterations", "abc", "--out", o], 2, &["abc"]);
    fails(&["frobnicate"], 2, &["frobnicate"]);
    fails(&["bench", "--batch-size", "1000"], 1, &["--batch-size"]);
    fails(
        &["reproduce", "--only", "nothing", "--out", o],
        1,
        &["--only"],
    );
    // help is not an error
    let out = ok(&["train", "--help"]);
    assert!(out.contains("--preset"));
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// A copy of the bundled data directory, to damage.
fn copy_data(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(data_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn bad_data_is_one_line_error() {
    let d = tmp();
    let o = d.path().join("o");
    let o = p(&o);
    let missing = d.path().join("nope");
    fails(
        &["train", "--data", p(&missing), "--out", o],
        1,
        &["nope", "not found"],
    );

    let dd = d.path().join("data");
    copy_data(&dd);
    std::fs::remove_file(dd.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    fails(
        &["train", "--data", p(&dd), "--out", o],
        1,
        &["test labels"],
    );

    copy_data(&dd);
    let f = dd.join("train-images-idx3-ubyte.gz");
    let mut b = std::fs::read(&f).unwrap();
    b.truncate(b.len() / 2);
    std::fs::write(&f, &b).unwrap();
    fails(
        &["train", "--data", p(&dd), "--out", o],
        1,
        &["train-images-idx3-ubyte.gz", "gzip"],
    );

    copy_data(&dd);
    let f = dd.join("train-labels-idx1-ubyte.gz");
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3];
    labels.extend_from_slice(&[1, 2, 3]);
    write_gz(&f, &labels);
    fails(
        &["train", "--data", p(&dd), "--out", o],
        1,
        &["10000 images", "3 labels"],
    );

    let mut labels = vec![0, 0, 8, 1, 0, 0, 0x27, 0x10];
    labels.extend(std::iter::repeat_n(1u8, 9999));
    labels.push(11);
    write_gz(&f, &labels);
    fails(
        &["train", "--data", p(&dd), "--out", o],
        1,
        &["label 11", "9999"],
    );

    std::fs::write(&f, b"hello, not idx").unwrap();
    fails(
        &[
            "eval",
            "--model",
            "/nonexistent.safetensors",
            "--data",
            p(&dd),
        ],
        1,
        &["not found"],
    );
    let model_dir = d.path().join("m");
    train_small(&model_dir);
    fails(
        &[
            "eval",
            "--model",
            p(&model_dir.join("model.safetensors")),
            "--data",
            p(&dd),
        ],
        1,
        &["not an IDX file"],
    );

    // raw (uncompressed) files are read too, and a truncated raw file is reported as such
    let raw = d.path().join("raw");
    copy_data(&raw);
    for name in ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"] {
        let gz = std::fs::read(raw.join(format!("{name}.gz"))).unwrap();
        let mut dec = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut dec).unwrap();
        std::fs::remove_file(raw.join(format!("{name}.gz"))).unwrap();
        if name.starts_with("t10k") {
            dec.truncate(dec.len() - 100);
        }
        std::fs::write(raw.join(name), dec).unwrap();
    }
    fails(
        &[
            "eval",
            "--model",
            p(&model_dir.join("model.safetensors")),
            "--data",
            p(&raw),
        ],
        1,
        &["t10k-images-idx3-ubyte", "truncated"],
    );
}

#[test]
fn bad_models_are_one_line_errors() {
    let d = tmp();
    let m = d.path().join("m");
    train_small(&m);
    let model = m.join("model.safetensors");

    let junk = d.path().join("junk.safetensors");
    std::fs::write(&junk, b"definitely not a model").unwrap();
    fails(
        &["eval", "--model", p(&junk)],
        1,
        &["junk.safetensors", "safetensors"],
    );

    // a model of one preset loaded as another
    fails(
        &["eval", "--model", p(&model), "--preset", "deep-mlp"],
        1,
        &["deep-mlp"],
    );

    // a blob names its preset by its signature; a corrupted blob, a blob for another network
    let blob = d.path().join("m.bin");
    ok(&["export", "--model", p(&model), "--out", p(&blob)]);
    let out = ok(&[
        "export",
        "--model",
        p(&blob),
        "--out",
        p(&d.path().join("x.safetensors")),
    ]);
    assert!(out.contains("preset mlp"), "{out}");
    let mut b = std::fs::read(&blob).unwrap();
    let n = b.len();
    b[n - 3] ^= 0x40;
    let bad = d.path().join("bad.bin");
    std::fs::write(&bad, &b).unwrap();
    fails(
        &[
            "export",
            "--model",
            p(&bad),
            "--preset",
            "mlp",
            "--out",
            p(&d.path().join("x.safetensors")),
        ],
        1,
        &["corrupt"],
    );
    fails(
        &[
            "export",
            "--model",
            p(&blob),
            "--preset",
            "lenet",
            "--out",
            p(&d.path().join("x.safetensors")),
        ],
        1,
        &["another network"],
    );
    std::fs::write(&bad, &b[..30]).unwrap();
    fails(
        &[
            "export",
            "--model",
            p(&bad),
            "--preset",
            "mlp",
            "--out",
            p(&d.path().join("x.safetensors")),
        ],
        1,
        &["bytes"],
    );

    // a safetensors file holding a NaN
    let mut st = std::fs::read(&model).unwrap();
    let hlen = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let at = 8 + hlen; // first float of the data section
    st[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan = d.path().join("nan.safetensors");
    std::fs::write(&nan, &st).unwrap();
    fails(&["eval", "--model", p(&nan)], 1, &["non-finite"]);

    // an output directory that cannot be created
    let file = d.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    fails(
        &["train", "-n", "1", "--out", p(&file.join("sub"))],
        1,
        &["cannot create"],
    );
}

#[test]
fn reproduce_quick_subset_writes_report() {
    let d = tmp();
    let out = d.path().join("rep");
    let s = ok(&[
        "reproduce",
        "--quick",
        "--only",
        "init",
        "--out",
        p(&out),
        "-q",
        "-j",
        "2",
    ]);
    assert!(s.contains("REPORT.md"), "{s}");
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(md.contains("| relu + He |"), "{md}");
    assert!(md.contains("init-accuracy.png"));
    // the group's claims are checked, the other groups' left out
    let chance = "| sigmoid + Gaussian(0.01) stays near chance (≤ 0.2) | pass | 0.1135 |";
    assert!(md.contains(chance), "{md}");
    assert!(!md.contains("convnet"), "{md}");
    assert!(out.join("init-accuracy.png").is_file());
    assert!(out.join("init-curves.png").is_file());
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let runs = rep["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for r in runs {
        assert_eq!(r["experiment"], "init");
        assert!(r["test_accuracy"].as_f64().is_some());
        assert!(r["course_accuracy"].as_f64().is_some());
        assert!(r["config"]["optimizer"].is_string());
    }
    let sig = runs
        .iter()
        .find(|r| r["name"] == "sigmoid + Gaussian")
        .unwrap();
    assert!(
        sig["test_accuracy"].as_f64().unwrap() < 0.2,
        "vanishing gradient expected"
    );
}

/// The schedule flags alone pick their schedule, and keep the preset's other parameters:
/// `--lr-min` turns the mlp's constant rate into a cosine decay, and sets the floor of
/// double-convnet's own cosine.
#[test]
fn schedule_flags_alone_pick_their_schedule() {
    let d = tmp();
    let schedule = |preset: &str, flags: &[&str]| {
        let out = d.path().join(preset);
        let mut args = vec!["train", "--preset", preset, "-n", "2", "--test-size", "50"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--out", p(&out), "-q"]);
        ok(&args);
        let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        summary["config"]["schedule"].to_string()
    };
    let cosine = r#"{"kind":"cosine","min":0.001}"#;
    assert_eq!(schedule("mlp", &["--lr-min", "0.001"]), cosine);
    assert_eq!(schedule("double-convnet", &["--lr-min", "0.001"]), cosine);
    assert_eq!(
        schedule("mlp", &["--lr-gamma", "0.5"]),
        r#"{"kind":"step","every":10.0,"gamma":0.5}"#
    );
}
