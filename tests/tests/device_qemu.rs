//! End to end under QEMU: the firmware built with `--features qemu` boots on the emulated
//! STM32F405 (`qemu-system-arm -machine netduinoplus2`) and is driven over USART1's
//! pseudo-terminal: the protocol scenario with garbage, truncated and oversized frames; weights
//! trained here pushed to it; 500 test images inferred there, their
//! scores bit-identical to the host's; 1,000 samples learned there, then 100 with each update
//! rule, its weights bit-identical to the core's own training on the host; its memory budget,
//! part by part, compared with the ELF.
//!
//! Needs `qemu-system-arm` (Debian package `qemu-system-arm`) and the `thumbv7em-none-eabihf`
//! target; fails with a clear message without them.

use shinso::{zoo, Init, Loss, Network, Optimizer, Rule, WeightDecay};
mod common;

use common::pixels;
use shinso_host::data::Dataset;
use shinso_link::{build_firmware, check_memory, scenario, Link, Push, Qemu};
use shinso_proto::{Counter, ErrorCode, Request, Response, MAX_FRAME};
use std::time::{Duration, Instant};

type Net = zoo::DoubleConvNet;

/// Image `i` as the host's loader scaled it, in the network's input shape.
fn input(set: &Dataset, i: usize) -> [[[f32; 28]; 28]; 1] {
    let mut x = [[[0f32; 28]; 28]; 1];
    bytemuck::cast_slice_mut(&mut x).copy_from_slice(set.image(i));
    x
}

/// One epoch of the device's inference net on the host (Adam, batch 50): a real model to push.
fn train_on_host(train: &Dataset) -> Vec<u8> {
    const B: usize = 50;
    let mut net = Network::<Net>::boxed();
    net.configure(&Default::default());
    net.init(Init::He, 1);
    let rule = Rule::adam(0.002);
    let params = Network::<Net>::PARAMS;
    let mut opt = Optimizer::new(rule, params, vec![0.0; rule.state_len(params)]).unwrap();
    let mut arena = vec![0.0; Network::<Net>::train_arena(B)];
    for start in (0..train.len() - B + 1).step_by(B) {
        let x: Vec<_> = (start..start + B).map(|i| input(train, i)).collect();
        let t: Vec<_> = (start..start + B)
            .map(|i| shinso::one_hot::<10>(train.labels[i] as usize))
            .collect();
        net.train_step(
            &x,
            &t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
            &mut arena,
        )
        .unwrap();
    }
    let mut blob = vec![0u8; shinso::model::blob_len::<Net>()];
    net.save(&mut blob).unwrap();
    blob
}

fn garbage(link: &mut Link, n: usize) {
    let junk: Vec<u8> = match n % 3 {
        0 => b"\x00line noise\x00".to_vec(),
        1 => vec![0x42; 3 * MAX_FRAME + 1]
            .into_iter()
            .chain([0])
            .collect(),
        _ => vec![0x03, 0x11, 0x22, 0x00],
    };
    link.send_raw(&junk).unwrap();
    match link.recv(Duration::from_secs(10)).unwrap() {
        (
            0,
            Response::Error {
                code: ErrorCode::BadFrame | ErrorCode::BadCrc | ErrorCode::Oversized,
                ..
            },
        ) => {}
        r => panic!("garbage {n}: {r:?}"),
    }
}

#[test]
fn firmware_in_qemu_end_to_end() {
    let (train, test) = common::bundled();
    let t0 = Instant::now();
    let elf = build_firmware().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("firmware ready in {:.1?}", t0.elapsed());
    let qemu = Qemu::boot(&elf).unwrap_or_else(|e| panic!("{e}"));
    let mut link = Link::open(&qemu.pty).expect("open QEMU's pty");
    let t = Duration::from_secs(30);

    // The protocol scenario (boot, Ready, Info, hostile frames, push/pull, infer, learn).
    let t1 = Instant::now();
    let report = scenario::run(&mut link, t, 200).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("scenario in {:.1?}", t1.elapsed());
    let info = &report.info;
    assert_eq!(
        (info.counter, info.clock_hz),
        (Counter::Instructions, 16_000_000)
    );
    // A model trained on the host, pushed.
    let t2 = Instant::now();
    let blob = train_on_host(&train);
    eprintln!("host training (1 epoch) in {:.1?}", t2.elapsed());
    let payload = &blob[shinso::model::HEADER..];
    let sig = <Net as shinso::Layer>::SIGNATURE;
    assert_eq!(info.models[0].signature, sig);
    link.push(&Push::new(0, sig, payload), t, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));

    // 500 test images on the device and on the host.
    let mut host = Network::<Net>::boxed();
    let mut arena = vec![0.0; Network::<Net>::predict_arena(1)];
    host.configure(&Default::default());
    host.load(&blob).unwrap();
    let (mut agree, mut correct, mut count) = (0, 0, 0u64);
    let t3 = Instant::now();
    for i in 0..500 {
        if i % 250 == 125 {
            garbage(&mut link, i);
        }
        let mut want = [0f32; 10];
        let logits = host.predict(&[input(&test, i)], &mut arena).unwrap()[0];
        Loss::SoftmaxCrossEntropy.output(&logits, &mut want);
        match link
            .request(
                &Request::Infer {
                    model: 0,
                    pixels: pixels(&test, i),
                },
                t,
            )
            .unwrap()
        {
            Response::Inferred {
                class,
                scores,
                count: c,
            } => {
                agree += (scores.map(f32::to_bits) == want.map(f32::to_bits)) as usize;
                correct += (class == test.labels[i]) as usize;
                count = c;
            }
            r => panic!("image {i}: {r:?}"),
        }
    }
    eprintln!("500 inferences in {:.1?}: bit-identical scores {agree}/500, accuracy {correct}/500, {count} instructions each", t3.elapsed());
    assert_eq!(agree, 500, "device and host scores are the same bits");

    // 1,000 samples learned on the device, garbage in between; prequential accuracy rises
    // (the demo streams 2,000, the pty test the whole 10,000).
    let t4 = Instant::now();
    assert_eq!(
        link.request(&Request::Reset { seed: 3 }, t).unwrap(),
        Response::Ok
    );
    let mut hits = Vec::new();
    for i in 0..1000 {
        if i % 400 == 200 {
            garbage(&mut link, i);
        }
        match link
            .request(
                &Request::Learn {
                    pixels: pixels(&train, i),
                    label: train.labels[i],
                },
                t,
            )
            .unwrap()
        {
            Response::Learned {
                predicted_before,
                loss,
                count: c,
                ..
            } => {
                assert!(loss.is_finite());
                hits.push(predicted_before == train.labels[i]);
                count = c;
            }
            r => panic!("sample {i}: {r:?}"),
        }
    }
    let rate = |s: &[bool]| s.iter().filter(|&&h| h).count() as f64 / s.len() as f64;
    let (first, last) = (rate(&hits[..250]), rate(&hits[750..]));
    eprintln!("1000 learning steps in {:.1?}: prequential {first:.3} → {last:.3}, {count} instructions each", t4.elapsed());
    assert!(
        last > first + 0.2 && last > 0.75,
        "prequential accuracy {first} → {last}"
    );
    let Response::Stats(s) = link.request(&Request::Stats, t).unwrap() else {
        panic!()
    };
    assert_eq!(s.samples_seen, 1000);

    // 100 steps with each update rule: the learner's weights are the core's on the host, bit
    // for bit (the device computes with the same code in the same order).
    let t5 = Instant::now();
    scenario::every_rule_matches_the_core(&mut link, 100, t).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "5 × 100 steps bit-identical to the host in {:.1?}",
        t5.elapsed()
    );

    // The memory budget once every kind of request has run, against the ELF.
    let Response::Info(info) = link.request(&Request::Info, t).unwrap() else {
        panic!()
    };
    let total = check_memory(&info, &elf).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "networks, optimizer state, arena and stack: {total} B of {} B",
        192 * 1024
    );

    // The host survives a device that goes away: an error within the timeout, no hang.
    drop(qemu);
    let t6 = Instant::now();
    assert!(link
        .request(&Request::Info, Duration::from_secs(3))
        .is_err());
    assert!(t6.elapsed() < Duration::from_secs(10));
}

/// Requests written back to back, without waiting for answers, can overflow the device's
/// receive queue: bytes are dropped and frames merge. None is lost in silence: every request
/// is answered at most once, the first frame after a drop is answered `Overrun` with the bytes
/// lost, and `Stats` counts the same total.
#[test]
fn flooded_device_reports_what_it_dropped() {
    let (_, test) = common::bundled();
    let elf = build_firmware().unwrap_or_else(|e| panic!("{e}"));
    let qemu = Qemu::boot(&elf).unwrap_or_else(|e| panic!("{e}"));
    let mut link = Link::open(&qemu.pty).expect("open QEMU's pty");
    let t = Duration::from_secs(30);
    link.connect(t).unwrap();

    // 40 learning steps (about 32 KB) in one write: far more than the queue's two frames,
    // arriving while the device computes.
    let n = 40u32;
    let mut flood = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    for seq in 1000..1000 + n {
        let req = Request::Learn {
            pixels: pixels(&test, seq as usize),
            label: test.labels[seq as usize],
        };
        flood.extend_from_slice(shinso_proto::encode(seq, &req, &mut buf).unwrap());
    }
    link.send_raw(&flood).unwrap();
    // A lone delimiter ends whatever partial frame the device still holds.
    let (mut answered, mut overruns, mut reported) = (Vec::new(), 0, 0u32);
    let mut collect = |link: &mut Link| {
        while let Ok((seq, r)) = link.recv(Duration::from_secs(5)) {
            match r {
                Response::Error {
                    code: ErrorCode::Overrun,
                    detail,
                } => {
                    overruns += 1;
                    reported += detail;
                }
                Response::Learned { .. } => answered.push(seq),
                Response::Error { .. } => {}
                r => panic!("seq {seq}: {r:?}"),
            }
        }
    };
    collect(&mut link);
    link.send_raw(&[0]).unwrap();
    collect(&mut link);
    let Response::Stats(s) = link.request(&Request::Stats, t).unwrap() else {
        panic!("no stats")
    };
    eprintln!(
        "{n} requests at once: {} answered, {overruns} overrun replies, {} bytes dropped",
        answered.len(),
        s.rx_dropped
    );
    let mut unique = answered.clone();
    unique.dedup();
    assert_eq!(unique, answered, "a request answered twice");
    // Whether the queue overflows depends on how fast QEMU feeds the receiver (the app's own
    // test drops bytes on purpose); when it does, it is never silent.
    if answered.len() < n as usize || s.rx_dropped > 0 {
        assert!(overruns > 0, "requests were lost and no frame said so");
    }
    assert_eq!(reported, s.rx_dropped, "Overrun replies and Stats disagree");
}
