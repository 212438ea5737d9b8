//! The requests a session makes: classify, push and pull weights, evaluate, stream samples to
//! a learner. Nothing the device answers is taken on trust ([`shinso_link::answer`]).

use std::ops::Range;

use anyhow::{anyhow, bail, Result};
use shinso_link::{pixels, target, Inferred, Push, Tally};
use shinso_proto::{self as proto, ModelInfo, Pixels, Request};

use super::session::{Session, TIMEOUT};
use crate::data::Dataset;
use crate::nets::{Model, Preset, BATCH};
use crate::ui::progress_bar;

pub fn check_images(ds: &Dataset) -> Result<()> {
    if ds.pixels() != proto::PIXELS {
        let (rows, cols) = (ds.rows, ds.cols);
        bail!("the device takes 28×28 images; this data set has {rows}×{cols}");
    }
    Ok(())
}

/// Image `i` of `ds` classified by device model `model` (its answer checked).
pub fn infer(s: &mut Session, model: u8, ds: &Dataset, i: usize) -> Result<Inferred> {
    let pixels = pixels(ds.image(i));
    s.ask("infer", &Request::Infer { model, pixels })
}

/// Pushes a checked model's parameters; returns the model id. The device must list a model
/// of the same network (signature and size); it checks length, CRC and finiteness again
/// before it swaps the weights in.
pub fn push(s: &mut Session, model: &mut dyn Model, model_id: Option<u8>) -> Result<u8> {
    let (sig, floats) = model.preset().shape();
    let net = (model.preset().name(), sig, floats);
    let id = target(&s.info, model_id, net).map_err(|e| anyhow!(e))?.id;
    let blob = model.save_blob();
    // The device takes the core's blob without its header.
    let push = Push::new(id, sig, &blob[shinso::model::HEADER..]);
    s.transfer("push", push.payload.len(), |link, progress| {
        link.push(&push, TIMEOUT, progress)
    })?;
    Ok(id)
}

/// A model's parameters as a device blob (with the core's header). Its size comes from the
/// host's own knowledge of the network the device names by signature, not from the device's
/// word; every chunk must be the next one and no longer than asked; the blob is checked whole
/// (CRC, finiteness) before it is returned.
pub fn pull(s: &mut Session, model_id: u8) -> Result<Vec<u8>> {
    let preset = preset_of(&s.model_info(model_id)?)?;
    let (sig, floats) = preset.shape();
    target(&s.info, Some(model_id), (preset.name(), sig, floats)).map_err(|e| anyhow!(e))?;
    let payload = s.transfer("pull", 4 * floats, |link, progress| {
        link.pull(model_id, 4 * floats, TIMEOUT, progress)
    })?;
    let (_, blob) =
        load_payload(preset, &payload).map_err(|e| anyhow!("pull: the device's weights: {e}"))?;
    Ok(blob)
}

/// The network of a device model, which this host must know to check its size.
pub fn preset_of(m: &ModelInfo) -> Result<Preset> {
    Preset::by_signature(m.signature).ok_or_else(|| {
        anyhow!(
            "device model {} ({}) has signature {:#018x}, no network this host knows: its size cannot be checked",
            m.id, m.name, m.signature
        )
    })
}

/// `payload` (a device blob) as a blob of `preset`'s network with the core's header, checked
/// whole (size, finiteness, what the network's layers require) by loading it; and the model.
pub fn load_payload(preset: Preset, payload: &[u8]) -> Result<(Box<dyn Model>, Vec<u8>)> {
    let (sig, floats) = preset.shape();
    let crc = shinso::model::crc32(payload);
    let blob = [&shinso::model::header(sig, floats, crc)[..], payload].concat();
    let mut model = preset.build();
    model.load_blob(&blob)?;
    Ok((model, blob))
}

pub struct EvalResult {
    pub n: usize,
    pub accuracy: f64,
    /// With a host model: the fraction of images it classifies as the device does, and the
    /// fraction whose ten scores are its, bit for bit.
    pub agreement: Option<(f64, f64)>,
    pub count: u64,
}

/// Device model `model` on the first `n` images of `test`, and how often it agrees with
/// `host` (by class, and by the scores' bits).
pub fn eval(
    s: &mut Session,
    model: u8,
    test: &Dataset,
    n: usize,
    host: Option<&mut dyn Model>,
    progress: bool,
) -> Result<EvalResult> {
    check_images(test)?;
    s.model_info(model)?;
    let n = n.min(test.len());
    let host_scores = host
        .map(|m| host_scores(m, &test.images[..n * proto::PIXELS]))
        .transpose()?;
    let pb = progress_bar(n as u64, "eval", !progress);
    let (mut correct, mut agree, mut identical, mut total_count) = (0usize, 0, 0, 0u64);
    for i in 0..n {
        let r = infer(s, model, test, i)?;
        correct += (r.class == test.labels[i]) as usize;
        if let Some(h) = &host_scores {
            agree += (shinso::class_of(&h[i]).ok() == Some(r.class as usize)) as usize;
            identical += (h[i].map(f32::to_bits) == r.scores.map(f32::to_bits)) as usize;
        }
        total_count += r.count;
        pb.inc(1);
        if i % 50 == 49 {
            pb.set_message(format!("accuracy {:.4}", correct as f64 / (i + 1) as f64));
        }
    }
    pb.finish_and_clear();
    let rate = |k: usize| k as f64 / n.max(1) as f64;
    Ok(EvalResult {
        n,
        accuracy: rate(correct),
        agreement: host_scores.map(|_| (rate(agree), rate(identical))),
        count: total_count / n.max(1) as u64,
    })
}

/// The host model's class probabilities for `images`, computed as the device computes its
/// scores (the network's logits, then softmax), so that the two can be compared bit for bit.
fn host_scores(m: &mut dyn Model, images: &[f32]) -> Result<Vec<[f32; 10]>> {
    let mut logits = vec![0.0f32; images.len() / proto::PIXELS * 10];
    let batches = images.chunks(BATCH * proto::PIXELS);
    for (x, y) in batches.zip(logits.chunks_mut(BATCH * 10)) {
        m.predict(x, y).map_err(|e| anyhow!("host model: {e}"))?;
    }
    let softmax = |row: &[f32]| {
        let mut p = [0.0; 10];
        shinso::Loss::SoftmaxCrossEntropy.output(row, &mut p);
        p
    };
    Ok(logits.chunks_exact(10).map(softmax).collect())
}

/// Who learns from a stream of labelled images.
#[derive(Clone, Copy)]
pub enum Student {
    /// The device's online learner (`Learn`).
    Learner,
    /// A pushed model's last layer (`FineTune`).
    LastLayer(u8),
}

impl Student {
    fn request(self, pixels: Pixels, label: u8) -> Request {
        match self {
            Student::Learner => Request::Learn { pixels, label },
            Student::LastLayer(model) => Request::FineTune {
                model,
                pixels,
                label,
            },
        }
    }
}

/// Streams the training images `range` to `student`, counting what the device says it did
/// ([`Tally::record`]); if it rolls back every step, the learner is stuck and that is an error.
pub fn learn(
    s: &mut Session,
    student: Student,
    train: &Dataset,
    range: Range<usize>,
    progress: bool,
) -> Result<Tally> {
    check_images(train)?;
    let pb = progress_bar(range.len() as u64, "learn", !progress);
    let mut tally = Tally::default();
    for i in range {
        let label = train.labels[i];
        let answer = s.answer(&student.request(pixels(train.image(i)), label))?;
        tally
            .record(label, answer)
            .map_err(|e| anyhow!("learn: {e}"))?;
        pb.inc(1);
        let n = tally.learned();
        if n % 50 == 0 && n > 0 {
            let recent = tally.accuracy(n.saturating_sub(500)..);
            pb.set_message(format!("prequential {recent:.3}"));
        }
    }
    pb.finish_and_clear();
    if tally.learned() == 0 {
        bail!(
            "learn: the device rolled back all {} steps (not finite): the learner is stuck; reset it, or configure a smaller rate",
            tally.rolled_back
        );
    }
    Ok(tally)
}
