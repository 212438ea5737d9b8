//! The `shinso` binary against hostile input and a device that lies, fails or vanishes: every
//! refusal is one `error:` line and a non-zero exit, within bounded memory (the binary runs
//! with 1 GiB of address space) and time (it is killed after two minutes, which only a hang
//! reaches), and leaves no output file behind.
//!
//! The lying devices are scripted on a pseudo-terminal (`shinso_link::scripted_on_pty`) and
//! the binary talks to them through `shinso device --port`, as it would to a board.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shinso_host::io::safetensors;
use shinso_host::nets::Preset;
use shinso_link::{scripted_on_pty, Emulator, Script};
use shinso_proto::{
    Counter, DeviceInfo, ErrorCode, MemoryBudget, ModelInfo, Request, Response, CLASSES,
};

mod common;
use common::{data_dir, one_error_line, p, succeeded, text};

/// Address space the binary may use: far below what an unbounded read reaches (the old gzip
/// limit alone was 2 GiB).
const ADDRESS_SPACE_KIB: u64 = 1 << 20;
/// Longer than any of these commands takes; reaching it means a hang.
const HANG: Duration = Duration::from_secs(120);

/// Runs the binary with bounded memory and time.
fn shinso(args: &[&str]) -> Output {
    bounded(args, Some(ADDRESS_SPACE_KIB))
}

/// Runs the binary killed after [`HANG`], with at most `kib` of address space if given (QEMU,
/// a child of the binary, reserves 1 GiB for its JIT); its output goes through files so a
/// chatty child cannot block on a full pipe.
fn bounded(args: &[&str], kib: Option<u64>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let limit = kib.map_or(String::new(), |k| format!("ulimit -v {k}; "));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{limit}exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_shinso"))
        .args(args)
        .env_remove("SHINSO_DATA")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run shinso");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "shinso {args:?} still running after {} s: it hangs",
                HANG.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(out).unwrap(),
        stderr: std::fs::read(err).unwrap(),
    }
}

fn ok(args: &[&str]) -> String {
    succeeded(args, &shinso(args))
}

/// Refused with exit code 1 and one error line naming every needle.
fn refused(args: &[&str], needles: &[&str]) -> String {
    one_error_line(&shinso(args), &format!("shinso {args:?}"), 1, needles)
}

/// A double-convnet blob (the device's inference net), He-initialised by the core itself.
fn double_convnet_blob() -> Vec<u8> {
    type Net = shinso::zoo::DoubleConvNet;
    let mut net = shinso::Network::<Net>::boxed();
    net.init(shinso::Init::He, 3);
    let mut blob = vec![0u8; shinso::model::blob_len::<Net>()];
    net.save(&mut blob).unwrap();
    blob
}

fn name(s: &str) -> heapless::String<24> {
    let mut n = heapless::String::new();
    n.push_str(s).unwrap();
    n
}

/// What a device says about itself: `models` as (preset, parameters claimed).
fn info(models: &[(Preset, u32)]) -> DeviceInfo {
    let mut list = heapless::Vec::new();
    for (id, &(preset, params)) in models.iter().enumerate() {
        let _ = list.push(ModelInfo {
            id: id as u8,
            name: name(preset.name()),
            signature: preset.shape().0,
            params,
            trainable: id == 1,
            ram: 0,
            heap: 0,
            arena: 0,
        });
    }
    DeviceInfo {
        protocol: shinso_proto::PROTOCOL_VERSION,
        firmware: name("scripted"),
        models: list,
        memory: MemoryBudget::default(),
        counter: Counter::None,
        clock_hz: 0,
    }
}

/// The device's two models, their sizes told truthfully.
fn honest() -> DeviceInfo {
    let size = |p: Preset| p.shape().1 as u32;
    info(&[
        (Preset::DoubleConvnet, size(Preset::DoubleConvnet)),
        (Preset::OnlineConvnet, size(Preset::OnlineConvnet)),
    ])
}

/// A device on a pty answering `Info` with `info` and every other request as `rest` says.
fn device(info: DeviceInfo, mut rest: impl FnMut(&Request) -> Script + Send + 'static) -> Emulator {
    scripted_on_pty(move |r| match r {
        Request::Info => Script::Answer(Box::new(Response::Info(info.clone()))),
        r => rest(r),
    })
    .expect("openpty")
}

fn answer(r: Response) -> Script {
    Script::Answer(Box::new(r))
}

/// Case 0 and 2: every field of a reply is checked against what the host knows.
#[test]
fn device_replies_are_checked_not_trusted() {
    let d = tempfile::tempdir().unwrap();
    let blob = d.path().join("double.bin");
    std::fs::write(&blob, double_convnet_blob()).unwrap();

    let empty = device(info(&[]), |_| Script::Silence);
    let port = p(&empty.path);
    refused(
        &[
            "device",
            "--port",
            port,
            "push",
            p(&blob),
            "--model-id",
            "0",
        ],
        &["no model 0"],
    );
    refused(
        &["device", "--port", port, "pull", p(&d.path().join("x"))],
        &["no model 0"],
    );

    // A class that does not exist, a class its own scores contradict, NaN scores.
    let mut scores = [0.05f32; CLASSES];
    scores[3] = 0.55;
    for (class, scores, needle) in [
        (200u8, scores, "class 200"),
        (7, scores, "its scores say 3"),
        (9, [f32::NAN; CLASSES], "NaN"),
    ] {
        let dev = device(honest(), move |r| match r {
            Request::Infer { .. } => answer(Response::Inferred {
                class,
                scores,
                count: 0,
            }),
            _ => Script::Silence,
        });
        let port = p(&dev.path);
        refused(&["device", "--port", port, "infer"], &[needle]);
        refused(
            &["device", "--port", port, "eval", "--count", "3"],
            &[needle],
        );
    }

    // 2³²−1 parameters claimed for a double-convnet: refused before a byte is pulled.
    let liar = device(info(&[(Preset::DoubleConvnet, u32::MAX)]), |_| {
        answer(Response::Ok)
    });
    let out = d.path().join("pulled.bin");
    refused(
        &["device", "--port", p(&liar.path), "pull", p(&out)],
        &["4294967295", "double-convnet"],
    );
    assert!(!out.exists(), "a refused pull left {}", out.display());
}

/// Case 1: model files are regular files no larger than the largest model.
#[test]
fn model_files_are_read_within_bounds() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.bin");
    refused(
        &["eval", "--model", "/dev/zero"],
        &["/dev/zero", "not a regular file"],
    );
    refused(
        &["export", "--model", "/dev/zero", "--out", p(&out)],
        &["not a regular file"],
    );
    let fifo = d.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    refused(&["eval", "--model", p(&fifo)], &["not a regular file"]);
    refused(
        &["emulate", "--no-qemu", "push", p(&fifo)],
        &["not a regular file"],
    );
    let huge = d.path().join("huge.safetensors");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(20 << 30)
        .unwrap();
    refused(
        &["eval", "--model", p(&huge)],
        &["21474836480 bytes", "larger than"],
    );
    assert!(!out.exists());
}

/// Case 3: a gzip bomb is read up to the size its IDX header declares, not further.
#[test]
fn gzip_bomb_stops_at_the_declared_size() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(data_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    // 10,000 images as declared, then 3 GiB more of zeros: 48 more gzip members of 64 MiB.
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let mut first = vec![0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28];
    first.resize(16 + 10_000 * 784, 0);
    let mut bomb = gz(&first);
    let zeros = gz(&vec![0u8; 64 << 20]);
    for _ in 0..48 {
        bomb.extend_from_slice(&zeros);
    }
    assert!(
        bomb.len() < 8 << 20,
        "the bomb itself is small: {}",
        bomb.len()
    );
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), bomb).unwrap();
    refused(
        &[
            "train",
            "--data",
            p(&dir),
            "-n",
            "1",
            "--out",
            p(&d.path().join("o")),
        ],
        &[
            "train-images-idx3-ubyte.gz",
            "more than the 7840016 bytes its header declares",
        ],
    );
}

/// Case 4 and 5: rates that cannot train are refused; steps the device rolls back are
/// counted, not reported as learned.
#[test]
fn learning_reports_what_the_device_did() {
    refused(
        &[
            "emulate",
            "--no-qemu",
            "learn",
            "--optimizer",
            "adam",
            "--lr",
            "3e38",
            "--count",
            "20",
        ],
        &["--lr", "(0, 1]", "3e38"],
    );
    refused(
        &[
            "train",
            "--optimizer",
            "sgd",
            "--lr",
            "100",
            "--out",
            "/nonexistent/o",
        ],
        &["--lr", "(0, 10]"],
    );

    let stuck = device(honest(), |r| match r {
        Request::Learn { .. } => answer(Response::Error {
            code: ErrorCode::RolledBack,
            detail: 0,
        }),
        _ => answer(Response::Ok),
    });
    refused(
        &["device", "--port", p(&stuck.path), "learn", "--count", "20"],
        &["rolled back all 20"],
    );

    let mut k = 0u32;
    let half = device(honest(), move |r| match r {
        Request::Learn { label, .. } => {
            k += 1;
            answer(if k.is_multiple_of(2) {
                Response::Error {
                    code: ErrorCode::RolledBack,
                    detail: 0,
                }
            } else {
                Response::Learned {
                    loss: 1.0,
                    predicted_before: *label,
                    samples_seen: k.div_ceil(2),
                    count: 0,
                }
            })
        }
        _ => answer(Response::Ok),
    });
    let out = ok(&["device", "--port", p(&half.path), "learn", "--count", "20"]);
    assert!(
        out.contains("learned 10 of 20 samples (10 rolled back"),
        "{out}"
    );
    assert!(out.contains("prequential accuracy 1.0000"), "{out}");

    let liar = device(honest(), |r| match r {
        Request::Learn { .. } => answer(Response::Learned {
            loss: 1.0,
            predicted_before: 200,
            samples_seen: 1,
            count: 0,
        }),
        _ => answer(Response::Ok),
    });
    refused(
        &["device", "--port", p(&liar.path), "learn", "--count", "2"],
        &["class 200"],
    );
}

/// Case 6: a request past the data is refused, not cut short or skipped.
#[test]
fn requests_past_the_data_are_refused() {
    let e = &["emulate", "--no-qemu"];
    let run = |rest: &[&str], needles: &[&str]| {
        let args: Vec<&str> = e.iter().chain(rest).copied().collect();
        refused(&args, needles)
    };
    run(
        &["infer", "--index", "99999"],
        &["--index 99999", "10000 images"],
    );
    run(
        &["infer", "--index", "9999", "--count", "5"],
        &["--count 5", "at most 1"],
    );
    run(&["infer", "--count", "0"], &["--count must be at least 1"]);
    run(&["learn", "--count", "0"], &["--count must be at least 1"]);
    run(
        &["learn", "--offset", "1000000000"],
        &["--offset 1000000000"],
    );
    run(&["eval", "--count", "10001"], &["--count 10001"]);
}

/// A model file with `edit` applied to its metadata and tensors.
fn edited(from: &Path, to: &Path, edit: impl FnOnce(&mut safetensors::File)) {
    let mut f = safetensors::parse(&std::fs::read(from).unwrap()).unwrap();
    edit(&mut f);
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = f
        .tensors
        .iter()
        .map(|(n, (shape, v))| {
            (
                n.clone(),
                shape.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    std::fs::write(to, safetensors::encode(&tensors, &f.meta).unwrap()).unwrap();
}

/// Case 7: a model's metadata and state are checked on every path that loads it; training
/// flags that would start a run without end are refused.
#[test]
fn model_metadata_and_state_are_checked_on_every_load() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    ok(&[
        "train",
        "--preset",
        "mlp",
        "--batch-norm",
        "-n",
        "5",
        "--test-size",
        "100",
        "--eval-train-samples",
        "100",
        "--out",
        p(&run),
        "-q",
    ]);
    let model = run.join("model.safetensors");
    let out = d.path().join("exported.bin");
    let bad = d.path().join("bad.safetensors");
    let set = |k: &'static str, v: &'static str| {
        move |f: &mut safetensors::File| {
            f.meta.insert(k.into(), v.into());
        }
    };
    for v in ["7", "inf", "1", "1.5", "NaN", "-3", "lots"] {
        edited(&model, &bad, set("dropout", v));
        refused(&["eval", "--model", p(&bad)], &["dropout", v]);
        refused(
            &["export", "--model", p(&bad), "--out", p(&out)],
            &["dropout"],
        );
    }
    edited(&model, &bad, set("batch_norm", "maybe"));
    refused(&["eval", "--model", p(&bad)], &["batch_norm", "maybe"]);
    // the same model without its batch-norm tensors: the bad value is still refused
    edited(&model, &bad, |f| {
        f.tensors.retain(|n, _| !n.contains(".batchnorm."));
        f.meta.insert("batch_norm".into(), "maybe".into());
    });
    refused(&["eval", "--model", p(&bad)], &["batch_norm", "maybe"]);
    edited(&model, &bad, set("activation", "bogus"));
    refused(&["eval", "--model", p(&bad)], &["activation", "bogus"]);
    refused(
        &["export", "--model", p(&bad), "--out", p(&out)],
        &["bogus"],
    );
    assert!(!out.exists(), "a refused export left {}", out.display());
    edited(&model, &bad, |f| {
        let (_, v) = f
            .tensors
            .iter_mut()
            .find(|(n, _)| n.ends_with("running_var"))
            .expect("a batch-norm model");
        v.1[3] = -0.5;
    });
    refused(&["eval", "--model", p(&bad)], &["running_var", "negative"]);
    // The blob of that model carries the same state: refused the same way.
    let blob = d.path().join("neg.bin");
    ok(&["export", "--model", p(&model), "--out", p(&blob)]);
    let mut b = std::fs::read(&blob).unwrap();
    // Tensors sit in the blob in the order the model lists them.
    let floats_before: usize = Preset::Mlp
        .tensors()
        .iter()
        .take_while(|(n, _)| !n.ends_with("running_var"))
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    let at = shinso::model::HEADER + 4 * floats_before;
    b[at..at + 4].copy_from_slice(&(-0.5f32).to_le_bytes());
    let crc = shinso::model::crc32(&b[24..]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&blob, &b).unwrap();
    refused(
        &[
            "export",
            "--model",
            p(&blob),
            "--out",
            p(&d.path().join("n.safetensors")),
        ],
        &["negative"],
    );

    refused(
        &["train", "--epochs", "1e12", "--out", p(&run)],
        &["--epochs"],
    );
    refused(
        &[
            "train",
            "--iterations",
            "18446744073709551615",
            "--out",
            p(&run),
        ],
        &["--iterations", "at most"],
    );
    refused(
        &["demo", "--no-qemu", "--epochs", "18446744073709551615"],
        &["--epochs"],
    );
}

/// Case 8 and 9: a damaged device blob is refused for what is wrong with it.
#[test]
fn damaged_blobs_are_refused_for_the_real_reason() {
    let d = tempfile::tempdir().unwrap();
    let good = double_convnet_blob();
    let file = d.path().join("double.bin");
    let with_crc = |mut b: Vec<u8>| {
        let crc = shinso::model::crc32(&b[24..]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    };
    let mut corrupt = good.clone();
    corrupt[1000] ^= 0x40;
    let mut nan = good.clone();
    nan[1000..1004].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut count = good.clone();
    count[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    for (blob, needle) in [
        (corrupt, "corrupt"),
        (with_crc(nan), "NaN"),
        (good[..good.len() - 100].to_vec(), "bytes"),
        (count, "declares 4294967295 floats"),
    ] {
        std::fs::write(&file, &blob).unwrap();
        let line = refused(&["emulate", "--no-qemu", "push", p(&file)], &[needle]);
        assert!(!line.contains("another network"), "{line}");
        refused(
            &[
                "export",
                "--model",
                p(&file),
                "--out",
                p(&d.path().join("x.safetensors")),
            ],
            &[needle],
        );
    }
}

/// Case 10: a port that closes mid-request is reported at once as a hang-up; QEMU's own
/// complaint is shown when it cannot run the ELF.
#[test]
fn hang_ups_are_reported_as_such() {
    let gone = device(honest(), |r| match r {
        Request::Infer { .. } => Script::HangUp,
        _ => answer(Response::Ok),
    });
    let line = refused(&["device", "--port", p(&gone.path), "infer"], &["hung up"]);
    assert!(!line.contains("did not answer"), "{line}");

    let have_qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_qemu {
        eprintln!("qemu-system-arm not found: the broken-ELF check is skipped");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let elf = d.path().join("broken.elf");
    std::fs::write(&elf, [0x5au8; 4096]).unwrap();
    let o = bounded(&["emulate", "--elf", p(&elf), "info"], None);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: QEMU exited"), "{err}");
    assert!(!err.contains("Input/output error"), "{err}");
}
