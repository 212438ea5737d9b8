//! Round trips of every message and the decoder's behaviour on hostile input.

use heapless::{String, Vec};
use proptest::prelude::*;
use shinso::optim::Kind;
use shinso_proto::*;

fn decode_all<T: serde::de::DeserializeOwned>(
    dec: &mut Decoder,
    bytes: &[u8],
) -> std::vec::Vec<Result<(u32, T), FrameError>> {
    bytes.iter().filter_map(|&b| dec.feed::<T>(b)).collect()
}

fn round_trip<
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Clone + core::fmt::Debug,
>(
    seq: u32,
    msg: &T,
) {
    let mut buf = [0u8; MAX_FRAME];
    let frame = encode(seq, msg, &mut buf).expect("fits");
    assert!(frame.len() <= MAX_FRAME);
    assert_eq!(*frame.last().unwrap(), 0);
    assert!(!frame[..frame.len() - 1].contains(&0));
    let mut dec = Decoder::new();
    let got = decode_all::<T>(&mut dec, frame);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().unwrap(), &(seq, msg.clone()));
}

fn pixels(seed: u8) -> Pixels {
    let mut p = [0u8; PIXELS];
    for (i, b) in p.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    Pixels(p)
}

fn full_chunk() -> Vec<u8, CHUNK> {
    (0..CHUNK).map(|i| (i % 256) as u8).collect()
}

fn requests() -> std::vec::Vec<Request> {
    vec![
        Request::Info,
        Request::Infer {
            model: 1,
            pixels: pixels(3),
        },
        Request::Infer {
            model: 0,
            pixels: Pixels([255; PIXELS]),
        },
        Request::Learn {
            pixels: pixels(9),
            label: 7,
        },
        Request::Stats,
        Request::Configure {
            optimizer: Kind::Adam,
            lr: 1e-3,
        },
        Request::Configure {
            optimizer: Kind::Sgd,
            lr: 0.1,
        },
        Request::Configure {
            optimizer: Kind::Momentum,
            lr: 0.01,
        },
        Request::Configure {
            optimizer: Kind::AdaGrad,
            lr: 0.01,
        },
        Request::Configure {
            optimizer: Kind::RmsProp,
            lr: 0.01,
        },
        Request::Reset { seed: u64::MAX },
        Request::PushBegin {
            model: 0,
            signature: 0xDEAD_BEEF_0123_4567,
            len: 51_240,
            crc: 0xFFFF_FFFF,
        },
        Request::PushChunk {
            offset: u32::MAX,
            data: full_chunk(),
        },
        Request::PushChunk {
            offset: 0,
            data: Vec::new(),
        },
        Request::PushEnd,
        Request::Pull {
            model: 3,
            offset: 512,
            len: CHUNK as u16,
        },
        Request::SaveCheckpoint,
        Request::CheckpointEvery { steps: u32::MAX },
        Request::CheckpointStatus,
        Request::PullState {
            offset: u32::MAX,
            len: CHUNK as u16,
        },
        Request::RestoreBegin {
            len: u32::MAX,
            crc: u32::MAX,
        },
        Request::FineTune {
            model: u8::MAX,
            pixels: Pixels([255; PIXELS]),
            label: u8::MAX,
        },
        Request::Schedule {
            model: u8::MAX,
            lr: f32::MAX,
            decay_steps: u32::MAX,
        },
    ]
}

fn responses() -> std::vec::Vec<Response> {
    let name = |s: &str| String::<NAME_LEN>::try_from(s).unwrap();
    let model = |id| ModelInfo {
        id,
        name: name("conv-8-16-800-10-xxxxxxx"),
        signature: u64::MAX,
        params: u32::MAX,
        trainable: id == 1,
        ram: u32::MAX,
        heap: u32::MAX,
        arena: u32::MAX,
    };
    vec![
        Response::Ready,
        Response::Info(DeviceInfo {
            protocol: PROTOCOL_VERSION,
            firmware: name("shinso-fw 0.1.0"),
            models: (0..MAX_MODELS as u8).map(model).collect(),
            memory: MemoryBudget {
                flash: u32::MAX,
                ram: 1,
                arena: u32::MAX,
                stack: 2,
                stack_used: 5,
                heap: 3,
                heap_used: 4,
            },
            counter: Counter::Instructions,
            clock_hz: 16_000_000,
        }),
        Response::Inferred {
            class: 9,
            scores: [f32::MIN_POSITIVE; CLASSES],
            count: u64::MAX,
        },
        Response::Learned {
            loss: 2.3,
            predicted_before: 4,
            samples_seen: u32::MAX,
            count: 123,
        },
        Response::Stats(LearnStats {
            samples_seen: 10,
            prequential_correct: 9,
            prequential_accuracy: 0.9,
            last_loss: 0.1,
            rolled_back: 1,
            rx_dropped: u32::MAX,
        }),
        Response::Ok,
        Response::Chunk {
            offset: 7,
            data: full_chunk(),
        },
        Response::Error {
            code: ErrorCode::BadCrc,
            detail: u32::MAX,
        },
        Response::Error {
            code: ErrorCode::RolledBack,
            detail: 0,
        },
        Response::Error {
            code: ErrorCode::Overrun,
            detail: u32::MAX,
        },
        Response::Error {
            code: ErrorCode::Flash,
            detail: 1,
        },
        Response::Checkpoints(CheckpointStatus {
            flash: true,
            state_len: u32::MAX,
            steps: u32::MAX,
            every: u32::MAX,
            latest: Some(u32::MAX),
            resumed: Some(u32::MAX),
            failed: u32::MAX,
        }),
    ]
}

#[test]
fn every_request_round_trips() {
    for (i, r) in requests().iter().enumerate() {
        round_trip(i as u32, r);
        round_trip(u32::MAX, r);
    }
}

#[test]
fn every_response_round_trips() {
    for (i, r) in responses().iter().enumerate() {
        round_trip(i as u32 + 1000, r);
        round_trip(u32::MAX, r);
    }
}

#[test]
fn largest_messages_fit_with_room() {
    let mut buf = [0u8; MAX_FRAME];
    for r in requests() {
        let n = encode(u32::MAX, &r, &mut buf).unwrap().len();
        assert!(n <= MAX_FRAME - 100, "{r:?} takes {n}");
    }
    for r in responses() {
        let n = encode(u32::MAX, &r, &mut buf).unwrap().len();
        assert!(n <= MAX_FRAME - 100, "{r:?} takes {n}");
    }
}

#[test]
fn small_buffer_is_an_error_not_a_panic() {
    for size in 0..64 {
        let mut buf = vec![0u8; size];
        let _ = encode(
            1,
            &Request::Infer {
                model: 0,
                pixels: pixels(1),
            },
            &mut buf,
        );
        let _ = encode(1, &Request::Info, &mut buf);
    }
}

fn frame_of(seq: u32, r: &Request) -> std::vec::Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode(seq, r, &mut buf).unwrap().to_vec()
}

#[test]
fn corrupt_frames_get_the_right_error() {
    let mut dec = Decoder::new();
    let good = frame_of(5, &Request::Stats);

    // A flipped bit in the body: COBS still valid, CRC not.
    let mut bad = good.clone();
    bad[2] ^= 0x40;
    let got = decode_all::<Request>(&mut dec, &bad);
    assert_eq!(
        got,
        vec![Err(FrameError {
            code: ErrorCode::BadCrc,
            seq: 0
        })]
    );

    // Truncated: the start of a frame then a delimiter.
    let mut trunc = good[..3].to_vec();
    trunc.push(0);
    let got = decode_all::<Request>(&mut dec, &trunc);
    assert_eq!(got.len(), 1);
    assert!(matches!(
        got[0],
        Err(FrameError {
            code: ErrorCode::BadFrame | ErrorCode::BadCrc,
            ..
        })
    ));

    // Oversized: MAX_FRAME non-zero bytes, then a delimiter; then a good frame still decodes.
    let mut big = vec![0x55u8; MAX_FRAME * 3];
    big.push(0);
    big.extend_from_slice(&good);
    let got = decode_all::<Request>(&mut dec, &big);
    assert_eq!(
        got,
        vec![
            Err(FrameError {
                code: ErrorCode::Oversized,
                seq: 0
            }),
            Ok((5, Request::Stats))
        ]
    );

    // Valid frame, unknown message (a variant index no Request has): Unknown, with the seq.
    let mut raw = [0u8; MAX_FRAME];
    let f = encode(77, &200u8, &mut raw).unwrap().to_vec();
    let got = decode_all::<Request>(&mut dec, &f);
    assert_eq!(
        got,
        vec![Err(FrameError {
            code: ErrorCode::Unknown,
            seq: 77
        })]
    );

    // Trailing bytes after a valid message are refused too.
    let f = encode(78, &(Request::Info, 1u8), &mut raw)
        .unwrap()
        .to_vec();
    let got = decode_all::<Request>(&mut dec, &f);
    assert_eq!(
        got,
        vec![Err(FrameError {
            code: ErrorCode::Unknown,
            seq: 78
        })]
    );

    // Pixels that do not make an image (783 raw bytes, read as runs, cover 522 pixels).
    let f = encode(79, &(1u8, 0u8, &[1u8; 783][..]), &mut raw)
        .unwrap()
        .to_vec();
    let got = decode_all::<Request>(&mut dec, &f);
    assert_eq!(
        got,
        vec![Err(FrameError {
            code: ErrorCode::Unknown,
            seq: 79
        })]
    );

    // Empty frames are silently skipped.
    assert!(decode_all::<Request>(&mut dec, &[0, 0, 0]).is_empty());
}

#[test]
fn crc_matches_zlib() {
    assert_eq!(shinso::model::crc32(b"123456789"), 0xCBF4_3926);
}

/// Bytes scaled by either of the loaders' formulas come back to themselves.
#[test]
fn pixels_from_unit_floats_round_trip() {
    for scale in [|p: u8| p as f32 / 255.0, |p: u8| p as f32 * (1.0 / 255.0)] {
        let bytes: std::vec::Vec<u8> = (0..PIXELS).map(|i| (i % 256) as u8).collect();
        let unit: std::vec::Vec<f32> = bytes.iter().map(|&p| scale(p)).collect();
        assert_eq!(Pixels::from_unit(&unit).unwrap().0[..], bytes[..]);
    }
    let mut odd = [0.5f32; PIXELS];
    odd[..3].copy_from_slice(&[-1.0, 2.0, f32::NAN]);
    assert_eq!(Pixels::from_unit(&odd).unwrap().0[..4], [0, 255, 0, 128]);
    assert_eq!(Pixels::from_unit(&[0.0; 10]), None);
}

/// The optimizer is the core's `Kind`, and postcard writes it as its index: protocol 2's bytes
/// (Configure is request 4; the rate is a little-endian f32), which older hosts and firmware
/// still send and expect.
#[test]
fn configure_keeps_its_wire_bytes() {
    let mut buf = [0u8; 8];
    for (index, kind) in Kind::ALL.into_iter().enumerate() {
        let bytes = postcard::to_slice(
            &Request::Configure {
                optimizer: kind,
                lr: 0.5,
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(bytes, [4, index as u8, 0x00, 0x00, 0x00, 0x3f], "{kind:?}");
    }
    assert_eq!(
        Kind::ALL,
        [
            Kind::Sgd,
            Kind::Momentum,
            Kind::AdaGrad,
            Kind::RmsProp,
            Kind::Adam
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn byte_soup_never_panics(soup in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut dec = Decoder::new();
        for &b in &soup {
            let _ = dec.feed::<Request>(b);
        }
        let mut dec = Decoder::new();
        for &b in &soup {
            let _ = dec.feed::<Response>(b);
        }
    }

    #[test]
    fn valid_frame_after_garbage_decodes(
        soup in proptest::collection::vec(any::<u8>(), 0..3000),
        which in 0usize..16,
        seq in 1u32..,
    ) {
        let reqs = requests();
        let req = &reqs[which % reqs.len()];
        let mut dec = Decoder::new();
        let mut stream = soup.clone();
        stream.push(0); // ends whatever the garbage started
        stream.extend_from_slice(&frame_of(seq, req));
        let got = decode_all::<Request>(&mut dec, &stream);
        let last = got.last().expect("at least the good frame");
        prop_assert_eq!(last, &Ok((seq, req.clone())));
    }

    #[test]
    fn single_corruption_never_yields_a_different_message(
        which in 0usize..16,
        pos in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let reqs = requests();
        let req = &reqs[which % reqs.len()];
        let mut f = frame_of(9, req);
        let i = pos.index(f.len());
        f[i] ^= flip;
        let mut dec = Decoder::new();
        for (s, m) in decode_all::<Request>(&mut dec, &f).into_iter().flatten() {
            prop_assert!(s == 9 && &m == req, "corruption produced {:?}", m);
        }
    }
}

/// The wire form of an image, as postcard writes it: the byte string after its length.
fn wire(p: &Pixels) -> std::vec::Vec<u8> {
    let mut buf = [0u8; PIXELS + 2];
    let bytes = postcard::to_slice(p, &mut buf).unwrap();
    postcard::from_bytes::<&[u8]>(bytes).unwrap().to_vec()
}

/// A hand-worked image: two ink runs and background; its runs as the module's doc describes.
#[test]
fn pixels_travel_as_runs() {
    let mut p = [0u8; PIXELS];
    p[3..5].copy_from_slice(&[7, 8]);
    p[300] = 9;
    let got = wire(&Pixels(p));
    // 3 zeros, 2 ink (7, 8); 255 zeros, then 40 more and 1 ink (9); 255 + 228 zeros to the end.
    let want = [3, 2, 7, 8, 255, 0, 40, 1, 9, 255, 0, 228, 0];
    assert_eq!(got, want);
    assert_eq!(3 + 2 + 255 + 40 + 1 + 255 + 228, PIXELS);
    // All background: four pairs.
    assert_eq!(wire(&Pixels([0; PIXELS])), [255, 0, 255, 0, 255, 0, 19, 0]);
    // All ink would take 792 bytes as runs: it goes raw, the 784 bytes as they are.
    assert_eq!(wire(&Pixels([255; PIXELS])), [255; PIXELS]);
}

/// Raw images (what protocol 3 hosts send) still decode, and runs that do not cover exactly
/// 784 pixels, or read past their string, are refused.
#[test]
fn pixel_runs_are_checked() {
    let decode = |v: &[u8]| {
        let mut buf = [0u8; PIXELS + 4];
        let msg = postcard::to_slice(&(1u8, 0u8, v), &mut buf).unwrap();
        postcard::from_bytes::<Request>(msg).ok()
    };
    let raw: std::vec::Vec<u8> = (0..PIXELS).map(|i| (i % 256) as u8).collect();
    assert_eq!(
        decode(&raw),
        Some(Request::Infer {
            model: 0,
            pixels: Pixels::from_slice(&raw).unwrap()
        })
    );
    for bad in [
        &[255, 0, 255, 0, 255, 0, 18, 0][..], // 783 pixels
        &[255, 0, 255, 0, 255, 0, 20, 0],     // 785
        &[255, 0, 255, 0, 255, 0, 18, 2, 1],  // the last ink run lacks a pixel
        &[255, 0, 255, 0, 255, 0, 19, 0, 0],  // a stray byte after the runs
        &[255, 255],                          // past the image in one pair
        &[],
    ] {
        assert_eq!(decode(bad), None, "{bad:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any image, sparse or dense, comes back as it was, in no more bytes than raw.
    #[test]
    fn pixels_round_trip(
        ink in proptest::collection::vec((0usize..PIXELS, 1u8..=255), 0..PIXELS),
        dense in any::<bool>(),
    ) {
        let mut p = [if dense { 200 } else { 0 }; PIXELS];
        for (i, v) in ink {
            p[i] = if dense { 0 } else { v };
        }
        let msg = Request::Learn { pixels: Pixels(p), label: 3 };
        round_trip(5, &msg);
        prop_assert!(wire(&Pixels(p)).len() <= PIXELS);
    }
}
