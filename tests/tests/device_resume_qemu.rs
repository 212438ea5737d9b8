//! A learner resuming across resets under QEMU. QEMU 7.2's netduinoplus2 cannot persist
//! anything (its flash is a ROM, the flash controller unimplemented), so the checkpoint is made
//! on the host by the same code (the app, its learner, its checkpoint store, over a flash in
//! RAM) and put in slot 0 at start-up with `-device loader`, which QEMU keeps across a system
//! reset. The firmware must boot from it, and boot from it again after `system_reset` (through
//! QEMU's QMP socket): step count, the whole state pulled and the learner's scores on test
//! images equal the host's, so its accuracy is intact. What the device learns after a boot is
//! lost at the next reset here, and a save says why; on a board it would be saved.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target, like `device_qemu.rs`.

mod common;

use common::{bundled, pixels};
use shinso_app::checkpoint::Store;
use shinso_app::{App, Models, ARENA_FLOATS};
use shinso_host::data::Dataset;
use shinso_link::{build_firmware, HostPlatform, Link, Qemu, RamFlash};
use shinso_proto::{CheckpointStatus, ErrorCode, Request, Response, CHUNK};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
/// Samples the host's learner takes before its checkpoint.
const LEARNED: usize = 300;
/// Test images whose scores are compared.
const TESTS: usize = 100;

/// What the device and the host each say of the learner.
#[derive(Debug, PartialEq)]
struct Learner {
    status: (u32, Option<u32>, Option<u32>),
    state: Vec<u8>,
    scores: Vec<[u32; 10]>,
    correct: usize,
}

/// Any request answered by the app (in-process) or the firmware (over the link).
trait Ask {
    fn ask(&mut self, req: Request) -> Response;
}

impl Ask for App<'_> {
    fn ask(&mut self, req: Request) -> Response {
        self.handle(req, &HostPlatform)
    }
}

impl Ask for Link {
    fn ask(&mut self, req: Request) -> Response {
        self.request(&req, T).unwrap()
    }
}

fn status(d: &mut dyn Ask) -> CheckpointStatus {
    match d.ask(Request::CheckpointStatus) {
        Response::Checkpoints(c) => c,
        r => panic!("{r:?}"),
    }
}

/// The learner's step count, the checkpoint it resumed from and the newest, its whole state,
/// and its scores (bits) on the first test images.
fn learner(d: &mut dyn Ask, test: &Dataset) -> Learner {
    let st = status(d);
    let mut state = Vec::new();
    while state.len() < st.state_len as usize {
        let req = Request::PullState {
            offset: state.len() as u32,
            len: CHUNK as u16,
        };
        match d.ask(req) {
            Response::Chunk { data, .. } => state.extend_from_slice(&data),
            r => panic!("{r:?}"),
        }
    }
    let (mut scores, mut correct) = (Vec::new(), 0);
    for i in 0..TESTS {
        let req = Request::Infer {
            model: 1,
            pixels: pixels(test, i),
        };
        match d.ask(req) {
            Response::Inferred {
                class, scores: s, ..
            } => {
                correct += (class == test.labels[i]) as usize;
                scores.push(s.map(f32::to_bits));
            }
            r => panic!("{r:?}"),
        }
    }
    Learner {
        status: (st.steps, st.resumed, st.latest),
        state,
        scores,
        correct,
    }
}

/// QEMU's machine protocol: the greeting, then each command and its answer.
fn qmp(sock: &Path, command: &str) {
    let mut s = UnixStream::connect(sock).expect("QEMU's QMP socket");
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    for cmd in ["qmp_capabilities", command] {
        writeln!(s, "{{\"execute\": \"{cmd}\"}}").unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(!line.contains("\"error\""), "{cmd}: {line}");
            if line.contains("\"return\"") {
                break;
            }
        }
    }
}

#[test]
fn a_learner_resumes_from_its_checkpoint_across_resets_under_qemu() {
    let (train, test) = bundled();
    // The host: the app's learner learns, saves into a flash in RAM, and is measured.
    let mut models = Box::new(Models::ZERO);
    let mut arena = vec![0.0; ARENA_FLOATS];
    let mut store = Store::open(RamFlash::new());
    let want = {
        let mut app = models.app(&mut arena);
        app.keep_checkpoints(&mut store);
        for i in 0..LEARNED {
            let req = Request::Learn {
                pixels: pixels(&train, i),
                label: train.labels[i],
            };
            assert!(matches!(app.ask(req), Response::Learned { .. }));
        }
        assert!(matches!(
            app.ask(Request::SaveCheckpoint),
            Response::Checkpoints(_)
        ));
        learner(&mut app, &test)
    };
    assert_eq!(want.status, (LEARNED as u32, None, Some(1)));
    let image = std::env::temp_dir().join(format!("shinso-slot0-{}.bin", std::process::id()));
    std::fs::write(&image, store.into_flash().image(0)).unwrap();

    let elf = build_firmware().unwrap_or_else(|e| panic!("{e}"));
    let sock = std::env::temp_dir().join(format!("shinso-qmp-{}.sock", std::process::id()));
    let loader = format!("loader,file={},addr=0x080C0000", image.display());
    let qmp_arg = format!("unix:{},server=on,wait=off", sock.display());
    let qemu = Qemu::boot_with(&elf, &["-device", &loader, "-qmp", &qmp_arg])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut link = Link::open(&qemu.pty).expect("QEMU's pty");
    let resumed = Learner {
        status: (LEARNED as u32, Some(1), Some(1)),
        ..want
    };
    for boot in [
        "first boot",
        "after system_reset",
        "after a second system_reset",
    ] {
        link.connect(T).unwrap_or_else(|e| panic!("{boot}: {e:?}"));
        let got = learner(&mut link, &test);
        assert_eq!(got.status, resumed.status, "{boot}");
        assert!(got.state == resumed.state, "{boot}: the state differs");
        assert!(got.scores == resumed.scores, "{boot}: the scores differ");
        assert_eq!(got.correct, resumed.correct, "{boot}");
        eprintln!(
            "{boot}: step {}, {} of {TESTS} test images right, as on the host",
            got.status.0, got.correct
        );
        // It learns on, but cannot keep it here: the save says why, and the reset undoes it.
        let req = Request::Learn {
            pixels: pixels(&train, LEARNED),
            label: train.labels[LEARNED],
        };
        assert!(matches!(link.ask(req), Response::Learned { .. }));
        assert_eq!(
            link.ask(Request::SaveCheckpoint),
            Response::Error {
                code: ErrorCode::Flash,
                detail: 1
            }
        );
        qmp(&sock, "system_reset");
    }
    let _ = std::fs::remove_file(image);
    let _ = std::fs::remove_file(sock);
}
