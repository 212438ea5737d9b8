//! The model blob (save / load round trip, and every kind of bad blob refused with the right
//! error and the network left unchanged), the payload read and written in chunks at offsets,
//! the one header writer, bad inputs as errors, and the memory plan.

use shinso::model::{self, blob_len, crc32, payload_len, HEADER};
use shinso::{
    stack, Affine, BatchNorm1d, Error, Init, Layer, Loss, Memory, Network, ReLU, Rule,
    SigmoidLayer, Toggle, WeightDecay,
};

type Net = stack![Affine<4, 6>, ReLU<[f32; 6]>, Affine<6, 2>];
/// Same sizes, another activation: same blob length, different signature.
type Other = stack![Affine<4, 6>, SigmoidLayer<[f32; 6]>, Affine<6, 2>];

fn net(seed: u64) -> Box<Network<Net>> {
    let mut n = Network::<Net>::boxed();
    n.init(Init::He, seed);
    n
}

/// An arena for `n` samples of [`Net`], whatever the call.
fn arena(n: usize) -> Vec<f32> {
    shinso_tests::train_arena::<Net>(n)
}

fn blob_of(n: &mut Network<Net>) -> Vec<u8> {
    let mut blob = vec![0u8; blob_len::<Net>()];
    assert_eq!(n.save(&mut blob), Ok(blob.len()));
    blob
}

/// Rewrite the CRC so that only the intended defect remains.
fn fix_crc(blob: &mut [u8]) {
    let crc = crc32(&blob[HEADER..]);
    blob[20..24].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn round_trip() {
    let mut a = net(1);
    let blob = blob_of(&mut a);
    assert_eq!(blob.len(), HEADER + 4 * (4 * 6 + 6 + 6 * 2 + 2));
    assert_eq!(&blob[0..4], b"SHNS");
    assert_eq!(u16::from_le_bytes([blob[4], blob[5]]), 1);
    assert_eq!(
        u64::from_le_bytes(blob[8..16].try_into().unwrap()),
        Net::SIGNATURE
    );
    assert_eq!(
        u32::from_le_bytes(blob[16..20].try_into().unwrap()) as usize,
        Network::<Net>::PARAMS
    );
    // The payload is the parameters in visit order, little-endian.
    let p = shinso_tests::params(&mut a.layers);
    for (i, v) in p.iter().enumerate() {
        assert_eq!(blob[HEADER + 4 * i..HEADER + 4 * i + 4], v.to_le_bytes());
    }
    let mut b = net(2);
    assert_ne!(shinso_tests::params(&mut b.layers), p);
    b.load(&blob).unwrap();
    assert_eq!(shinso_tests::params(&mut b.layers), p);
    let x = [[0.1, -0.2, 0.3, 0.4]];
    let (mut wa, mut wb) = (arena(1), arena(1));
    assert_eq!(
        a.predict(&x, &mut wa).unwrap(),
        b.predict(&x, &mut wb).unwrap()
    );
    // A larger output buffer is fine; the length written is returned.
    let mut big = vec![0u8; blob.len() + 10];
    assert_eq!(a.save(&mut big), Ok(blob.len()));
    assert_eq!(&big[..blob.len()], &blob[..]);
}

/// Load `bad` into a network and expect `err`, with the network unchanged.
#[track_caller]
fn refused(bad: &[u8], err: Error) {
    let mut n = net(7);
    let before = blob_of(&mut n);
    assert_eq!(n.load(bad), Err(err));
    assert_eq!(model::check::<Net>(bad), Err(err));
    assert_eq!(
        blob_of(&mut n),
        before,
        "a refused blob changed the network"
    );
}

#[test]
fn bad_blobs_are_refused_and_change_nothing() {
    let good = blob_of(&mut net(1));
    let expected = good.len();

    // Wrong length: truncated, extended, empty, header only.
    refused(
        &good[..expected - 4],
        Error::BlobLength {
            expected,
            found: expected - 4,
        },
    );
    let mut longer = good.clone();
    longer.extend([0; 4]);
    refused(
        &longer,
        Error::BlobLength {
            expected,
            found: expected + 4,
        },
    );
    refused(&[], Error::BlobLength { expected, found: 0 });
    refused(
        &good[..HEADER - 1],
        Error::BlobLength {
            expected,
            found: HEADER - 1,
        },
    );
    refused(
        &good[..HEADER],
        Error::BlobLength {
            expected,
            found: HEADER,
        },
    );
    // The length field disagreeing with the actual length.
    let mut lying = good.clone();
    lying[16..20].copy_from_slice(&1000u32.to_le_bytes());
    refused(
        &lying,
        Error::BlobLength {
            expected,
            found: expected,
        },
    );

    // Wrong signature: a blob of another network of the very same length.
    let mut other = Network::<Other>::boxed();
    other.init(Init::Xavier, 1);
    let mut foreign = vec![0u8; blob_len::<Other>()];
    other.save(&mut foreign).unwrap();
    assert_eq!(foreign.len(), expected);
    refused(
        &foreign,
        Error::WrongSignature {
            expected: Net::SIGNATURE,
            found: Other::SIGNATURE,
        },
    );

    // Bad CRC: one flipped payload bit.
    let mut corrupt = good.clone();
    corrupt[HEADER + 5] ^= 0x10;
    let stored = u32::from_le_bytes(good[20..24].try_into().unwrap());
    refused(
        &corrupt,
        Error::BadChecksum {
            expected: stored,
            found: crc32(&corrupt[HEADER..]),
        },
    );

    // NaN and infinity, with a valid CRC.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut blob = good.clone();
        blob[HEADER + 8..HEADER + 12].copy_from_slice(&bad.to_le_bytes());
        fix_crc(&mut blob);
        refused(&blob, Error::NonFiniteParameter);
    }

    // Bad magic, unknown version.
    let mut magic = good.clone();
    magic[0] = b'X';
    refused(&magic, Error::BadMagic);
    let mut version = good.clone();
    version[4..6].copy_from_slice(&2u16.to_le_bytes());
    refused(&version, Error::BadVersion(2));
}

#[test]
fn save_into_a_small_buffer() {
    let mut n = net(1);
    let mut small = vec![0u8; blob_len::<Net>() - 1];
    assert_eq!(
        n.save(&mut small),
        Err(Error::BufferTooSmall {
            needed: blob_len::<Net>()
        })
    );
}

#[test]
fn non_finite_input_is_an_error() {
    let mut n = net(3);
    let before = blob_of(&mut n);
    let mut opt = shinso_tests::optimizer::<Net>(Rule::adam(0.01));
    let t = [[1.0, 0.0]; 2];
    let (mut w, decay) = (arena(2), WeightDecay::default());
    let mut grads = vec![0.0; Network::<Net>::PARAMS];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let x = [[0.0, 1.0, bad, 0.5], [0.0; 4]];
        assert_eq!(n.predict(&x, &mut w).err(), Some(Error::NonFiniteInput));
        let r = n.gradients(&x, &t, Loss::Mse, decay, &mut grads, &mut w);
        assert_eq!(r, Err(Error::NonFiniteInput));
        let r = n.train_step(&x, &t, Loss::SoftmaxCrossEntropy, decay, &mut opt, &mut w);
        assert_eq!(r, Err(Error::NonFiniteInput));
        // A bad target too.
        let good_x = [[0.0; 4]; 2];
        let bad_t = [[bad, 0.0], [1.0, 0.0]];
        let r = n.train_step(&good_x, &bad_t, Loss::Mse, decay, &mut opt, &mut w);
        assert_eq!(r, Err(Error::NonFiniteInput));
    }
    assert_eq!(opt.steps(), 0);
    assert_eq!(
        blob_of(&mut n),
        before,
        "a refused step changed the network"
    );
}

/// Finite inputs so large that the loss overflows: the step is refused, parameters kept.
#[test]
fn overflowing_loss_is_an_error() {
    let mut n = net(4);
    let before = blob_of(&mut n);
    let mut opt = shinso_tests::optimizer::<Net>(Rule::sgd(0.1));
    let x = [[3e38, 3e38, 3e38, 3e38]];
    let decay = WeightDecay::default();
    let r = n.train_step(&x, &[[0.0, 0.0]], Loss::Mse, decay, &mut opt, &mut arena(1));
    assert!(
        matches!(
            r,
            Err(Error::NonFiniteLoss | Error::NonFiniteGradient | Error::NonFiniteUpdate)
        ),
        "{r:?}"
    );
    assert_eq!(opt.steps(), 0);
    assert_eq!(blob_of(&mut n), before);
}

#[test]
fn memory_plan() {
    type Mlp = stack![Affine<784, 40>, ReLU<[f32; 40]>, Affine<40, 10>];
    const P: usize = 784 * 40 + 40 + 40 * 10 + 10;
    assert_eq!(Network::<Mlp>::PARAMS, P);
    assert_eq!((Network::<Mlp>::INPUTS, Network::<Mlp>::OUTPUTS), (784, 10));
    let m: Memory = Network::<Mlp>::memory(&Rule::adam(0.001), 100);
    assert_eq!(m.params, 4 * P);
    assert_eq!(m.state, 0);
    assert_eq!(m.optimizer, 2 * 4 * P);
    // Per sample a training step keeps the two inner activations (40 each) for backward and
    // needs their gradients (40 each) as scratch, and the output and its gradient (10 each);
    // then the gradients, once.
    let per_sample = 2 * 40 + 2 * 40 + 2 * 10;
    assert_eq!(Network::<Mlp>::gradients_arena(100), 100 * per_sample);
    assert_eq!(Network::<Mlp>::train_arena(100), P + 100 * per_sample);
    assert_eq!(m.arena, 4 * (P + 100 * per_sample));
    // Inference: the output, and one inner activation at a time beside the previous one.
    assert_eq!(Network::<Mlp>::predict_arena(100), 100 * (10 + 40 + 40));
    assert_eq!(m.total(), m.params + m.state + m.optimizer + m.arena);
    assert_eq!(Network::<Mlp>::memory(&Rule::sgd(0.1), 1).optimizer, 0);
    assert_eq!(
        Network::<Mlp>::memory(&Rule::momentum(0.1), 1).optimizer,
        4 * P
    );
    // The network holds its parameters and nothing else.
    assert_eq!(std::mem::size_of::<Network<Mlp>>(), m.params);
    assert_eq!(blob_len::<Mlp>(), HEADER + 4 * P);
}

/// Signatures tell networks apart by kind and size, and are stable across builds.
#[test]
fn signatures_differ() {
    let sigs = [
        <Affine<4, 6>>::SIGNATURE,
        <Affine<6, 4>>::SIGNATURE,
        Net::SIGNATURE,
        Other::SIGNATURE,
    ];
    assert_ne!(sigs[0], sigs[1]);
    assert_ne!(sigs[2], sigs[3]);
    assert_ne!(sigs[0], sigs[2]);
}

/// Targets that do not match the samples one for one are refused with an error, not a
/// silently wrong gradient, and change nothing.
#[test]
fn batch_size_mismatch_is_an_error() {
    let mut n = net(5);
    let before = blob_of(&mut n);
    let mut grads = vec![0.0; Network::<Net>::PARAMS];
    let x = [[0.5, -0.5, 0.25, 1.0]; 3];
    let too_few = [[1.0, 0.0]; 2];
    let (mut w, decay) = (arena(3), WeightDecay::default());
    let r = n.gradients(&x, &too_few, Loss::Mse, decay, &mut grads, &mut w);
    let mismatch = Error::BatchSize {
        samples: 3,
        targets: 2,
    };
    assert_eq!(r, Err(mismatch));
    let mut opt = shinso_tests::optimizer::<Net>(Rule::sgd(0.1));
    let r = n.train_step(&x, &too_few, Loss::Mse, decay, &mut opt, &mut w);
    assert_eq!(r, Err(mismatch));
    assert_eq!(blob_of(&mut n), before);
}

// ------------------------------------------------------------------ payload and header

/// A network with state floats too (batch norm's running statistics), so the payload is
/// parameters and state interleaved in visit order.
type WithState = stack![Affine<3, 5>, Toggle<BatchNorm1d<5>>, Affine<5, 2>];

fn with_state(seed: u64) -> Box<Network<WithState>> {
    let mut n = Network::<WithState>::boxed();
    n.configure(&shinso::Knobs {
        batch_norm: true,
        ..Default::default()
    });
    n.init(Init::He, seed);
    // Distinct running statistics, so that a misplaced state float shows.
    let mut k = 0.0;
    n.layers.visit(&mut |t: shinso::Tensor<'_>| {
        if !t.kind.trainable() {
            t.value.iter_mut().for_each(|v| {
                k += 0.25;
                *v = k;
            });
        }
    });
    n
}

/// Reading any byte range gives the blob's payload bytes, at any offset and length (odd ones
/// included); writing whole-float chunks in any order rebuilds the network exactly.
#[test]
fn payload_chunks_round_trip() {
    let mut a = with_state(1);
    let mut blob = vec![0u8; blob_len::<WithState>()];
    a.save(&mut blob).unwrap();
    let payload = &blob[HEADER..];
    let len = payload_len::<WithState>();
    assert_eq!(len, payload.len());
    assert_eq!(len, 4 * (WithState::PARAMS + WithState::STATE));
    for (offset, n) in [
        (0, len),
        (0, 1),
        (3, 5),
        (7, 13),
        (len - 3, 3),
        (len, 0),
        (1, 44),
    ] {
        let mut out = vec![0xAA; n];
        a.read_payload(offset, &mut out).unwrap();
        assert_eq!(out, payload[offset..offset + n], "read {offset}+{n}");
    }
    // Chunks of 12 bytes, written back to front into another network.
    let mut b = with_state(2);
    let offsets: Vec<usize> = (0..len).step_by(12).collect();
    for &o in offsets.iter().rev() {
        let end = (o + 12).min(len);
        b.write_payload(o, &payload[o..end]).unwrap();
    }
    let mut again = vec![0u8; blob.len()];
    b.save(&mut again).unwrap();
    assert_eq!(again, blob);
    // The CRC computed float by float is the blob's.
    assert_eq!(model::payload_crc(&mut b.layers), crc32(payload));
}

/// Ranges outside the payload, writes that are not whole floats and non-finite floats are
/// errors, and a refused write changes nothing.
#[test]
fn bad_payload_ranges_are_refused() {
    let mut n = with_state(3);
    let len = payload_len::<WithState>();
    let mut before = vec![0u8; blob_len::<WithState>()];
    n.save(&mut before).unwrap();
    let range = |offset, len_| Error::PayloadRange {
        offset,
        len: len_,
        payload: len,
    };
    let mut out = [0u8; 8];
    assert_eq!(n.read_payload(len - 4, &mut out), Err(range(len - 4, 8)));
    assert_eq!(
        n.read_payload(usize::MAX, &mut out),
        Err(range(usize::MAX, 8))
    );
    assert_eq!(n.write_payload(2, &[0; 8]), Err(range(2, 8)));
    assert_eq!(n.write_payload(4, &[0; 6]), Err(range(4, 6)));
    assert_eq!(n.write_payload(len, &[0; 4]), Err(range(len, 4)));
    let mut chunk = [0u8; 12];
    chunk[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(n.write_payload(8, &chunk), Err(Error::NonFiniteParameter));
    let mut after = vec![0u8; before.len()];
    n.save(&mut after).unwrap();
    assert_eq!(after, before, "a refused write changed the network");
}

/// The one header writer: magic, version, reserved zeros, signature, float count, CRC, as
/// `save` writes them (and as the table in `model`'s docs says, byte by byte).
#[test]
fn header_layout() {
    let h = model::header(0x0102_0304_0506_0708, 0x0A0B, 0xDEAD_BEEF);
    let want: [u8; HEADER] = [
        b'S', b'H', b'N', b'S', 1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 0x0B, 0x0A, 0, 0, 0xEF, 0xBE,
        0xAD, 0xDE,
    ];
    assert_eq!(h, want);
    let mut n = net(9);
    let blob = blob_of(&mut n);
    let floats = Network::<Net>::PARAMS;
    let h = model::header(Net::SIGNATURE, floats, crc32(&blob[HEADER..]));
    assert_eq!(blob[..HEADER], h);
}
