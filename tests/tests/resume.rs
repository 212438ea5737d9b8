//! A real learner's checkpoints through the app: its state against the core's own network and
//! optimizer, a power cut at every word of a save followed by a reset, periodic saves, the
//! backup / restore requests, and everything a restore must refuse.
//!
//! The flash is the NOR model of `checkpoint.rs` ([`nor`]), sized as the board's sectors.

mod common;

mod nor;

use common::{bundled, pixels};
use nor::{Nor, Rom, Tear};
use shinso::{Layer, Loss, Network, Optimizer, Rule, WeightDecay};
use shinso_app::augment::shifted;
use shinso_app::checkpoint::{Checkpoints, Store};
use shinso_app::slot::state::{self, Header};
use shinso_app::{App, LearnNet, LearnerState, Models, ARENA_FLOATS};
use shinso_host::data::{pixel, Dataset};
use shinso_link::HostPlatform as P;
use shinso_proto::*;

/// The board's checkpoint sector.
const SECTOR: usize = 128 * 1024;

/// Models and an arena for one app at a time (`Models::app` starts the learner afresh).
struct Board {
    models: Box<Models>,
    arena: Vec<f32>,
}

impl Board {
    fn new() -> Self {
        Board {
            models: Box::new(Models::ZERO),
            arena: vec![0.0; ARENA_FLOATS],
        }
    }
    /// A booted app: fresh learner, then (with flash) resumed from its newest checkpoint.
    fn boot<'a>(&'a mut self, flash: Option<&'a mut dyn Checkpoints>) -> App<'a> {
        let mut app = self.models.app(&mut self.arena);
        if let Some(f) = flash {
            app.keep_checkpoints(f);
            app.resume().expect("a checkpoint this learner takes");
        }
        app
    }
}

/// The first bundled training images: real digits.
fn train() -> Dataset {
    bundled().0
}

fn learn(app: &mut App, data: &Dataset, i: usize) -> Response {
    let r = app.handle(
        Request::Learn {
            pixels: pixels(data, i),
            label: data.labels[i],
        },
        &P,
    );
    assert!(matches!(r, Response::Learned { .. }), "{r:?}");
    r
}

/// What a learning step did: its loss (bits) and prediction. (`samples_seen` counts since
/// boot, the app's statistic, not the learner's state.)
fn step(r: &Response) -> (u32, u8) {
    match r {
        Response::Learned {
            loss,
            predicted_before,
            ..
        } => (loss.to_bits(), *predicted_before),
        r => panic!("{r:?}"),
    }
}

fn ask(app: &mut App, req: Request) -> Response {
    app.handle(req, &P)
}

fn status(app: &mut App) -> CheckpointStatus {
    match ask(app, Request::CheckpointStatus) {
        Response::Checkpoints(c) => c,
        r => panic!("{r:?}"),
    }
}

/// The learner's whole state, pulled a chunk at a time.
fn pull_state(app: &mut App) -> Vec<u8> {
    let len = status(app).state_len as usize;
    let mut out = Vec::new();
    while out.len() < len {
        let req = Request::PullState {
            offset: out.len() as u32,
            len: CHUNK as u16,
        };
        match ask(app, req) {
            Response::Chunk { offset, data } if offset as usize == out.len() => {
                out.extend_from_slice(&data)
            }
            r => panic!("{r:?}"),
        }
    }
    out
}

/// Pushes `bytes` as a restore: the answer to its end (or the first refusal).
fn restore(app: &mut App, bytes: &[u8]) -> Response {
    let begin = Request::RestoreBegin {
        len: bytes.len() as u32,
        crc: shinso::model::crc32(bytes),
    };
    match ask(app, begin) {
        Response::Ok => {}
        r => return r,
    }
    for (k, c) in bytes.chunks(CHUNK).enumerate() {
        let chunk = Request::PushChunk {
            offset: (k * CHUNK) as u32,
            data: heapless::Vec::from_slice(c).unwrap(),
        };
        assert_eq!(ask(app, chunk), Response::Ok);
    }
    ask(app, Request::PushEnd)
}

fn refused(r: Response, code: ErrorCode) {
    assert!(
        matches!(r, Response::Error { code: c, .. } if c == code),
        "{r:?}, expected {code:?}"
    );
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The state, read by the layout the module documents, equals the core's own network and
/// Adam after the same five steps (each on its image moved as the learner moves it):
/// weights, both moments, step count, rule.
#[test]
fn the_state_is_the_cores_network_and_optimizer_in_the_documented_layout() {
    let data = train();
    let mut board = Board::new();
    let mut app = board.boot(None);
    let mut net = Network::<LearnNet>::boxed();
    net.configure(&Default::default());
    net.init(shinso::Init::He, 42);
    let rule = Rule::adam(0.001);
    let mut opt = Optimizer::new(rule, LearnNet::PARAMS, vec![0.0; 2 * LearnNet::PARAMS]).unwrap();
    let mut arena = vec![0.0; Network::<LearnNet>::train_arena(1)];
    for i in 0..5 {
        learn(&mut app, &data, i);
        // The learner's step `i` since boot learns from the image moved by that step's move.
        let moved = shifted(&pixels(&data, i).0, i as u32);
        let x: Vec<f32> = moved.iter().map(|&p| pixel(p)).collect();
        let mut y = [0.0f32; CLASSES];
        y[data.labels[i] as usize] = 1.0;
        let x: &[<LearnNet as Layer>::In] = bytemuck::cast_slice(&x);
        let y: &[<LearnNet as Layer>::Out] = bytemuck::cast_slice(&y);
        net.train_step(
            x,
            y,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
            &mut arena,
        )
        .unwrap();
    }
    let s = pull_state(&mut app);
    let u32_at = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap());
    let (n, m) = (LearnNet::PARAMS + LearnNet::STATE, 2 * LearnNet::PARAMS);
    assert_eq!(&s[0..4], b"SHLS");
    assert_eq!(u32_at(4), 2, "version");
    assert_eq!(
        u64::from_le_bytes(s[8..16].try_into().unwrap()),
        LearnNet::SIGNATURE
    );
    assert_eq!(u32_at(16), 4, "Adam");
    assert_eq!(f32s(&s[20..36]), [0.001, 0.9, 0.999, 1e-7]);
    assert_eq!(u32_at(36), 5, "steps");
    assert_eq!((u32_at(40) as usize, u32_at(44) as usize), (n, m));
    assert_eq!(f32s(&s[48..52]), [0.001], "the schedule's first rate");
    assert_eq!(
        (u32_at(52), u32_at(56)),
        (0, 5),
        "a constant rate, 5 steps counted"
    );
    assert_eq!(s.len(), 60 + 4 * (n + m));
    let mut blob = vec![0u8; shinso::model::blob_len::<LearnNet>()];
    net.save(&mut blob).unwrap();
    assert_eq!(
        &s[60..60 + 4 * n],
        &blob[shinso::model::HEADER..],
        "weights"
    );
    let moments: Vec<u8> = opt.state().iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(&s[60 + 4 * n..], &moments[..], "Adam's moments");
    assert_eq!(opt.steps(), 5);
}

/// What a run records at each point: the state, and what the next sample does to it.
struct Twin {
    state: Vec<u8>,
    next: Response,
    after_next: Vec<u8>,
}

/// A learner saves twice (after 3 and 5 steps, through the app), learns 2 more steps, then
/// saves a third time with the power cut after each word in turn (half-programmed). After the
/// reset it must hold exactly the second checkpoint, or the third once its commit word is in;
/// and its next learning step equals the next step of a twin that never reset (checked at a
/// spread of cuts, as each takes a learning step; the state is compared at every cut).
#[test]
fn a_power_cut_at_every_word_of_a_learners_save_resumes_the_last_completed_checkpoint() {
    let data = train();
    let mut twin = Board::new();
    let mut store = Store::open(Nor::new(SECTOR));
    let (second, third) = {
        let mut app = twin.boot(Some(&mut store));
        let record = |app: &mut App, next: usize| {
            let state = pull_state(app);
            let r = learn(app, &data, next);
            let after_next = pull_state(app);
            Twin {
                state,
                next: r,
                after_next,
            }
        };
        for i in 0..3 {
            learn(&mut app, &data, i);
        }
        let saved = ask(&mut app, Request::SaveCheckpoint);
        assert!(
            matches!(saved, Response::Checkpoints(c) if c.latest == Some(1)),
            "{saved:?}"
        );
        learn(&mut app, &data, 3);
        learn(&mut app, &data, 4);
        let saved = ask(&mut app, Request::SaveCheckpoint);
        assert!(
            matches!(saved, Response::Checkpoints(c) if c.latest == Some(2)),
            "{saved:?}"
        );
        let second = record(&mut app, 5);
        learn(&mut app, &data, 6);
        let third = record(&mut app, 7);
        (second, third)
    };
    let before = store.into_flash();

    // The learner that saves: booted from the second checkpoint, it learns samples 5 and 6
    // and is then where the twin was before sample 7.
    let mut saver = Board::new();
    let mut store = Store::open(before.clone());
    {
        let mut app = saver.boot(Some(&mut store));
        learn(&mut app, &data, 5);
        learn(&mut app, &data, 6);
        assert!(pull_state(&mut app) == third.state);
    }
    let ops0 = before.ops;
    store
        .save(&mut LearnerState(&mut saver.models.learn))
        .unwrap();
    let total = store.into_flash().ops - ops0;
    assert_eq!(
        total,
        1 + (5 * 4 + third.state.len()) / 4,
        "an erase, then every word"
    );

    let mut after = Board::new();
    let next_step_at = [0, 1, 2, total / 3, total / 2, total - 2, total - 1, total];
    for k in 0..=total {
        let mut nor = before.clone();
        nor.cut_after(k, Tear::Partial);
        let mut store = Store::open(nor);
        let saved = store.save(&mut LearnerState(&mut saver.models.learn));
        assert_eq!(saved.is_ok(), k == total, "cut after {k} of {total}");
        let mut store = Store::open(store.into_flash().reboot());
        let (seq, twin, next) = if k == total {
            (3, &third, 7)
        } else {
            (2, &second, 5)
        };
        let mut app = after.boot(Some(&mut store));
        assert_eq!(status(&mut app).resumed, Some(seq), "cut after {k}");
        assert!(
            pull_state(&mut app) == twin.state,
            "cut after {k}: not the last completed checkpoint"
        );
        if next_step_at.contains(&k) {
            assert_eq!(
                step(&learn(&mut app, &data, next)),
                step(&twin.next),
                "cut after {k}"
            );
            assert!(pull_state(&mut app) == twin.after_next, "cut after {k}");
        }
    }
}

/// Every N steps (the learner's step count), and not in between.
#[test]
fn the_learner_saves_every_n_steps() {
    let data = train();
    let mut board = Board::new();
    let mut store = Store::open(Nor::new(SECTOR));
    {
        let mut app = board.boot(Some(&mut store));
        let every = Request::CheckpointEvery { steps: 3 };
        assert_eq!(ask(&mut app, every), Response::Ok);
        for i in 0..7 {
            learn(&mut app, &data, i);
        }
        let st = status(&mut app);
        assert_eq!(
            (st.steps, st.every, st.latest, st.failed),
            (7, 3, Some(2), 0)
        );
    }
    let mut app = board.boot(Some(&mut store));
    let st = status(&mut app);
    assert_eq!(st.steps, 6, "resumed from the save after step 6");
    assert_eq!(st.every, 0, "the setting starts at never after a reset");
}

/// Without flash, or with one that keeps nothing: each refusal says why, a failed periodic
/// save is counted and the step it followed stands.
#[test]
fn failed_saves_say_why_and_change_nothing() {
    let data = train();
    let mut board = Board::new();
    let mut app = board.boot(None);
    refused(ask(&mut app, Request::SaveCheckpoint), ErrorCode::NoFlash);
    let every = Request::CheckpointEvery { steps: 1 };
    refused(ask(&mut app, every), ErrorCode::NoFlash);
    let begin = Request::RestoreBegin { len: 100, crc: 0 };
    refused(ask(&mut app, begin), ErrorCode::NoFlash);
    drop(app);

    let mut rom = Store::open(Rom);
    let mut app = board.boot(Some(&mut rom));
    learn(&mut app, &data, 0);
    let before = pull_state(&mut app);
    let rom_says = Response::Error {
        code: ErrorCode::Flash,
        detail: 1,
    };
    assert_eq!(ask(&mut app, Request::SaveCheckpoint), rom_says);
    // A restore is staged in flash: refused at its begin, the learner untouched.
    let begin = Request::RestoreBegin {
        len: before.len() as u32,
        crc: shinso::model::crc32(&before),
    };
    assert_eq!(ask(&mut app, begin), rom_says);
    assert!(pull_state(&mut app) == before);
    let every = Request::CheckpointEvery { steps: 1 };
    assert_eq!(ask(&mut app, every), Response::Ok);
    learn(&mut app, &data, 1);
    let st = status(&mut app);
    assert_eq!((st.latest, st.failed, st.steps), (None, 2, 2));
    assert!(pull_state(&mut app) != before, "the step stood");
}

/// Backup from one device, restore into another: bit for bit, and both learn on alike.
#[test]
fn a_restored_state_is_the_pulled_one_and_learns_on_alike() {
    let data = train();
    let (mut a, mut b) = (Board::new(), Board::new());
    let mut one = a.boot(None);
    let rmsprop = Request::Configure {
        optimizer: shinso::optim::Kind::RmsProp,
        lr: 0.001,
    };
    assert_eq!(ask(&mut one, rmsprop), Response::Ok);
    for i in 0..4 {
        learn(&mut one, &data, i);
    }
    let backup = pull_state(&mut one);
    let mut flash = Store::open(Nor::new(SECTOR));
    let mut two = b.boot(Some(&mut flash));
    assert_eq!(restore(&mut two, &backup), Response::Ok);
    assert!(pull_state(&mut two) == backup);
    assert_eq!(
        status(&mut two).latest,
        Some(1),
        "staged as the next checkpoint"
    );
    assert_eq!(
        step(&learn(&mut two, &data, 4)),
        step(&learn(&mut one, &data, 4))
    );
    assert!(pull_state(&mut two) == pull_state(&mut one));
}

/// The rate's schedule is part of the state: a learner restored part-way through a decaying
/// schedule goes on at the rate the schedule gives at its step, not at the restored rule's
/// rate for ever, so its next steps equal those of the learner it was pulled from.
#[test]
fn a_restored_learner_goes_on_with_its_schedule() {
    let data = train();
    let (mut a, mut b) = (Board::new(), Board::new());
    let mut one = a.boot(None);
    let schedule = Request::Schedule {
        model: 1,
        lr: 0.003,
        decay_steps: 8,
    };
    assert_eq!(ask(&mut one, schedule), Response::Ok);
    for i in 0..3 {
        learn(&mut one, &data, i);
    }
    let backup = pull_state(&mut one);
    let u32_at = |i: usize| u32::from_le_bytes(backup[i..i + 4].try_into().unwrap());
    assert_eq!(f32s(&backup[48..52]), [0.003]);
    assert_eq!(
        (u32_at(52), u32_at(56)),
        (8, 3),
        "decaying over 8, 3 steps in"
    );
    let mut flash = Store::open(Nor::new(SECTOR));
    let mut two = b.boot(Some(&mut flash));
    assert_eq!(restore(&mut two, &backup), Response::Ok);
    for i in 3..10 {
        assert_eq!(
            step(&learn(&mut two, &data, i)),
            step(&learn(&mut one, &data, i))
        );
        assert!(
            pull_state(&mut two) == pull_state(&mut one),
            "after step {i}"
        );
    }
}

/// Each of these is refused whole: the learner is what it was, and no checkpoint is added.
#[test]
fn a_bad_restore_changes_nothing() {
    let data = train();
    let mut board = Board::new();
    let mut flash = Store::open(Nor::new(SECTOR));
    let mut app = board.boot(Some(&mut flash));
    for i in 0..2 {
        learn(&mut app, &data, i);
    }
    let saved = ask(&mut app, Request::SaveCheckpoint);
    assert!(matches!(saved, Response::Checkpoints(_)), "{saved:?}");
    let good = pull_state(&mut app);
    let (n, h) = (LearnNet::PARAMS + LearnNet::STATE, state::HEADER);
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut s = good.clone();
        f(&mut s);
        s
    };
    let nan = f32::NAN.to_le_bytes();
    let huge_lr = 3e38f32.to_le_bytes();
    let stray = [0, 0, 0, 0, 0, 0, 0x80, 0x3f];
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("bad magic", edit(&|s| s[0] = b'X'), ErrorCode::BadSignature),
        (
            "another version",
            edit(&|s| s[4] = 1),
            ErrorCode::BadSignature,
        ),
        (
            "another network",
            edit(&|s| s[8] ^= 1),
            ErrorCode::BadSignature,
        ),
        ("unknown rule", edit(&|s| s[16] = 9), ErrorCode::BadValue),
        (
            "an lr that cannot train",
            edit(&|s| s[20..24].copy_from_slice(&huge_lr)),
            ErrorCode::BadValue,
        ),
        (
            "a schedule that cannot train",
            edit(&|s| s[48..52].copy_from_slice(&huge_lr)),
            ErrorCode::BadValue,
        ),
        (
            "SGD with a stray word",
            edit(&|s| s[16..24].copy_from_slice(&stray)),
            ErrorCode::BadValue,
        ),
        (
            "truncated",
            good[..good.len() - 4].to_vec(),
            ErrorCode::BadLength,
        ),
        (
            "a float too many",
            edit(&|s| s.extend([0; 4])),
            ErrorCode::BadLength,
        ),
        (
            "other network floats",
            edit(&|s| s[40] ^= 1),
            ErrorCode::BadLength,
        ),
        (
            "other optimizer floats",
            edit(&|s| s[44] ^= 1),
            ErrorCode::BadLength,
        ),
        (
            "shorter than a header",
            good[..h - 1].to_vec(),
            ErrorCode::BadLength,
        ),
        (
            "a NaN weight",
            edit(&|s| s[h + 8..h + 12].copy_from_slice(&nan)),
            ErrorCode::NonFinite,
        ),
        (
            "a NaN moment",
            edit(&|s| s[h + 4 * n + 4..h + 4 * n + 8].copy_from_slice(&nan)),
            ErrorCode::NonFinite,
        ),
        (
            "an infinite last moment",
            edit(&|s| {
                let l = s.len();
                s[l - 4..].copy_from_slice(&f32::INFINITY.to_le_bytes())
            }),
            ErrorCode::NonFinite,
        ),
    ];
    for (what, bytes, code) in cases {
        let r = restore(&mut app, &bytes);
        assert!(
            matches!(r, Response::Error { code: c, .. } if c == code),
            "{what}: {r:?}, expected {code:?}"
        );
        assert!(pull_state(&mut app) == good, "{what} changed the learner");
        assert_eq!(
            status(&mut app).latest,
            Some(1),
            "{what} became a checkpoint"
        );
    }
    // The push's CRC is checked before the state is even looked at.
    let begin = Request::RestoreBegin {
        len: good.len() as u32,
        crc: shinso::model::crc32(&good) ^ 1,
    };
    assert_eq!(ask(&mut app, begin), Response::Ok);
    for (k, c) in good.chunks(CHUNK).enumerate() {
        let chunk = Request::PushChunk {
            offset: (k * CHUNK) as u32,
            data: heapless::Vec::from_slice(c).unwrap(),
        };
        assert_eq!(ask(&mut app, chunk), Response::Ok);
    }
    refused(ask(&mut app, Request::PushEnd), ErrorCode::BadBlobCrc);
    // Longer than a flash slot: refused at the begin.
    let huge = Request::RestoreBegin {
        len: u32::MAX,
        crc: 0,
    };
    refused(ask(&mut app, huge), ErrorCode::OutOfMemory);
    // Cut short: never committed.
    let begin = Request::RestoreBegin {
        len: good.len() as u32,
        crc: shinso::model::crc32(&good),
    };
    assert_eq!(ask(&mut app, begin), Response::Ok);
    let first = Request::PushChunk {
        offset: 0,
        data: heapless::Vec::from_slice(&good[..CHUNK]).unwrap(),
    };
    assert_eq!(ask(&mut app, first), Response::Ok);
    refused(ask(&mut app, Request::PushEnd), ErrorCode::BadLength);
    assert!(pull_state(&mut app) == good);
    assert_eq!(status(&mut app).latest, Some(1));
    // Pulls past the end, or longer than a chunk.
    let past = Request::PullState {
        offset: good.len() as u32 + 1,
        len: 4,
    };
    refused(ask(&mut app, past), ErrorCode::BadOffset);
    let long = Request::PullState {
        offset: 0,
        len: CHUNK as u16 + 1,
    };
    refused(ask(&mut app, long), ErrorCode::BadLength);
}

/// A checkpoint whose state this learner refuses (another network's, say, after a firmware
/// change): the boot says so and the learner starts afresh.
#[test]
fn a_checkpoint_for_another_network_is_refused_at_boot() {
    let mut board = Board::new();
    let fresh = pull_state(&mut board.boot(None));
    let mut other = fresh.clone();
    other[8] ^= 0xFF;
    let mut store = Store::open(Nor::new(SECTOR));
    store.save(&mut &other[..]).unwrap();
    let mut app = board.models.app(&mut board.arena);
    app.keep_checkpoints(&mut store);
    assert_eq!(app.resume(), Err(ErrorCode::BadSignature));
    assert!(pull_state(&mut app) == fresh);
    let h = Header::parse(&fresh, LearnNet::PARAMS).unwrap();
    assert_eq!((h.steps, h.rule), (0, Rule::adam(0.001)));
}
