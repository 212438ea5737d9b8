//! The requests a session makes: classify, push and pull weights, evaluate, stream samples to
//! the learner. Nothing the device answers is taken on trust.

use anyhow::{anyhow, bail, Result};
use shinso_link::Push;
use shinso_proto::{self as proto, ErrorCode, Pixels, Request, Response};

use super::session::{device_error, Session, TIMEOUT};
use crate::data::Dataset;
use crate::nets::{Model, Preset, BATCH};
use crate::ui::progress_bar;

/// An image of the data set as the device takes it: the loader's [`crate::data::pixel`] undone
/// (`p · (1/255) · 255` rounds back to `p` for every byte).
pub fn pixels(ds: &Dataset, i: usize) -> Pixels {
    let mut p = [0u8; proto::PIXELS];
    for (o, v) in p.iter_mut().zip(ds.image(i)) {
        *o = (v * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    Pixels(p)
}

pub fn check_images(ds: &Dataset) -> Result<()> {
    if ds.pixels() != proto::PIXELS {
        bail!(
            "the device takes 28×28 images; this data set has {}×{}",
            ds.rows,
            ds.cols
        );
    }
    Ok(())
}

/// One inference on the device. Nothing in the answer is taken on trust: the scores must be
/// finite and the class must be theirs by the core's rule (the one the device uses).
pub fn infer(s: &mut Session, model: u8, p: &Pixels) -> Result<(u8, [f32; 10], u64)> {
    match s.ask(
        "infer",
        &Request::Infer {
            model,
            pixels: p.clone(),
        },
    )? {
        Response::Inferred {
            class,
            scores,
            count,
        } => {
            let want = shinso::class_of(&scores).map_err(|_| {
                anyhow!("infer: the device's scores are NaN or infinite: {scores:?}")
            })?;
            if class as usize != want {
                bail!("infer: the device answered class {class}, but its scores say {want}");
            }
            Ok((class, scores, count))
        }
        r => bail!("infer: unexpected answer {r:?}"),
    }
}

/// Pushes a checked model's parameters; returns the model id. The device must list a model
/// of the same network (signature and size); it checks length, CRC and finiteness again
/// before it swaps the weights in.
pub fn push(s: &mut Session, model: &mut dyn Model, model_id: Option<u8>) -> Result<u8> {
    let (sig, floats) = model.preset().shape();
    let target = match model_id {
        Some(id) => s.model_info(id)?,
        None => s
            .info
            .models
            .iter()
            .find(|m| m.signature == sig)
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "no model on the device is a {} (signature {sig:#018x})",
                    model.preset().name()
                )
            })?,
    };
    if target.signature != sig || target.params as usize != floats {
        bail!(
            "device model {} is {} ({} parameters, signature {:#018x}); the file is a {} ({floats}, {sig:#018x})",
            target.id,
            target.name,
            target.params,
            target.signature,
            model.preset().name()
        );
    }
    let blob = model.save_blob();
    let payload = &blob[shinso::model::HEADER..];
    let pb = progress_bar(payload.len() as u64, "push", false);
    let push = Push::new(target.id, sig, payload);
    let pushed = s
        .link
        .push(&push, TIMEOUT, |sent| pb.set_position(sent as u64));
    pb.finish_and_clear();
    pushed.map_err(|e| s.transfer_failed(e))?;
    Ok(target.id)
}

/// A model's parameters as a device blob (with the core's header). Its size comes from the
/// host's own knowledge of the network the device names by signature, not from the device's
/// word; every chunk must be the next one and no longer than asked; the blob is checked whole
/// (CRC, finiteness) before it is returned.
pub fn pull(s: &mut Session, model_id: u8) -> Result<Vec<u8>> {
    let m = s.model_info(model_id)?;
    let preset = Preset::by_signature(m.signature).ok_or_else(|| {
        anyhow!(
            "device model {model_id} ({}) has signature {:#018x}, no network this host knows: its size cannot be checked",
            m.name,
            m.signature
        )
    })?;
    let floats = preset.shape().1;
    if m.params as usize != floats {
        bail!(
            "the device says model {model_id} has {} parameters, but its signature is {}'s, which has {floats}",
            m.params,
            preset.name()
        );
    }
    let pb = progress_bar(4 * floats as u64, "pull", false);
    let pulled = s.link.pull(model_id, 4 * floats, TIMEOUT, |read| {
        pb.set_position(read as u64)
    });
    pb.finish_and_clear();
    let payload = pulled.map_err(|e| s.transfer_failed(e))?;
    let crc = shinso::model::crc32(&payload);
    let mut blob = shinso::model::header(m.signature, floats, crc).to_vec();
    blob.extend_from_slice(&payload);
    preset
        .build()
        .load_blob(&blob)
        .map_err(|e| anyhow!("pull: the device's weights: {e}"))?;
    Ok(blob)
}

pub struct EvalResult {
    pub n: usize,
    pub accuracy: f64,
    pub agreement: Option<f64>,
    /// Fraction of images whose ten scores are the host's, bit for bit.
    pub identical: Option<f64>,
    pub count: u64,
}

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
    let host_scores = match host {
        Some(m) => Some(host_scores(m, &test.images[..n * proto::PIXELS])?),
        None => None,
    };
    let pb = progress_bar(n as u64, "eval", !progress);
    let (mut correct, mut agree, mut identical, mut total_count) = (0usize, 0, 0, 0u64);
    for i in 0..n {
        let (class, scores, cost) = infer(s, model, &pixels(test, i))?;
        correct += (class == test.labels[i]) as usize;
        if let Some(h) = &host_scores {
            agree += (shinso::class_of(&h[i]).ok() == Some(class as usize)) as usize;
            identical += (h[i].map(f32::to_bits) == scores.map(f32::to_bits)) as usize;
        }
        total_count += cost;
        pb.inc(1);
        if i % 50 == 49 {
            pb.set_message(format!("accuracy {:.4}", correct as f64 / (i + 1) as f64));
        }
    }
    pb.finish_and_clear();
    Ok(EvalResult {
        n,
        accuracy: correct as f64 / n.max(1) as f64,
        agreement: host_scores.as_ref().map(|_| agree as f64 / n.max(1) as f64),
        identical: host_scores.map(|_| identical as f64 / n.max(1) as f64),
        count: total_count / n.max(1) as u64,
    })
}

/// The host model's class probabilities for `images`, computed as the device computes its
/// scores (the network's logits, then softmax), so that the two can be compared bit for bit.
fn host_scores(m: &mut dyn Model, images: &[f32]) -> Result<Vec<[f32; 10]>> {
    let mut logits = vec![0.0f32; images.len() / proto::PIXELS * 10];
    let batch = BATCH;
    for (x, y) in images
        .chunks(batch * proto::PIXELS)
        .zip(logits.chunks_mut(batch * 10))
    {
        m.predict(x, y).map_err(|e| anyhow!("host model: {e}"))?;
    }
    Ok(logits
        .chunks_exact(10)
        .map(|row| {
            let mut p = [0.0; 10];
            shinso::Loss::SoftmaxCrossEntropy.output(row, &mut p);
            p
        })
        .collect())
}

pub struct LearnResult {
    /// Steps the device took.
    pub learned: usize,
    /// Steps it refused as not finite and undid.
    pub rolled_back: usize,
    /// Prequential accuracy over the learned steps, and over their last quarter.
    pub prequential: f64,
    pub last_quarter: f64,
    pub count: u64,
    pub samples_seen: u32,
}

/// Streams the training images `range` to the device as `request` makes them (a learner's
/// `Learn`, a pushed model's `FineTune`), counting what the device says it did.
/// A rolled-back step is the device protecting its model: counted, and the stream goes on; if
/// it rolls back every one, the learner is stuck and that is an error.
pub fn learn(
    s: &mut Session,
    train: &Dataset,
    range: std::ops::Range<usize>,
    progress: bool,
    request: &dyn Fn(Pixels, u8) -> Request,
) -> Result<LearnResult> {
    check_images(train)?;
    let n = range.len();
    let pb = progress_bar(n as u64, "learn", !progress);
    let (mut hits, mut rolled_back, mut total_count, mut seen) =
        (Vec::with_capacity(n), 0usize, 0u64, 0u32);
    for i in range {
        let label = train.labels[i];
        let req = request(pixels(train, i), label);
        match s.link.request(&req, TIMEOUT) {
            Err(e) => return Err(s.link_failed(e)),
            Ok(Response::Learned {
                predicted_before,
                count,
                samples_seen,
                ..
            }) => {
                if predicted_before as usize >= proto::CLASSES {
                    bail!("learn: the device predicted class {predicted_before}, which does not exist");
                }
                hits.push(predicted_before == label);
                total_count += count;
                seen = samples_seen;
            }
            Ok(Response::Error {
                code: ErrorCode::RolledBack,
                ..
            }) => rolled_back += 1,
            Ok(Response::Error { code, detail }) => {
                return Err(device_error("learn", code, detail))
            }
            Ok(r) => bail!("learn: unexpected answer {r:?}"),
        }
        pb.inc(1);
        if hits.len() % 50 == 0 && !hits.is_empty() {
            let last = &hits[hits.len().saturating_sub(500)..];
            pb.set_message(format!(
                "prequential {:.3}",
                last.iter().filter(|&&h| h).count() as f64 / last.len() as f64
            ));
        }
    }
    pb.finish_and_clear();
    if hits.is_empty() {
        bail!(
            "learn: the device rolled back all {rolled_back} steps (not finite): the learner is stuck; reset it, or configure a smaller rate"
        );
    }
    let rate = |h: &[bool]| h.iter().filter(|&&x| x).count() as f64 / h.len().max(1) as f64;
    Ok(LearnResult {
        learned: hits.len(),
        rolled_back,
        prequential: rate(&hits),
        last_quarter: rate(&hits[hits.len() - hits.len() / 4..]),
        count: total_count / hits.len() as u64,
        samples_seen: seen,
    })
}
