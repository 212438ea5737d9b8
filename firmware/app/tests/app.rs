//! The application logic on the host, request by request and byte by byte.

use shinso_app::{linear::Linear, App, DeviceModel, Device, Platform};
use shinso_proto::*;
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

fn models() -> (Box<Linear>, Box<Linear>) {
    (Box::new(Linear::new(false)), Box::new(Linear::new(true)))
}

fn img(seed: u32) -> Pixels {
    let mut p = [0u8; PIXELS];
    for (i, b) in p.iter_mut().enumerate() {
        *b = ((i as u32).wrapping_mul(2654435761u32).wrapping_add(seed.wrapping_mul(0x9E3779B9)) >> 24) as u8;
    }
    Pixels(p)
}

fn blob(params: usize, f: impl Fn(usize) -> f32) -> Vec<u8> {
    (0..params).flat_map(|i| f(i).to_le_bytes()).collect()
}

fn push(app: &mut App, model: u8, signature: u64, data: &[u8], crc: u32) -> Response {
    let r = app.handle(Request::PushBegin { model, signature, len: data.len() as u32, crc }, &P);
    if r != Response::Ok {
        return r;
    }
    for (k, c) in data.chunks(CHUNK).enumerate() {
        let r = app.handle(Request::PushChunk { offset: (k * CHUNK) as u32, data: heapless::Vec::from_slice(c).unwrap() }, &P);
        assert_eq!(r, Response::Ok);
    }
    app.handle(Request::PushEnd, &P)
}

fn pull(app: &mut App, model: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len + 10 {
        match app.handle(Request::Pull { model, offset: out.len() as u32, len: CHUNK as u16 }, &P) {
            Response::Chunk { data, .. } if data.is_empty() => break,
            Response::Chunk { offset, data } => {
                assert_eq!(offset as usize, out.len());
                out.extend_from_slice(&data)
            }
            r => panic!("{r:?}"),
        }
    }
    out
}

fn err(code: ErrorCode) -> impl Fn(&Response) -> bool {
    move |r| matches!(r, Response::Error { code: c, .. } if *c == code)
}

#[test]
fn info_describes_the_models() {
    let (mut a, mut b) = models();
    let mut app = App::new([&mut *a as &mut dyn DeviceModel, &mut *b]);
    let Response::Info(info) = app.handle(Request::Info, &P) else { panic!() };
    assert_eq!(info.protocol, PROTOCOL_VERSION);
    assert!(info.firmware.starts_with("shinso-fw"));
    assert_eq!(info.models.len(), 2);
    assert_eq!(info.models[0].params, 7850);
    assert_eq!(info.models[0].signature, Linear::SIGNATURE);
    assert!(!info.models[0].trainable && info.models[1].trainable);
}

#[test]
fn push_then_pull_round_trips_and_changes_inference() {
    let (mut a, mut b) = models();
    let mut app = App::new([&mut *a as &mut dyn DeviceModel, &mut *b]);
    let data = blob(7850, |i| if i % 10 == 3 { 1.0 } else { (i as f32).sin() * 1e-3 });
    assert_eq!(push(&mut app, 0, Linear::SIGNATURE, &data, crc32(&data)), Response::Ok);
    assert_eq!(pull(&mut app, 0, data.len()), data);
    let Response::Inferred { class, scores, count } = app.handle(Request::Infer { model: 0, pixels: img(1) }, &P) else { panic!() };
    assert_eq!(class, 3);
    assert!((scores.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(count > 0);
}

#[test]
fn bad_pushes_are_refused_and_old_weights_stay() {
    let (mut a, mut b) = models();
    let mut app = App::new([&mut *a as &mut dyn DeviceModel, &mut *b]);
    let good = blob(7850, |i| i as f32 * 1e-4);
    assert_eq!(push(&mut app, 0, Linear::SIGNATURE, &good, crc32(&good)), Response::Ok);

    let other = blob(7850, |_| 0.5);
    assert!(err(ErrorCode::BadBlobCrc)(&push(&mut app, 0, Linear::SIGNATURE, &other, crc32(&good))));
    assert!(err(ErrorCode::BadSignature)(&push(&mut app, 0, 42, &other, crc32(&other))));
    assert!(err(ErrorCode::BadLength)(&push(&mut app, 0, Linear::SIGNATURE, &other[..400], crc32(&other[..400]))));
    assert!(err(ErrorCode::NoSuchModel)(&push(&mut app, 9, Linear::SIGNATURE, &other, crc32(&other))));
    let nan = blob(7850, |i| if i == 77 { f32::NAN } else { 0.0 });
    assert_eq!(push(&mut app, 0, Linear::SIGNATURE, &nan, crc32(&nan)), Response::Error { code: ErrorCode::NonFinite, detail: 77 });
    let inf = blob(7850, |i| if i == 7849 { f32::INFINITY } else { 0.0 });
    assert!(err(ErrorCode::NonFinite)(&push(&mut app, 0, Linear::SIGNATURE, &inf, crc32(&inf))));

    // Chunks out of order, past the end, or without a begin.
    assert!(err(ErrorCode::NoPush)(&app.handle(Request::PushChunk { offset: 0, data: heapless::Vec::new() }, &P)));
    assert!(err(ErrorCode::NoPush)(&app.handle(Request::PushEnd, &P)));
    let begin = Request::PushBegin { model: 0, signature: Linear::SIGNATURE, len: 31400, crc: 0 };
    assert_eq!(app.handle(begin.clone(), &P), Response::Ok);
    let chunk = |offset| Request::PushChunk { offset, data: heapless::Vec::from_slice(&[1u8; CHUNK]).unwrap() };
    assert_eq!(app.handle(chunk(512), &P), Response::Error { code: ErrorCode::BadOffset, detail: 0 });
    assert_eq!(app.handle(chunk(0), &P), Response::Ok);
    assert!(err(ErrorCode::BadLength)(&app.handle(Request::PushEnd, &P)));
    assert_eq!(app.handle(begin, &P), Response::Ok);
    for k in 0..61 {
        assert_eq!(app.handle(chunk(k * 512), &P), Response::Ok);
    }
    assert!(err(ErrorCode::BadLength)(&app.handle(chunk(61 * 512), &P)));
    assert!(err(ErrorCode::BadLength)(&app.handle(Request::PushEnd, &P)));

    assert_eq!(pull(&mut app, 0, good.len()), good);
    assert!(err(ErrorCode::BadLength)(&app.handle(Request::Pull { model: 0, offset: 0, len: CHUNK as u16 + 1 }, &P)));
    assert!(err(ErrorCode::BadOffset)(&app.handle(Request::Pull { model: 0, offset: 40000, len: 1 }, &P)));
}

#[test]
fn learning_updates_stats_and_learns() {
    let (mut a, mut b) = models();
    let mut app = App::new([&mut *a as &mut dyn DeviceModel, &mut *b]);
    assert!(err(ErrorCode::BadValue)(&app.handle(Request::Learn { pixels: img(0), label: 10 }, &P)));
    assert!(err(ErrorCode::NonFinite)(&app.handle(Request::Configure { optimizer: Optimizer::Sgd, lr: f32::NAN }, &P)));
    assert!(err(ErrorCode::BadValue)(&app.handle(Request::Configure { optimizer: Optimizer::Sgd, lr: -1.0 }, &P)));
    assert!(err(ErrorCode::BadValue)(&app.handle(Request::Configure { optimizer: Optimizer::Adam, lr: 0.001 }, &P)));
    assert_eq!(app.handle(Request::Configure { optimizer: Optimizer::Momentum, lr: 0.01 }, &P), Response::Ok);
    assert_eq!(app.handle(Request::Reset { seed: 7 }, &P), Response::Ok);
    // Three fixed "classes" of images: the learner must get them right after a few passes.
    let mut last = Vec::new();
    for round in 0..20 {
        for c in 0..3u8 {
            let Response::Learned { loss, predicted_before, samples_seen, .. } =
                app.handle(Request::Learn { pixels: img(c as u32), label: c }, &P) else { panic!() };
            assert!(loss.is_finite());
            assert_eq!(samples_seen, round * 3 + c as u32 + 1);
            if round == 19 {
                last.push(predicted_before == c);
            }
        }
    }
    assert!(last.iter().all(|&ok| ok));
    let Response::Stats(s) = app.handle(Request::Stats, &P) else { panic!() };
    assert_eq!(s.samples_seen, 60);
    assert!(s.prequential_accuracy > 0.8, "{s:?}");
    assert_eq!(app.handle(Request::Reset { seed: 7 }, &P), Response::Ok);
    assert_eq!(app.handle(Request::Stats, &P), Response::Stats(LearnStats::default()));
}

#[test]
fn non_finite_step_is_rolled_back() {
    let (mut a, mut b) = models();
    let mut app = App::new([&mut *a as &mut dyn DeviceModel, &mut *b]);
    // A rate at the edge of f32: the first step stays finite, the second would overflow.
    assert_eq!(app.handle(Request::Configure { optimizer: Optimizer::Momentum, lr: f32::MAX }, &P), Response::Ok);
    let mut rolled = 0;
    for i in 0..4 {
        let before = pull(&mut app, 1, 31400);
        match app.handle(Request::Learn { pixels: img(i), label: (i % 10) as u8 }, &P) {
            Response::Learned { .. } => {}
            Response::Error { code: ErrorCode::RolledBack, .. } => {
                rolled += 1;
                assert_eq!(pull(&mut app, 1, 31400), before, "a rolled-back step changed the weights");
            }
            r => panic!("{r:?}"),
        }
    }
    assert!(rolled > 0);
    let Response::Stats(s) = app.handle(Request::Stats, &P) else { panic!() };
    assert_eq!(s.rolled_back, rolled);
    let w = pull(&mut app, 1, 31400);
    assert!(w.chunks(4).all(|b| f32::from_le_bytes(b.try_into().unwrap()).is_finite()));
}

#[test]
fn device_answers_garbage_with_errors_and_resyncs() {
    let (mut a, mut b) = models();
    let mut dev = Device::new(App::new([&mut *a as &mut dyn DeviceModel, &mut *b]));
    let mut dec = Decoder::new();
    let mut run = |dev: &mut Device, bytes: &[u8]| -> Vec<(u32, Response)> {
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
    };
    let ready = dev.ready_frame().to_vec();
    let mut d2 = Decoder::new();
    let got: Vec<_> = ready.iter().filter_map(|&b| d2.feed::<Response>(b)).collect();
    assert_eq!(got, vec![Ok((0, Response::Ready))]);

    let mut buf = [0u8; MAX_FRAME];
    let info = encode(1, &Request::Info, &mut buf).unwrap().to_vec();
    assert!(matches!(run(&mut dev, &info)[..], [(1, Response::Info(_))]));
    // Garbage, a truncated frame, an oversized run: one error each, then a good frame works.
    let r = run(&mut dev, b"hello\x00");
    assert!(matches!(r[..], [(0, Response::Error { code: ErrorCode::BadFrame | ErrorCode::BadCrc, .. })]), "{r:?}");
    let mut trunc = info[..info.len() / 2].to_vec();
    trunc.push(0);
    assert!(matches!(run(&mut dev, &trunc)[..], [(0, Response::Error { .. })]));
    let mut big = vec![7u8; 5000];
    big.push(0);
    assert_eq!(run(&mut dev, &big), vec![(0, Response::Error { code: ErrorCode::Oversized, detail: 0 })]);
    let unknown = encode(5, &250u8, &mut buf).unwrap().to_vec();
    assert_eq!(run(&mut dev, &unknown), vec![(5, Response::Error { code: ErrorCode::Unknown, detail: 0 })]);
    let stats = encode(6, &Request::Stats, &mut buf).unwrap().to_vec();
    assert_eq!(run(&mut dev, &stats), vec![(6, Response::Stats(LearnStats::default()))]);
}
