//! The application logic on the host, request by request and byte by byte, checked against
//! the core's own networks.

use shinso::model::crc32;
use shinso::{
    argmax, optim::Kind, zoo, Init, Layer, Loss, Network, Optimizer as CoreOptimizer, Rule,
    WeightDecay,
};
use shinso_app::augment::shifted;
use shinso_app::{App, Device, InferNet, LearnNet, Models, Platform, ARENA_FLOATS};
use shinso_link::{transfer, Push, TransferError};
use shinso_proto::*;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

/// A counter that advances 1000 per reading.
struct Host;
static CLOCK: AtomicU64 = AtomicU64::new(0);
impl Platform for Host {
    fn now(&self) -> u64 {
        CLOCK.fetch_add(1000, Ordering::Relaxed) + 1000
    }
    fn counter(&self) -> Counter {
        Counter::None
    }
    fn clock_hz(&self) -> u32 {
        0
    }
    fn memory(&self) -> MemoryBudget {
        MemoryBudget::default()
    }
}
const P: Host = Host;

/// Models and arena, leaked: tests are short-lived processes.
fn app() -> App<'static> {
    let models: &'static mut Models = Box::leak(Box::new(Models::ZERO));
    let scratch: &'static mut [f32] = Box::leak(vec![0.0; ARENA_FLOATS].into_boxed_slice());
    models.app(scratch)
}

fn img(seed: u32) -> Pixels {
    let mut p = [0u8; PIXELS];
    for (i, b) in p.iter_mut().enumerate() {
        let v = (i as u32)
            .wrapping_mul(2654435761u32)
            .wrapping_add(seed.wrapping_mul(0x9E3779B9))
            >> 24;
        *b = if v > 160 { v as u8 } else { 0 };
    }
    Pixels(p)
}

/// A bar across the middle (0), a bar down the middle (1), or a square's outline (2).
fn shape(c: u8) -> Pixels {
    let mut p = [0u8; PIXELS];
    for (i, b) in p.iter_mut().enumerate() {
        let (r, k) = (i / 28, i % 28);
        let on = match c {
            0 => (12..16).contains(&r) && (4..24).contains(&k),
            1 => (4..24).contains(&r) && (12..16).contains(&k),
            _ => {
                let (inner, outer) = ((9..19), (6..22));
                outer.contains(&r)
                    && outer.contains(&k)
                    && !(inner.contains(&r) && inner.contains(&k))
            }
        };
        *b = if on { 255 } else { 0 };
    }
    Pixels(p)
}

fn as_input<T: bytemuck::Pod>(p: &Pixels) -> T {
    let mut x = T::zeroed();
    let floats: &mut [f32] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut x));
    for (o, v) in floats.iter_mut().zip(p.0) {
        *o = v as f32 * (1.0 / 255.0);
    }
    x
}

/// Pushes `data` with the link's own client, `crc` announced: `Ok`, or the device's refusal.
fn push(app: &mut App, model: u8, signature: u64, payload: &[u8], crc: u32) -> Response {
    let blob = Push {
        model,
        signature,
        payload,
        crc,
    };
    match transfer::push(
        |r| Ok::<_, Infallible>(app.handle(r.clone(), &P)),
        &blob,
        |_| {},
    ) {
        Ok(()) => Response::Ok,
        Err(TransferError::Refused { code, detail, .. }) => Response::Error { code, detail },
        Err(e) => panic!("{e}"),
    }
}

/// Model `model`'s whole blob, pulled with the link's own client (its length from `Info`).
fn pull(app: &mut App, model: u8) -> Vec<u8> {
    let Response::Info(info) = app.handle(Request::Info, &P) else {
        panic!("no info")
    };
    let len = info.models[model as usize].params as usize * 4;
    transfer::pull(
        |r| Ok::<_, Infallible>(app.handle(r.clone(), &P)),
        model,
        len,
        |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn floats(blob: &[u8]) -> Vec<f32> {
    blob.chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn learn(app: &mut App, pixels: Pixels, label: u8) -> Response {
    app.handle(Request::Learn { pixels, label }, &P)
}

fn configure(app: &mut App, optimizer: Kind, lr: f32) -> Response {
    app.handle(Request::Configure { optimizer, lr }, &P)
}

/// Asserts that `r` is an error with `code`.
#[track_caller]
fn refused(r: Response, code: ErrorCode) {
    assert!(
        matches!(r, Response::Error { code: c, .. } if c == code),
        "{r:?}, not {code:?}"
    );
}

/// Model `id`'s signature, and a blob for it with every parameter `v`.
fn filled(app: &mut App, id: usize, v: f32) -> (u64, Vec<u8>) {
    let Response::Info(info) = app.handle(Request::Info, &P) else {
        panic!("no info")
    };
    let m = &info.models[id];
    let blob = (0..m.params).flat_map(|_| v.to_le_bytes()).collect();
    (m.signature, blob)
}

/// Feeds `bytes` to the device one at a time and decodes every frame it answers with `dec`,
/// which keeps a partial frame from one call to the next.
fn exchange(dev: &mut Device, dec: &mut Decoder, bytes: &[u8]) -> Vec<(u32, Response)> {
    let mut out = Vec::new();
    for &b in bytes {
        if let Some(frame) = dev.on_byte(b, &P) {
            for &fb in frame {
                if let Some(r) = dec.feed::<Response>(fb) {
                    out.push(r.expect("device frames are valid"));
                }
            }
        }
    }
    out
}

/// A host-trained-like blob: the core's DoubleConvNet, He-initialised, payload only.
fn core_infer_blob(seed: u64) -> (Box<Network<zoo::DoubleConvNet>>, Vec<u8>) {
    let mut net = Network::<zoo::DoubleConvNet>::boxed();
    net.configure(&Default::default());
    net.init(Init::He, seed);
    let mut blob = vec![0u8; shinso::model::blob_len::<zoo::DoubleConvNet>()];
    net.save(&mut blob).unwrap();
    (net, blob[shinso::model::HEADER..].to_vec())
}

#[test]
fn info_describes_the_models() {
    let mut app = app();
    let Response::Info(info) = app.handle(Request::Info, &P) else {
        panic!()
    };
    assert_eq!(info.protocol, PROTOCOL_VERSION);
    assert!(info.firmware.starts_with("shinso-fw"));
    assert_eq!(info.models.len(), 2);
    assert_eq!(
        (
            info.models[0].params as usize,
            info.models[1].params as usize
        ),
        (12_810, LearnNet::PARAMS + LearnNet::STATE)
    );
    assert_eq!(
        info.models[0].signature,
        <zoo::DoubleConvNet as shinso::Layer>::SIGNATURE
    );
    assert_eq!(
        info.models[1].signature,
        <LearnNet as shinso::Layer>::SIGNATURE
    );
    assert!(!info.models[0].trainable && info.models[1].trainable);
    // Each slot's RAM is its network's parameters and state, and a few bytes per layer of
    // run-time choices (activation, toggles, a dropout generator); the learner's heap is Adam's moments.
    let (m0, m1) = (&info.models[0], &info.models[1]);
    let extra = |m: &ModelInfo| m.ram as usize - 4 * m.params as usize;
    assert!(extra(m0) <= 128 && extra(m1) <= 128, "{m0:?} {m1:?}");
    assert_eq!(
        (m0.heap as usize, m1.heap as usize),
        (0, 2 * 4 * LearnNet::PARAMS)
    );
    assert_eq!(info.memory.arena as usize, 4 * ARENA_FLOATS);
    // Each model's share of the arena: a learning step for the learner, a fine-tuning step
    // (larger than an inference) for the pushed model.
    use shinso_app::slot::Slot;
    assert_eq!(m1.arena as usize, 4 * Slot::<LearnNet>::LEARN_ARENA);
    assert_eq!(m0.arena as usize, 4 * Slot::<InferNet>::TUNE_ARENA);
    assert!(m0.arena <= info.memory.arena && m1.arena <= info.memory.arena);
}

#[test]
fn pushed_core_blob_infers_like_the_core() {
    let mut app = app();
    let (net, blob) = core_infer_blob(3);
    assert_eq!(
        push(
            &mut app,
            0,
            <InferNet as Layer>::SIGNATURE,
            &blob,
            crc32(&blob)
        ),
        Response::Ok
    );
    assert_eq!(pull(&mut app, 0), blob);
    for i in 0..20 {
        let p = img(i);
        let mut arena = vec![0.0; Network::<zoo::DoubleConvNet>::predict_arena(1)];
        let logits = net.predict(&[as_input(&p)], &mut arena).unwrap()[0];
        let mut want = [0f32; 10];
        Loss::SoftmaxCrossEntropy.output(&logits, &mut want);
        let Response::Inferred {
            class,
            scores,
            count,
        } = app.handle(
            Request::Infer {
                model: 0,
                pixels: p,
            },
            &P,
        )
        else {
            panic!()
        };
        // The core's network on the device: the same bits.
        assert_eq!(scores.map(f32::to_bits), want.map(f32::to_bits));
        assert_eq!(class as usize, shinso::argmax(&want));
        assert!(count > 0);
    }
}

#[test]
fn bad_pushes_are_refused_and_old_weights_stay() {
    use ErrorCode::*;
    let mut app = app();
    let (_, good) = core_infer_blob(5);
    let sig = <InferNet as Layer>::SIGNATURE;
    assert_eq!(push(&mut app, 0, sig, &good, crc32(&good)), Response::Ok);

    let (_, other) = core_infer_blob(6);
    refused(push(&mut app, 0, sig, &other, crc32(&good)), BadBlobCrc);
    let learner = <LearnNet as Layer>::SIGNATURE;
    refused(
        push(&mut app, 0, learner, &other, crc32(&other)),
        BadSignature,
    );
    refused(push(&mut app, 1, sig, &other, crc32(&other)), BadSignature);
    refused(
        push(&mut app, 0, sig, &other[..400], crc32(&other[..400])),
        BadLength,
    );
    refused(push(&mut app, 9, sig, &other, crc32(&other)), NoSuchModel);
    let mut nan = other.clone();
    nan[4 * 77..4 * 78].copy_from_slice(&f32::NAN.to_le_bytes());
    refused(push(&mut app, 0, sig, &nan, crc32(&nan)), NonFinite);
    let mut inf = other.clone();
    let n = inf.len();
    inf[n - 4..].copy_from_slice(&f32::INFINITY.to_le_bytes());
    refused(push(&mut app, 0, sig, &inf, crc32(&inf)), NonFinite);

    // Chunks out of order, past the end, or without a begin.
    refused(
        app.handle(
            Request::PushChunk {
                offset: 0,
                data: heapless::Vec::new(),
            },
            &P,
        ),
        NoPush,
    );
    refused(app.handle(Request::PushEnd, &P), NoPush);
    let begin = Request::PushBegin {
        model: 0,
        signature: sig,
        len: good.len() as u32,
        crc: 0,
    };
    assert_eq!(app.handle(begin.clone(), &P), Response::Ok);
    let chunk = |offset| Request::PushChunk {
        offset,
        data: heapless::Vec::from_slice(&[1u8; CHUNK]).unwrap(),
    };
    assert_eq!(
        app.handle(chunk(512), &P),
        Response::Error {
            code: ErrorCode::BadOffset,
            detail: 0
        }
    );
    assert_eq!(app.handle(chunk(0), &P), Response::Ok);
    refused(app.handle(Request::PushEnd, &P), BadLength);
    // An inference in the middle of a push abandons it (the arena holds its activations).
    assert_eq!(app.handle(begin, &P), Response::Ok);
    assert_eq!(app.handle(chunk(0), &P), Response::Ok);
    assert!(matches!(
        app.handle(
            Request::Infer {
                model: 0,
                pixels: img(1)
            },
            &P
        ),
        Response::Inferred { .. }
    ));
    refused(app.handle(chunk(512), &P), NoPush);

    assert_eq!(pull(&mut app, 0), good);
    refused(
        app.handle(
            Request::Pull {
                model: 0,
                offset: 0,
                len: CHUNK as u16 + 1,
            },
            &P,
        ),
        BadLength,
    );
    refused(
        app.handle(
            Request::Pull {
                model: 0,
                offset: 60000,
                len: 1,
            },
            &P,
        ),
        BadOffset,
    );
}

#[test]
fn learning_updates_stats_and_learns() {
    use {ErrorCode::*, Kind::*};
    let mut app = app();
    refused(learn(&mut app, img(0), 10), BadValue);
    refused(configure(&mut app, Sgd, f32::NAN), NonFinite);
    refused(configure(&mut app, Sgd, -1.0), BadValue);
    for opt in [Sgd, Momentum, AdaGrad, RmsProp, Adam] {
        assert_eq!(configure(&mut app, opt, 0.001), Response::Ok);
    }
    assert_eq!(app.handle(Request::Reset { seed: 7 }, &P), Response::Ok);
    // Three fixed "classes" of images, shapes that a one-pixel move leaves recognisable (the
    // learner learns from them moved): it must get them right after a few passes.
    let mut last = Vec::new();
    for round in 0..15 {
        for c in 0..3u8 {
            let Response::Learned {
                loss,
                predicted_before,
                samples_seen,
                ..
            } = learn(&mut app, shape(c), c)
            else {
                panic!()
            };
            assert!(loss.is_finite());
            assert_eq!(samples_seen, round * 3 + c as u32 + 1);
            if round == 14 {
                last.push(predicted_before == c);
            }
        }
    }
    assert!(last.iter().all(|&ok| ok), "{last:?}");
    let Response::Stats(s) = app.handle(Request::Stats, &P) else {
        panic!()
    };
    assert_eq!(s.samples_seen, 45);
    assert!(s.prequential_accuracy > 0.45, "{s:?}");
    assert_eq!(app.handle(Request::Reset { seed: 7 }, &P), Response::Ok);
    assert_eq!(
        app.handle(Request::Stats, &P),
        Response::Stats(LearnStats::default())
    );
}

/// The learner reports, as `predicted_before`, the class its inference gives the image it
/// learns from (the one sent, moved by the step's move: step `i` since `Reset`) just before
/// the step (it learns from the same forward pass, not from a second one), and the step then
/// changes what it predicts.
#[test]
fn predicted_before_is_the_inference_before_the_step() {
    let mut app = app();
    assert_eq!(app.handle(Request::Reset { seed: 11 }, &P), Response::Ok);
    let mut changed = 0;
    for i in 0..30u32 {
        let moved = Pixels(shifted(&img(i).0, i));
        let infer = |app: &mut App| match app.handle(
            Request::Infer {
                model: 1,
                pixels: moved.clone(),
            },
            &P,
        ) {
            Response::Inferred { class, scores, .. } => (class, scores.map(f32::to_bits)),
            r => panic!("{r:?}"),
        };
        let (class, before) = infer(&mut app);
        let Response::Learned {
            predicted_before, ..
        } = learn(&mut app, img(i), (i % 10) as u8)
        else {
            panic!()
        };
        assert_eq!(predicted_before, class, "sample {i}");
        changed += (infer(&mut app).1 != before) as u32;
    }
    assert_eq!(changed, 30, "every step moves the scores");
}

#[test]
fn non_finite_step_is_rolled_back() {
    let mut app = app();
    // Weights at the edge of f32 (finite, so the push is taken): the step overflows.
    let (sig, huge) = filled(&mut app, 1, 1e36);
    assert_eq!(push(&mut app, 1, sig, &huge, crc32(&huge)), Response::Ok);
    let mut rolled = 0;
    for i in 0..6 {
        let before = pull(&mut app, 1);
        match learn(&mut app, img(i), (i % 10) as u8) {
            Response::Learned { .. } => {}
            Response::Error {
                code: ErrorCode::RolledBack,
                ..
            } => {
                rolled += 1;
                assert_eq!(
                    pull(&mut app, 1),
                    before,
                    "a rolled-back step changed the weights"
                );
            }
            r => panic!("{r:?}"),
        }
    }
    assert!(rolled > 0);
    let Response::Stats(s) = app.handle(Request::Stats, &P) else {
        panic!()
    };
    assert_eq!(s.rolled_back, rolled);
    assert!(floats(&pull(&mut app, 1)).iter().all(|v| v.is_finite()));
}

#[test]
fn device_answers_garbage_with_errors_and_resyncs() {
    let mut dev = Device::new(app());
    let mut dec = Decoder::new();
    let mut run = |dev: &mut Device, bytes: &[u8]| exchange(dev, &mut dec, bytes);
    let ready = dev.ready_frame().to_vec();
    let mut d2 = Decoder::new();
    let got: Vec<_> = ready
        .iter()
        .filter_map(|&b| d2.feed::<Response>(b))
        .collect();
    assert_eq!(got, vec![Ok((0, Response::Ready))]);

    let mut buf = [0u8; MAX_FRAME];
    let info = encode(1, &Request::Info, &mut buf).unwrap().to_vec();
    assert!(matches!(run(&mut dev, &info)[..], [(1, Response::Info(_))]));
    // Garbage, a truncated frame, an oversized run: one error each, then a good frame works.
    let r = run(&mut dev, b"hello\x00");
    assert!(
        matches!(
            r[..],
            [(
                0,
                Response::Error {
                    code: ErrorCode::BadFrame | ErrorCode::BadCrc,
                    ..
                }
            )]
        ),
        "{r:?}"
    );
    let mut trunc = info[..info.len() / 2].to_vec();
    trunc.push(0);
    assert!(matches!(
        run(&mut dev, &trunc)[..],
        [(0, Response::Error { .. })]
    ));
    let mut big = vec![7u8; 5000];
    big.push(0);
    assert_eq!(
        run(&mut dev, &big),
        vec![(
            0,
            Response::Error {
                code: ErrorCode::Oversized,
                detail: 0
            }
        )]
    );
    let unknown = encode(5, &250u8, &mut buf).unwrap().to_vec();
    assert_eq!(
        run(&mut dev, &unknown),
        vec![(
            5,
            Response::Error {
                code: ErrorCode::Unknown,
                detail: 0
            }
        )]
    );
    let stats = encode(6, &Request::Stats, &mut buf).unwrap().to_vec();
    assert_eq!(
        run(&mut dev, &stats),
        vec![(6, Response::Stats(LearnStats::default()))]
    );
}

/// The rates each rule can train with are the core's (`shinso::optim::limits`); anything else
/// is refused with the largest accepted rate in `detail`, and nothing changes.
#[test]
fn rates_that_cannot_train_are_refused() {
    use shinso::optim::limits;
    let mut app = app();
    for (optimizer, lr) in [
        (Kind::Adam, 3e38),
        (Kind::Sgd, f32::MAX),
        (Kind::Momentum, 10.0),
        (Kind::RmsProp, 1.5),
        (Kind::AdaGrad, 0.0),
        (Kind::Sgd, -0.1),
    ] {
        let max = limits::lr_range(&optimizer.rule(lr)).max;
        assert_eq!(
            app.handle(Request::Configure { optimizer, lr }, &P),
            Response::Error {
                code: ErrorCode::BadValue,
                detail: max.to_bits()
            },
            "{optimizer:?} {lr}"
        );
    }
    refused(
        configure(&mut app, Kind::Adam, f32::NAN),
        ErrorCode::NonFinite,
    );
    // At the largest rate accepted the learner is not bricked: it keeps learning, and after a
    // sane rate again it still answers finite scores.
    for (lr, steps) in [(limits::ADAPTIVE_LR.max, 40), (0.001, 5)] {
        let configure = Request::Configure {
            optimizer: Kind::Adam,
            lr,
        };
        assert_eq!(app.handle(configure, &P), Response::Ok);
        for i in 0..steps {
            let r = app.handle(
                Request::Learn {
                    pixels: img(i),
                    label: (i % 10) as u8,
                },
                &P,
            );
            assert!(
                matches!(r, Response::Learned { .. }),
                "lr {lr}, step {i}: {r:?}"
            );
        }
    }
    match app.handle(
        Request::Infer {
            model: 1,
            pixels: img(99),
        },
        &P,
    ) {
        Response::Inferred { class, scores, .. } => {
            assert!(scores.iter().all(|s| s.is_finite()), "{scores:?}");
            assert_eq!(class as usize, shinso::argmax(&scores));
        }
        r => panic!("{r:?}"),
    }
}

/// Scores that are not all finite name no class: `Infer` says so instead of answering one.
#[test]
fn non_finite_scores_are_an_error_not_a_class() {
    let mut app = app();
    // Finite weights whose products overflow: every logit is ±inf or NaN.
    let (sig, huge) = filled(&mut app, 0, 1e30);
    assert_eq!(push(&mut app, 0, sig, &huge, crc32(&huge)), Response::Ok);
    let r = app.handle(
        Request::Infer {
            model: 0,
            pixels: img(1),
        },
        &P,
    );
    refused(r, ErrorCode::NonFinite);
}

/// Bytes the board dropped are reported: the next frame is answered `Overrun` (with how many)
/// and not run, `Stats` counts them and a `Reset` does not clear them, later frames work.
#[test]
fn dropped_bytes_are_reported_on_the_next_frame() {
    let mut dev = Device::new(app());
    let mut dec = Decoder::new();
    let mut run = |dev: &mut Device, bytes: &[u8]| exchange(dev, &mut dec, bytes);
    let mut buf = [0u8; MAX_FRAME];
    let reset = encode(3, &Request::Reset { seed: 5 }, &mut buf)
        .unwrap()
        .to_vec();
    dev.note_dropped(7);
    let overrun = Response::Error {
        code: ErrorCode::Overrun,
        detail: 7,
    };
    assert_eq!(run(&mut dev, &reset), vec![(3, overrun.clone())]);
    // Merged frames (their delimiters were among the lost bytes) fail the CRC: seq 0.
    dev.note_dropped(7);
    let mut merged = reset[..reset.len() / 2].to_vec();
    merged.extend_from_slice(&reset[reset.len() / 2 + 3..]);
    assert_eq!(run(&mut dev, &merged), vec![(0, overrun)]);
    assert_eq!(run(&mut dev, &reset), vec![(3, Response::Ok)]);
    let stats = encode(4, &Request::Stats, &mut buf).unwrap().to_vec();
    assert_eq!(
        run(&mut dev, &stats),
        vec![(
            4,
            Response::Stats(LearnStats {
                rx_dropped: 14,
                ..LearnStats::default()
            })
        )]
    );
}

/// The frozen layers of the device's `DoubleConvNet`, as a network of their own.
type Body = shinso::stack![
    shinso::ConvReluPool<1, 28, 28, 16, 3, 3, 1, 0, 26, 26, 2, 2, 2, 13, 13>,
    shinso::ConvReluPool<16, 13, 13, 32, 3, 3, 1, 0, 11, 11, 2, 2, 2, 5, 5>,
    shinso::Flatten<zoo::Maps<32, 5, 5>, [f32; 800]>
];
/// Its last layer, the one fine-tuning trains.
type Head = shinso::Affine<800, 10>;

fn fine_tune(app: &mut App, pixels: Pixels, label: u8) -> Response {
    app.handle(
        Request::FineTune {
            model: 0,
            pixels,
            label,
        },
        &P,
    )
}

fn schedule(app: &mut App, model: u8, lr: f32, decay_steps: u32) -> Response {
    app.handle(
        Request::Schedule {
            model,
            lr,
            decay_steps,
        },
        &P,
    )
}

/// The rate the device's schedule gives step `k`, computed as the protocol states it.
fn rate_at(lr: f32, n: u32, k: u32) -> f32 {
    lr * ((n - k.min(n - 1)) as f32 / n as f32)
}

/// The core's SGD step of `net` at `rate` on one sample; returns the loss.
fn sgd_step<L: Layer>(
    net: &mut Network<L>,
    x: L::In,
    label: u8,
    rate: f32,
    arena: &mut [f32],
) -> f32
where
    L::Out: From<[f32; 10]>,
{
    let mut opt = CoreOptimizer::new(Rule::sgd(rate), L::PARAMS, [0.0f32; 0]).unwrap();
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    let target = L::Out::from(shinso::one_hot(label as usize));
    net.train_step(&[x], &[target], loss, decay, &mut opt, arena)
        .unwrap()
}

/// The schedule's rate at step `k` as its documentation states it, in f64.
fn scheduled(lr: f32, n: u32, k: u32) -> f64 {
    lr as f64 * (1.0 - k.min(n - 1) as f64 / n as f64)
}

#[test]
fn the_schedule_decays_linearly_and_holds_its_last_rate() {
    use shinso_app::schedule::Schedule;
    assert_eq!(Schedule::constant(0.01).rate(), 0.01);
    let mut s = Schedule {
        lr: 0.003,
        decay_steps: 10_000,
        step: 0,
    };
    for k in 0..10_010u32 {
        let want = scheduled(0.003, 10_000, k);
        assert!(
            (s.rate() as f64 - want).abs() <= 1e-7 * want,
            "step {k}: {} vs {want}",
            s.rate()
        );
        s.advance();
    }
    // Past the end it holds lr / N, never 0 (a step at 0 would not learn).
    assert!((s.rate() as f64 - 0.003 / 10_000.0).abs() < 1e-12);
}

/// A fine-tuning step on the device is, bit for bit, the core's SGD step of a network made of
/// the last layer alone, on the output of a network made of the layers before it (weights cut
/// from the same blob), at the scheduled rate; the frozen layers do not change.
#[test]
fn fine_tuning_trains_the_last_layer_on_the_frozen_features() {
    let mut app = app();
    let (mut net, payload) = core_infer_blob(11);
    let sig = <zoo::DoubleConvNet as Layer>::SIGNATURE;
    assert_eq!(
        push(&mut app, 0, sig, &payload, crc32(&payload)),
        Response::Ok
    );
    let cut = 4 * <Body as Layer>::PARAMS;
    let mut body = Network::<Body>::boxed();
    body.write_payload(0, &payload[..cut]).unwrap();
    let mut head = Network::<Head>::boxed();
    head.write_payload(0, &payload[cut..]).unwrap();
    let (lr, n) = (0.05f32, 4u32);
    assert_eq!(schedule(&mut app, 0, lr, n), Response::Ok);
    let mut arena = vec![0.0; Network::<Body>::predict_arena(1) + Network::<Head>::train_arena(1)];
    for k in 0..6u32 {
        let (x, label) = (img(k), (k * 3 % 10) as u8);
        let features = body.predict(&[as_input(&x)], &mut arena).unwrap()[0];
        let mut full = vec![0.0; Network::<zoo::DoubleConvNet>::predict_arena(1)];
        let before = argmax(&net.predict(&[as_input(&x)], &mut full).unwrap()[0]);
        let loss = sgd_step(&mut head, features, label, rate_at(lr, n, k), &mut arena);
        let Response::Learned {
            loss: l,
            predicted_before,
            samples_seen,
            ..
        } = fine_tune(&mut app, x, label)
        else {
            panic!()
        };
        assert_eq!(l.to_bits(), loss.to_bits());
        assert_eq!((predicted_before as usize, samples_seen), (before, k + 1));
        let mut want = payload[..cut].to_vec();
        let mut h = vec![0u8; 4 * Head::PARAMS];
        head.read_payload(0, &mut h).unwrap();
        want.extend_from_slice(&h);
        let got = pull(&mut app, 0);
        assert!(got == want, "step {k}: the device's weights differ");
        net.write_payload(0, &got).unwrap();
    }
}

#[test]
fn a_refused_fine_tuning_step_changes_nothing() {
    use ErrorCode::*;
    let mut app = app();
    refused(fine_tune(&mut app, img(0), 10), BadValue);
    refused(
        app.handle(
            Request::FineTune {
                model: 1,
                pixels: img(0),
                label: 0,
            },
            &P,
        ),
        NotTrainable,
    );
    refused(schedule(&mut app, 0, f32::INFINITY, 0), NonFinite);
    refused(schedule(&mut app, 0, 100.0, 0), BadValue);
    refused(schedule(&mut app, 2, 0.1, 0), NoSuchModel);
    // Weights near f32::MAX: the logits overflow, the loss is not finite.
    let (sig, huge) = filled(&mut app, 0, 3e38);
    assert_eq!(push(&mut app, 0, sig, &huge, crc32(&huge)), Response::Ok);
    for i in 0..3 {
        refused(fine_tune(&mut app, img(i), 1), RolledBack);
        assert_eq!(
            pull(&mut app, 0),
            huge,
            "a refused step changed the weights"
        );
    }
    // Nor did the refused steps count: the first accepted one is step 1.
    let (_, payload) = core_infer_blob(3);
    assert_eq!(
        push(&mut app, 0, sig, &payload, crc32(&payload)),
        Response::Ok
    );
    assert!(matches!(
        fine_tune(&mut app, img(0), 1),
        Response::Learned {
            samples_seen: 1,
            ..
        }
    ));
}

/// The learner's steps follow the schedule too: SGD on the device equals the core's SGD at the
/// scheduled rate of each step (on each image moved as the learner moves it), and `Configure`
/// sets a constant rate again.
#[test]
fn the_learner_follows_its_schedule() {
    let mut app = app();
    assert_eq!(configure(&mut app, Kind::Sgd, 0.1), Response::Ok);
    assert_eq!(app.handle(Request::Reset { seed: 5 }, &P), Response::Ok);
    let (lr, n) = (0.2f32, 3u32);
    refused(schedule(&mut app, 1, 20.0, n), ErrorCode::BadValue);
    assert_eq!(schedule(&mut app, 1, lr, n), Response::Ok);
    let mut net = Network::<LearnNet>::boxed();
    net.configure(&Default::default());
    net.init(Init::He, 5);
    let mut arena = vec![0.0; Network::<LearnNet>::train_arena(1)];
    for k in 0..5u32 {
        let (x, label) = (img(k + 40), (k % 10) as u8);
        assert!(matches!(
            learn(&mut app, x.clone(), label),
            Response::Learned { .. }
        ));
        // `Schedule` started the step count again: step `k` learns from `x` moved by its move.
        let moved = Pixels(shifted(&x.0, k));
        sgd_step(
            &mut net,
            as_input(&moved),
            label,
            rate_at(lr, n, k),
            &mut arena,
        );
        let mut want = vec![0u8; 4 * (LearnNet::PARAMS + LearnNet::STATE)];
        net.read_payload(0, &mut want).unwrap();
        assert!(pull(&mut app, 1) == want, "step {k}");
    }
}

/// Hostile but well-framed traffic: random sequences of every request with edge-case fields
/// (unknown models, labels out of range, NaN and huge rates, offsets and lengths past the
/// end, pushes and restores begun and abandoned, chunks with wrong CRCs, random images). The
/// device never panics, answers each request exactly once under its seq, and still infers and
/// learns afterwards.
mod hostile_requests {
    use super::*;
    use proptest::prelude::*;

    fn rate() -> impl Strategy<Value = f32> {
        prop_oneof![
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(-1.0),
            Just(0.0),
            Just(1e30),
            1e-4f32..1.0,
            any::<f32>(),
        ]
    }

    fn pixels() -> impl Strategy<Value = Pixels> {
        prop_oneof![
            Just(Pixels::default()),
            Just(Pixels([255; PIXELS])),
            proptest::collection::vec(any::<u8>(), PIXELS)
                .prop_map(|v| Pixels::from_slice(&v).unwrap()),
        ]
    }

    fn offset() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..4, 0u32..70_000, any::<u32>()]
    }

    fn request() -> impl Strategy<Value = Request> {
        let model = || prop_oneof![0u8..2, any::<u8>()];
        let label = || prop_oneof![0u8..10, any::<u8>()];
        prop_oneof![
            Just(Request::Info),
            Just(Request::Stats),
            Just(Request::PushEnd),
            Just(Request::SaveCheckpoint),
            Just(Request::CheckpointStatus),
            (model(), pixels()).prop_map(|(model, pixels)| Request::Infer { model, pixels }),
            (pixels(), label()).prop_map(|(pixels, label)| Request::Learn { pixels, label }),
            (model(), pixels(), label()).prop_map(|(model, pixels, label)| Request::FineTune {
                model,
                pixels,
                label
            }),
            (0..Kind::ALL.len(), rate()).prop_map(|(k, lr)| Request::Configure {
                optimizer: Kind::ALL[k],
                lr
            }),
            any::<u64>().prop_map(|seed| Request::Reset { seed }),
            (model(), any::<u64>(), offset(), any::<u32>()).prop_map(
                |(model, signature, len, crc)| Request::PushBegin {
                    model,
                    signature,
                    len,
                    crc
                }
            ),
            (offset(), proptest::collection::vec(any::<u8>(), 0..=CHUNK)).prop_map(
                |(offset, data)| Request::PushChunk {
                    offset,
                    data: data.into_iter().collect()
                }
            ),
            (model(), offset(), any::<u16>()).prop_map(|(model, offset, len)| Request::Pull {
                model,
                offset,
                len
            }),
            (offset(), any::<u16>()).prop_map(|(offset, len)| Request::PullState { offset, len }),
            (offset(), any::<u32>()).prop_map(|(len, crc)| Request::RestoreBegin { len, crc }),
            prop_oneof![0u32..5, any::<u32>()].prop_map(|steps| Request::CheckpointEvery { steps }),
            (model(), rate(), prop_oneof![0u32..5, any::<u32>()]).prop_map(
                |(model, lr, decay_steps)| Request::Schedule {
                    model,
                    lr,
                    decay_steps
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(shinso_tests::proptest_config(48))]

        #[test]
        fn every_request_is_answered_once_and_the_device_keeps_working(
            requests in proptest::collection::vec(request(), 1..24)
        ) {
            let mut dev = Device::new(app());
            let mut dec = Decoder::new();
            let mut buf = [0u8; MAX_FRAME];
            let tail = [
                Request::Info,
                Request::Reset { seed: 1 },
                Request::Learn { pixels: img(1), label: 3 },
                Request::Infer { model: 1, pixels: img(2) },
            ];
            let mut answers = vec![];
            for (i, req) in requests.iter().chain(&tail).enumerate() {
                let seq = i as u32 + 1;
                let frame = encode(seq, req, &mut buf).unwrap().to_vec();
                let got = exchange(&mut dev, &mut dec, &frame);
                prop_assert_eq!(got.len(), 1, "{:?} → {:?}", req, got);
                prop_assert_eq!(got[0].0, seq);
                answers.extend(got);
            }
            // The last three (a reset, a step, an inference on the learner) did their work.
            let last = &answers[answers.len() - 3..];
            prop_assert!(matches!(
                last[..],
                [
                    (_, Response::Ok),
                    (_, Response::Learned { .. }),
                    (_, Response::Inferred { .. })
                ]
            ), "{:?}", last);
        }
    }
}
