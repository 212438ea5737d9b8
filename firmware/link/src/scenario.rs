//! The end-to-end checks every device backend (pty emulation, QEMU, a board) must pass.

use crate::{Answer, Inferred, Learned, Link, LinkError, Push, Tally, TransferError};
use shinso::{model, optim::Kind, Init, Layer, Loss, Network, Rng as SplitMix64};
use shinso_app::{augment::shifted, InferNet};
use shinso_proto::{
    self as proto, Counter, DeviceInfo, ErrorCode, LearnStats, Pixels, Request, Response, CLASSES,
    MAX_FRAME, PIXELS,
};
use std::time::Duration;

/// What the scenario measured.
#[derive(Debug)]
pub struct Report {
    /// The device's `Info`.
    pub info: DeviceInfo,
    /// Cost of one inference (model 0).
    pub infer_count: u64,
    /// Cost of one learning step (the average over the stream).
    pub learn_count: u64,
    /// Prequential accuracy over the first and the last quarter of the learning stream.
    pub prequential: (f32, f32),
}

type R<T> = Result<T, String>;

fn ask(link: &mut Link, req: &Request, t: Duration) -> R<Response> {
    link.request(req, t)
        .map_err(|e: LinkError| format!("{req:?}: {e}"))
}

/// `req`'s answer of the kind `T`, checked ([`Answer`]).
fn answer<T: Answer>(link: &mut Link, req: &Request, t: Duration) -> R<T> {
    T::take(ask(link, req, t)?).map_err(|e| format!("{req:?}: {e}"))
}

fn expect_ok(link: &mut Link, req: &Request, t: Duration) -> R<()> {
    answer(link, req, t)
}

fn expect_error(link: &mut Link, req: &Request, code: ErrorCode, t: Duration) -> R<()> {
    match ask(link, req, t)? {
        Response::Error { code: c, .. } if c == code => Ok(()),
        r => Err(format!("{req:?}: expected {code:?}, got {r:?}")),
    }
}

/// Sends raw bytes that are not a valid frame and expects one error frame back, with one of
/// `codes`.
fn inject(link: &mut Link, what: &str, bytes: &[u8], codes: &[ErrorCode], t: Duration) -> R<()> {
    link.send_raw(bytes).map_err(|e| e.to_string())?;
    loop {
        match link.recv(t).map_err(|e| format!("{what}: {e}"))? {
            (_, Response::Ready) => continue,
            (_, Response::Error { code, .. }) if codes.contains(&code) => return Ok(()),
            r => return Err(format!("{what}: expected one of {codes:?}, got {r:?}")),
        }
    }
}

/// Ten noisy prototypes: a stand-in for MNIST that any working learner separates quickly.
pub fn synthetic(rng: &mut SplitMix64, protos: &[[u8; PIXELS]; CLASSES]) -> (Pixels, u8) {
    let label = (rng.next_u64() % CLASSES as u64) as u8;
    let mut p = protos[label as usize];
    for px in p.iter_mut() {
        if rng.next_u64().is_multiple_of(10) {
            *px = (rng.next_u64() & 0xFF) as u8;
        }
    }
    (Pixels(p), label)
}

/// The prototypes [`synthetic`] draws from.
pub fn prototypes(seed: u64) -> [[u8; PIXELS]; CLASSES] {
    let mut rng = SplitMix64::new(seed);
    let mut protos = [[0u8; PIXELS]; CLASSES];
    for p in protos.iter_mut() {
        for px in p.iter_mut() {
            *px = if rng.next_u64().is_multiple_of(4) {
                255
            } else {
                0
            };
        }
    }
    protos
}

/// An image of 784 floats in `[0, 1]` (as the host's data loader gives it to the core) as the
/// device takes it: [`input`] undone (`p · (1/255) · 255` rounds back to `p` for every byte).
pub fn pixels(image: &[f32]) -> Pixels {
    let mut p = [0u8; PIXELS];
    for (o, v) in p.iter_mut().zip(image) {
        *o = (v * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    Pixels(p)
}

/// An image as the host's data loader gives it to the core (784 floats of `p · (1/255)`, in the array shape
/// `T`), computed here rather than with the device's code.
pub fn input<T: bytemuck::Pod>(pixels: &Pixels) -> T {
    let mut x = T::zeroed();
    let floats: &mut [f32] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut x));
    for (v, &p) in floats.iter_mut().zip(pixels.0.iter()) {
        *v = p as f32 * (1.0 / 255.0);
    }
    x
}

/// Configures the device's learner with `optimizer` at rate `lr`, resets it from `seed`,
/// streams `steps` samples to it, and checks that its losses and its pulled weights are, bit
/// for bit, those of the core's own training step on the host with the same rule, seed and
/// samples, each moved as the learner moves it (`shinso_app::augment`).
pub fn learner_matches_the_core(
    link: &mut Link,
    optimizer: Kind,
    lr: f32,
    steps: usize,
    t: Duration,
) -> R<()> {
    type Net = shinso_app::LearnNet;
    let seed = 17;
    let rule = optimizer.rule(lr);
    let mut host = Network::<Net>::boxed();
    host.configure(&Default::default());
    host.init(Init::He, seed);
    let params = Network::<Net>::PARAMS;
    let mut opt = shinso::Optimizer::new(rule, params, vec![0.0; rule.state_len(params)])
        .map_err(|e| e.to_string())?;
    let mut arena = vec![0.0; Network::<Net>::train_arena(1)];
    expect_ok(link, &Request::Configure { optimizer, lr }, t)?;
    expect_ok(link, &Request::Reset { seed }, t)?;
    let (mut rng, protos) = (SplitMix64::new(seed), prototypes(seed));
    for step in 0..steps {
        let (pixels, label) = synthetic(&mut rng, &protos);
        // `Reset` started the learner's step count again: its step `step` learns from the
        // image moved by that step's move.
        let x: <Net as Layer>::In = input(&Pixels(shifted(&pixels.0, step as u32)));
        let target: <Net as Layer>::Out =
            bytemuck::cast(shinso::one_hot::<CLASSES>(label as usize));
        let want = host
            .train_step(
                &[x],
                &[target],
                Loss::SoftmaxCrossEntropy,
                Default::default(),
                &mut opt,
                &mut arena,
            )
            .map_err(|e| format!("{optimizer:?} step {step} on the host: {e}"))?;
        let got: Learned = answer(link, &Request::Learn { pixels, label }, t)?;
        if got.loss.to_bits() != want.to_bits() {
            return Err(format!(
                "{optimizer:?} step {step}: device {got:?}, host loss {want}"
            ));
        }
    }
    let mut saved = vec![0u8; model::blob_len::<Net>()];
    host.save(&mut saved).map_err(|e| e.to_string())?;
    let want = &saved[model::HEADER..];
    let got = link
        .pull(1, want.len(), t, |_| {})
        .map_err(|e| e.to_string())?;
    match got.chunks(4).zip(want.chunks(4)).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{optimizer:?}: after {steps} steps parameter {i} is {} on the device, {} on the host",
            f32::from_le_bytes(got[4 * i..4 * i + 4].try_into().unwrap()),
            f32::from_le_bytes(want[4 * i..4 * i + 4].try_into().unwrap()),
        )),
    }
}

/// [`learner_matches_the_core`] with every update rule, each at its default rate.
pub fn every_rule_matches_the_core(link: &mut Link, steps: usize, t: Duration) -> R<()> {
    for kind in Kind::ALL {
        learner_matches_the_core(link, kind, kind.default_lr(), steps, t)?;
    }
    Ok(())
}

/// Runs every check; `t` is the timeout for one request.
pub fn run(link: &mut Link, t: Duration, learn_steps: usize) -> R<Report> {
    link.wait_ready(Duration::from_secs(30))
        .map_err(|e| format!("waiting for Ready: {e}"))?;

    // Info.
    let info: DeviceInfo = answer(link, &Request::Info, t)?;
    if info.protocol != proto::PROTOCOL_VERSION || info.models.len() < 2 {
        return Err(format!("unexpected Info: {info:?}"));
    }

    // Hostile input between valid requests: each gets an error, and the link recovers.
    let mut buf = [0u8; MAX_FRAME];
    let stats = proto::encode(77, &Request::Stats, &mut buf)
        .unwrap()
        .to_vec();
    inject(
        link,
        "garbage",
        b"\x00hello, device\x00",
        &[ErrorCode::BadFrame, ErrorCode::BadCrc],
        t,
    )?;
    let mut trunc = stats[..stats.len() - 3].to_vec();
    trunc.push(0);
    inject(
        link,
        "truncated frame",
        &trunc,
        &[ErrorCode::BadFrame, ErrorCode::BadCrc],
        t,
    )?;
    let mut flipped = stats.clone();
    flipped[1] ^= 0x10;
    inject(
        link,
        "corrupt frame",
        &flipped,
        &[ErrorCode::BadFrame, ErrorCode::BadCrc],
        t,
    )?;
    let mut big = vec![0x55u8; 3 * MAX_FRAME];
    big.push(0);
    inject(link, "oversized frame", &big, &[ErrorCode::Oversized], t)?;
    let unknown = proto::encode(78, &250u8, &mut buf).unwrap().to_vec();
    inject(link, "unknown message", &unknown, &[ErrorCode::Unknown], t)?;
    // A frame cut short and never delimited, then a valid request: the decoder sees one long
    // corrupt frame (answered with an error), then the request after the next delimiter.
    link.send_raw(&stats[..5]).map_err(|e| e.to_string())?;
    match ask(link, &Request::Info, t)? {
        Response::Error { .. } => {}
        r => {
            return Err(format!(
                "half frame + Info: expected an error first, got {r:?}"
            ))
        }
    }
    answer::<DeviceInfo>(link, &Request::Info, t)?;

    // Weight transfer to model 0: a valid push, then refused ones that must not change it.
    // The weights are the core's own network, He-initialised on the host.
    type Host = shinso::zoo::DoubleConvNet;
    let mut arena = vec![0.0; Network::<Host>::predict_arena(1)];
    let mut host_model = Network::<Host>::boxed();
    host_model.configure(&Default::default());
    host_model.init(Init::He, 99);
    let mut saved = vec![0u8; model::blob_len::<Host>()];
    host_model.save(&mut saved).map_err(|e| e.to_string())?;
    let blob = saved[model::HEADER..].to_vec();
    let mut rng = SplitMix64::new(99);
    let net = (
        "double-convnet",
        <InferNet as Layer>::SIGNATURE,
        blob.len() / 4,
    );
    let m0 = crate::target(&info, Some(0), net)?.clone();
    let blob_len = blob.len();
    link.push(&Push::new(0, m0.signature, &blob), t, |_| {})
        .map_err(|e| format!("push: {e}"))?;
    let mut other = blob.clone();
    other[100] ^= 1;
    let lying = Push {
        crc: model::crc32(&blob),
        ..Push::new(0, m0.signature, &other)
    };
    match link.push(&lying, t, |_| {}) {
        Err(TransferError::Refused {
            code: ErrorCode::BadBlobCrc,
            ..
        }) => {}
        r => return Err(format!("push with a bad CRC: {r:?}")),
    }
    expect_error(
        link,
        &Request::PushBegin {
            model: 0,
            signature: m0.signature ^ 1,
            len: blob_len as u32,
            crc: 0,
        },
        ErrorCode::BadSignature,
        t,
    )?;
    expect_error(link, &Request::PushEnd, ErrorCode::NoPush, t)?;
    if link
        .pull(0, blob_len, t, |_| {})
        .map_err(|e| e.to_string())?
        != blob
    {
        return Err("pulled weights differ from the pushed ones".into());
    }

    // Inference agrees with the same model on the host.
    let protos = prototypes(5);
    let mut infer_count = 0;
    for i in 0..20 {
        let (pixels, _) = synthetic(&mut rng, &protos);
        let logits = host_model
            .predict(&[input(&pixels)], &mut arena)
            .map_err(|e| e.to_string())?[0];
        let mut want = [0f32; CLASSES];
        Loss::SoftmaxCrossEntropy.output(&logits, &mut want);
        let req = Request::Infer {
            model: 0,
            pixels: pixels.clone(),
        };
        // Checked as every answer is (finite scores, the class theirs); then the same network
        // computed by the same code: the same bits.
        let got: Inferred = answer(link, &req, t)?;
        if got.scores.map(f32::to_bits) != want.map(f32::to_bits) {
            return Err(format!(
                "image {i}: device {:?} vs host {want:?}",
                got.scores
            ));
        }
        infer_count = got.count;
    }
    expect_error(
        link,
        &Request::Infer {
            model: 9,
            pixels: Pixels::default(),
        },
        ErrorCode::NoSuchModel,
        t,
    )?;

    // Online learning.
    expect_error(
        link,
        &Request::Configure {
            optimizer: Kind::Sgd,
            lr: f32::NAN,
        },
        ErrorCode::NonFinite,
        t,
    )?;
    expect_error(
        link,
        &Request::Configure {
            optimizer: Kind::Sgd,
            lr: f32::INFINITY,
        },
        ErrorCode::NonFinite,
        t,
    )?;
    expect_error(
        link,
        &Request::Learn {
            pixels: Pixels::default(),
            label: 10,
        },
        ErrorCode::BadValue,
        t,
    )?;
    expect_ok(
        link,
        &Request::Configure {
            optimizer: Kind::Adam,
            lr: 0.002,
        },
        t,
    )?;
    expect_ok(link, &Request::Reset { seed: 1 }, t)?;
    let mut tally = Tally::default();
    for step in 0..learn_steps {
        let (pixels, label) = synthetic(&mut rng, &protos);
        let got: Learned = answer(link, &Request::Learn { pixels, label }, t)?;
        if !got.loss.is_finite() || got.samples_seen as usize != step + 1 {
            return Err(format!("step {step}: {got:?}"));
        }
        tally.add(label, &got);
        // Garbage in the middle of the stream changes nothing.
        if step == learn_steps / 2 {
            inject(
                link,
                "garbage while learning",
                b"\x01\x02\x03\x00",
                &[ErrorCode::BadFrame, ErrorCode::BadCrc],
                t,
            )?;
        }
    }
    let q = learn_steps / 4;
    let quarter = |r: std::ops::Range<usize>| tally.accuracy(r) as f32;
    let prequential = (quarter(0..q), quarter(learn_steps - q..learn_steps));
    let (stats, want): (LearnStats, _) = (answer(link, &Request::Stats, t)?, tally.accuracy(..));
    if stats.samples_seen as usize != learn_steps
        || (stats.prequential_accuracy as f64 - want).abs() > 1e-4
    {
        return Err(format!(
            "Stats {stats:?}, but the host counted {learn_steps} samples at {want}"
        ));
    }
    if prequential.1 <= prequential.0 || prequential.1 < 0.6 {
        return Err(format!(
            "prequential accuracy did not rise: {prequential:?}"
        ));
    }
    let learn_count = tally.per_step();
    if info.counter != Counter::None && (infer_count == 0 || learn_count == 0) {
        return Err(format!("{:?} counter reported 0", info.counter));
    }
    Ok(Report {
        info,
        infer_count,
        learn_count,
        prequential,
    })
}
