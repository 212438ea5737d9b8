//! The device's application logic on the host, behind a pseudo-terminal pair (no QEMU): the
//! protocol scenario, and the online learner's promise on the bundled MNIST.
//!
//! Firmware pieces: `firmware/app` (the logic), `firmware/link` (client, pty emulation).

use shinso::optim::Kind;
mod common;

use common::pixels;
use shinso_link::{emulate_on_pty, scenario, Link};
use shinso_proto::{Request, Response};
use std::time::Duration;

#[test]
fn app_over_a_pty_passes_the_scenario() {
    let emu = emulate_on_pty().expect("openpty");
    let mut link = Link::open(&emu.path).expect("open the pty");
    let report =
        scenario::run(&mut link, Duration::from_secs(10), 600).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.prequential.1 > report.prequential.0, "{report:?}");
    assert_eq!(link.host_decode_errors, 0);
}

/// 200 learning steps with each update rule: the learner's losses and weights are the core's
/// own training step's, bit for bit.
#[test]
fn learner_is_the_core_bit_for_bit_with_every_rule() {
    let emu = emulate_on_pty().expect("openpty");
    let mut link = Link::open(&emu.path).expect("open the pty");
    let t = Duration::from_secs(10);
    link.connect(t).unwrap();
    scenario::every_rule_matches_the_core(&mut link, 200, t).unwrap_or_else(|e| panic!("{e}"));
}

/// One streamed pass over the 10,000 bundled training images, one sample at a time with Adam
/// at 0.003 decaying linearly to 0 over the pass (the demo's recipe, a `Schedule` on the
/// device), each step learning from its image moved by one pixel (`shinso_app::augment`),
/// then the official test set through the learner: it reaches the 0.97 (0.9719;
/// 0.9689 without the moves).
#[test]
fn online_learner_reaches_097_after_one_pass() {
    let (train, test) = common::bundled();
    let emu = emulate_on_pty().expect("openpty");
    let mut link = Link::open(&emu.path).expect("open the pty");
    let t = Duration::from_secs(10);
    link.connect(t).unwrap();
    assert_eq!(
        link.request(
            &Request::Configure {
                optimizer: Kind::Adam,
                lr: 0.003
            },
            t
        )
        .unwrap(),
        Response::Ok
    );
    assert_eq!(
        link.request(&Request::Reset { seed: 42 }, t).unwrap(),
        Response::Ok
    );
    let decay = Request::Schedule {
        model: 1,
        lr: 0.003,
        decay_steps: train.len() as u32,
    };
    assert_eq!(link.request(&decay, t).unwrap(), Response::Ok);
    for i in 0..train.len() {
        let r = link
            .request(
                &Request::Learn {
                    pixels: pixels(&train, i),
                    label: train.labels[i],
                },
                t,
            )
            .unwrap();
        assert!(matches!(r, Response::Learned { .. }), "sample {i}: {r:?}");
    }
    let Response::Stats(stats) = link.request(&Request::Stats, t).unwrap() else {
        panic!()
    };
    let mut correct = 0;
    for i in 0..test.len() {
        match link
            .request(
                &Request::Infer {
                    model: 1,
                    pixels: pixels(&test, i),
                },
                t,
            )
            .unwrap()
        {
            Response::Inferred { class, .. } => correct += (class == test.labels[i]) as usize,
            r => panic!("{r:?}"),
        }
    }
    let accuracy = correct as f64 / test.len() as f64;
    eprintln!(
        "online learner: prequential {:.4}, test {accuracy:.4}",
        stats.prequential_accuracy
    );
    assert_eq!(stats.samples_seen as usize, train.len());
    assert!(accuracy >= 0.97, "test accuracy {accuracy}");
}

/// Images travel as runs of background and ink (`shinso_proto::Pixels`): over the official
/// test set an `Infer` frame averages about a quarter of what the raw image makes (under 30 %
/// asserted), and no image's frame is larger than raw.
#[test]
fn test_images_travel_in_a_quarter_of_their_raw_bytes() {
    use shinso_proto::{encode, MAX_FRAME, PIXELS};
    let (_, test) = common::bundled();
    let mut buf = [0u8; MAX_FRAME];
    let mut frame = |pixels| {
        let infer = Request::Infer { model: 0, pixels };
        encode(1, &infer, &mut buf).unwrap().len()
    };
    let raw = frame(shinso_proto::Pixels([255; PIXELS]));
    let sizes: Vec<usize> = (0..test.len()).map(|i| frame(pixels(&test, i))).collect();
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let most = *sizes.iter().max().unwrap();
    eprintln!("Infer frames: mean {mean:.1} B, largest {most} B, raw {raw} B");
    assert!(
        mean < 0.3 * raw as f64 && most <= raw,
        "{mean} {most} {raw}"
    );
}
