//! `shinso device checkpoint` / `restore` / `save` through the CLI against the pty emulation of
//! the device: a learner's whole state goes out to a file and back into another device bit
//! for bit, the file is a model `shinso eval` reads, and a file that is not a learner's is
//! refused before anything changes. The state is read raw over the protocol, independently of
//! the host's code.

mod common;

use common::{bundled, pixels};
use shinso_host::cmd::run;
use shinso_host::data::Dataset;
use shinso_link::{emulate_on_pty, Emulator, Link};
use shinso_proto::{CheckpointStatus, Request, Response, CHUNK};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn shinso(args: &[&str]) -> anyhow::Result<()> {
    run(std::iter::once("shinso").chain(args.iter().copied()))
}

/// `shinso device --port <the emulator> <args>`.
fn device(emu: &Emulator, args: &[&str]) -> anyhow::Result<()> {
    let port = emu.path.to_str().unwrap();
    shinso(&[&["device", "--port", port], args].concat())
}

/// A link to the emulator for raw requests (closed again before the CLI opens the port).
fn link(emu: &Emulator) -> Link {
    let mut l = Link::open(&emu.path).unwrap();
    l.connect(T).unwrap();
    l
}

fn status(l: &mut Link) -> CheckpointStatus {
    match l.request(&Request::CheckpointStatus, T).unwrap() {
        Response::Checkpoints(c) => c,
        r => panic!("{r:?}"),
    }
}

/// The learner's whole state, by raw `PullState` requests.
fn state(emu: &Emulator) -> Vec<u8> {
    let mut l = link(emu);
    let len = status(&mut l).state_len as usize;
    let mut out = Vec::new();
    while out.len() < len {
        let req = Request::PullState {
            offset: out.len() as u32,
            len: CHUNK as u16,
        };
        match l.request(&req, T).unwrap() {
            Response::Chunk { data, .. } => out.extend_from_slice(&data),
            r => panic!("{r:?}"),
        }
    }
    out
}

/// One learning step on training image `i`: its loss (bits) and prediction.
fn learn(emu: &Emulator, data: &Dataset, i: usize) -> (u32, u8) {
    let req = Request::Learn {
        pixels: pixels(data, i),
        label: data.labels[i],
    };
    match link(emu).request(&req, T).unwrap() {
        Response::Learned {
            loss,
            predicted_before,
            ..
        } => (loss.to_bits(), predicted_before),
        r => panic!("{r:?}"),
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("shinso-{name}-{}.safetensors", std::process::id()))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_backup_restores_bit_for_bit_and_loads_as_a_model() {
    let data = bundled().0;
    let (a, b) = (emulate_on_pty().unwrap(), emulate_on_pty().unwrap());
    // Device A learns 25 steps with Momentum: weights, velocities and step count all move.
    let momentum = Request::Configure {
        optimizer: shinso::optim::Kind::Momentum,
        lr: 0.01,
    };
    assert_eq!(link(&a).request(&momentum, T).unwrap(), Response::Ok);
    for i in 0..25 {
        learn(&a, &data, i);
    }
    let original = state(&a);
    let (file, again) = (temp("backup"), temp("backup-again"));
    device(&a, &["checkpoint", "--out", path(&file)]).unwrap();

    // Another device takes it back: its state is A's, bit for bit, and so is a second backup.
    assert_ne!(state(&b), original);
    device(&b, &["restore", path(&file)]).unwrap();
    assert!(state(&b) == original, "the restored state differs");
    device(&b, &["checkpoint", "--out", path(&again)]).unwrap();
    assert!(std::fs::read(&file).unwrap() == std::fs::read(&again).unwrap());
    // Both go on alike.
    assert_eq!(learn(&a, &data, 25), learn(&b, &data, 25));
    assert!(state(&a) == state(&b));

    // The file is a model like any other.
    let out = std::env::temp_dir().join(format!("shinso-backup-eval-{}", std::process::id()));
    shinso(&[
        "eval",
        "--model",
        path(&file),
        "--limit",
        "50",
        "--out",
        path(&out),
    ])
    .unwrap();
    for f in [&file, &again] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_file_that_is_not_a_learners_state_changes_nothing() {
    let data = bundled().0;
    let emu = emulate_on_pty().unwrap();
    for i in 0..3 {
        learn(&emu, &data, i);
    }
    let before = state(&emu);
    // The learner's weights alone (a model file, no optimizer state or step count).
    let blob = temp("weights-only");
    device(&emu, &["pull", path(&blob), "--model-id", "1"]).unwrap();
    let e = device(&emu, &["restore", path(&blob)]).unwrap_err();
    assert!(
        format!("{e:#}").contains("not a learner checkpoint"),
        "{e:#}"
    );
    // A backup whose rule cannot train.
    let file = temp("bad-rule");
    device(&emu, &["checkpoint", "--out", path(&file)]).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"\"0.001 ")
        .expect("Adam's rate in the metadata");
    let mut bad = bytes.clone();
    bad[at + 1..at + 6].copy_from_slice(b"90e36");
    std::fs::write(&file, &bad).unwrap();
    let e = device(&emu, &["restore", path(&file)]).unwrap_err();
    assert!(format!("{e:#}").contains("refused"), "{e:#}");
    assert!(state(&emu) == before);
    let mut l = link(&emu);
    assert_eq!(status(&mut l).latest, None, "nothing reached the flash");
    for f in [&blob, &file] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn save_writes_the_flash_and_sets_when_it_saves() {
    let data = bundled().0;
    let emu = emulate_on_pty().unwrap();
    device(&emu, &["save", "--every", "2"]).unwrap();
    for i in 0..5 {
        learn(&emu, &data, i);
    }
    let st = status(&mut link(&emu));
    assert_eq!((st.every, st.latest, st.steps), (2, Some(2), 5));
    device(&emu, &["save"]).unwrap();
    assert_eq!(status(&mut link(&emu)).latest, Some(3));
}
