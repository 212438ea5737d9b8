//! The model blob (save / load round trip, and every kind of bad blob refused with the right
//! error and the network left unchanged), bad inputs as errors, and the memory plan.

use shinso::model::{self, blob_len, crc32, HEADER};
use shinso::{
    stack, Affine, Error, Init, Layer, Loss, Memory, Mode, Network, ReLU, Rule, SigmoidLayer,
    WeightDecay,
};

type Net = stack![Affine<4, 6, 3>, ReLU<[f32; 6], 3>, Affine<6, 2, 3>];
/// Same sizes, another activation: same blob length, different signature.
type Other = stack![Affine<4, 6, 3>, SigmoidLayer<[f32; 6], 3>, Affine<6, 2, 3>];

fn net(seed: u64) -> Box<Network<Net>> {
    let mut n = Network::<Net>::boxed();
    n.init(Init::He, seed);
    n
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
    assert_eq!(a.predict(&x).unwrap(), b.predict(&x).unwrap());
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
    // The header's float count disagreeing with the network: reported as such (not as a
    // length that equals the one expected).
    let mut lying = good.clone();
    lying[16..20].copy_from_slice(&1000u32.to_le_bytes());
    refused(
        &lying,
        Error::BlobCount {
            expected: (expected - HEADER) / 4,
            found: 1000,
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
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let x = [[0.0, 1.0, bad, 0.5], [0.0; 4]];
        assert_eq!(n.predict(&x).err(), Some(Error::NonFiniteInput));
        assert_eq!(
            n.forward(&x, Mode::Train).err(),
            Some(Error::NonFiniteInput)
        );
        let r = n.train_step(
            &x,
            &t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
        );
        assert_eq!(r, Err(Error::NonFiniteInput));
        // A bad target too.
        let good_x = [[0.0; 4]; 2];
        let bad_t = [[bad, 0.0], [1.0, 0.0]];
        let r = n.train_step(&good_x, &bad_t, Loss::Mse, WeightDecay::default(), &mut opt);
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
    let r = n.train_step(
        &x,
        &[[0.0, 0.0]],
        Loss::Mse,
        WeightDecay::default(),
        &mut opt,
    );
    assert!(
        matches!(r, Err(Error::NonFiniteLoss) | Err(Error::NonFiniteGradient)),
        "{r:?}"
    );
    assert_eq!(opt.steps(), 0);
    assert_eq!(blob_of(&mut n), before);
}

#[test]
fn memory_plan() {
    type Mlp = stack![Affine<784, 40, 100>, ReLU<[f32; 40], 100>, Affine<40, 10, 100>];
    const P: usize = 784 * 40 + 40 + 40 * 10 + 10;
    assert_eq!(Network::<Mlp>::PARAMS, P);
    assert_eq!(Network::<Mlp>::OUTPUTS, 10);
    let m: Memory = Network::<Mlp>::memory(&Rule::adam(0.001));
    assert_eq!(m.params, 4 * P);
    assert_eq!(m.grads, 4 * P);
    assert_eq!(m.state, 0);
    assert_eq!(m.optimizer, 2 * 4 * P);
    // Activations: the two inner activations and their gradients (40 each per sample), the
    // network output and its gradient (10 each), for 100 samples.
    assert_eq!(m.activations, 4 * 100 * (2 * 40 + 2 * 40 + 2 * 10));
    assert_eq!(
        m.total(),
        m.params + m.grads + m.state + m.activations + m.optimizer
    );
    assert_eq!(Network::<Mlp>::memory(&Rule::sgd(0.1)).optimizer, 0);
    assert_eq!(
        Network::<Mlp>::memory(&Rule::momentum(0.1)).optimizer,
        4 * P
    );
    // The network struct holds parameters and activations; gradients and optimizer state
    // live in the optimizer's buffer.
    assert!(std::mem::size_of::<Network<Mlp>>() >= m.params + m.activations);
    assert!(std::mem::size_of::<Network<Mlp>>() < m.params + m.grads + m.activations);
    assert_eq!(4 * Rule::adam(0.001).buffer_len(P), m.grads + m.optimizer);
    assert_eq!(blob_len::<Mlp>(), HEADER + 4 * P);
}

/// Signatures tell networks apart by kind and size, and are stable across builds.
#[test]
fn signatures_differ() {
    let sigs = [
        <Affine<4, 6, 3>>::SIGNATURE,
        <Affine<6, 4, 3>>::SIGNATURE,
        <Affine<4, 6, 5>>::SIGNATURE, // batch size is not part of the blob layout
        Net::SIGNATURE,
        Other::SIGNATURE,
    ];
    assert_ne!(sigs[0], sigs[1]);
    assert_eq!(sigs[0], sigs[2]);
    assert_ne!(sigs[3], sigs[4]);
    assert_ne!(sigs[0], sigs[3]);
}

/// A batch the network cannot take is a runtime input like any other: it should be refused
/// with an error, not panic (`x.len() > B`) or silently compute a wrong gradient (fewer
/// targets than samples leaves the output gradient of the last samples stale from the previous
/// call).
#[test]
fn batch_size_mismatch_is_an_error() {
    let mut n = net(5);
    let before = blob_of(&mut n);
    let mut grads = vec![0.0; Network::<Net>::PARAMS];
    let x = [[0.5, -0.5, 0.25, 1.0]; 3];
    let too_few = [[1.0, 0.0]; 2];
    let r = n.gradients(&x, &too_few, Loss::Mse, WeightDecay::default(), &mut grads);
    assert!(r.is_err(), "3 samples with 2 targets gave {r:?}");
    let mut opt = shinso_tests::optimizer::<Net>(Rule::sgd(0.1));
    let r = n.train_step(&x, &too_few, Loss::Mse, WeightDecay::default(), &mut opt);
    assert!(
        r.is_err(),
        "train_step, 3 samples with 2 targets, gave {r:?}"
    );
    assert_eq!(blob_of(&mut n), before);

    let four = [[0.5, -0.5, 0.25, 1.0]; 4]; // B = 3
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        n.predict(&four).map(|o| o.len())
    }));
    assert!(
        matches!(r, Ok(Err(_))),
        "4 samples into a network of batch capacity 3 did not give an error"
    );
}
