//! The learner's whole state (weights, update rule, optimizer state, step count) out of the
//! device into a file and back (`shinso device checkpoint`, `restore`; `save` puts it into the
//! device's own flash).
//!
//! The file is a safetensors model file of the learner's network, as `shinso train` writes it
//! (so `shinso eval` and every other model command load it), with the optimizer's state as one
//! more tensor, `optimizer.state` (F32, flat, [`Optimizer::state`](shinso::Optimizer::state)'s
//! order), which model loaders skip ([`safetensors::EXTRA`]), and in the metadata
//! `learner_state` (the layout's version), `steps`, `optimizer` (`sgd` … `adam`), `schedule`
//! (the rate's first value, the steps it decays over, the steps it has counted) and
//! `hyperparameters` (the rule's four numbers, lr first, as the device's state header holds
//! them; [`shinso_app::slot::state`]). Floats are stored as they are, so a backup restored
//! and pulled again is the same, bit for bit.

use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, bail, ensure, Result};
use shinso::optim::Kind;
use shinso_app::schedule::Schedule;
use shinso_app::slot::state::{self, Header};
use shinso_proto::{CheckpointStatus, Request};

use super::session::{load_payload, preset_of, Session, TIMEOUT};
use crate::io as model_file;
use crate::io::safetensors::{self, Metadata, EXTRA};
use crate::nets::Preset;

/// The optimizer state's tensor in a learner file.
const OPT_TENSOR: &str = "optimizer.state";

/// An update rule as files and the command line name it (`adagrad`).
pub(super) fn rule_name(kind: Kind) -> String {
    use clap::ValueEnum;
    kind.to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// What the device says of its checkpoints, in a line.
pub(super) fn describe(c: &CheckpointStatus) -> String {
    let seq = |s: Option<u32>| s.map_or("none".to_string(), |n| n.to_string());
    let every = match c.every {
        0 => "only on request".to_string(),
        n => format!("every {n} steps"),
    };
    format!(
        "learner at step {} ({} bytes of state); newest checkpoint in flash {}, resumed at boot from {}; saves {every}, {} failed since boot",
        c.steps, c.state_len, seq(c.latest), seq(c.resumed), c.failed
    )
}

/// The network of the device's learner (its trainable model), which this host must know.
pub(super) fn learner_preset(s: &Session) -> Result<Preset> {
    let models = &s.info.models;
    let learner = models.iter().find(|m| m.trainable);
    preset_of(learner.ok_or_else(|| anyhow!("the device has no learner"))?)
}

/// The learner's state, its length bounded by what the host knows of the network (the
/// hungriest rule keeps two floats per parameter) rather than taken on the device's word.
pub(super) fn pull_state(s: &mut Session, preset: Preset) -> Result<Vec<u8>> {
    let status: CheckpointStatus = s.ask("checkpoint status", &Request::CheckpointStatus)?;
    let len = status.state_len as usize;
    let (_, floats) = preset.shape();
    let most = state::HEADER + 4 * (floats + 2 * preset.params());
    let name = preset.name();
    ensure!(
        (state::HEADER..=most).contains(&len),
        "the device's learner state is {len} bytes; a {name} learner's is at most {most}"
    );
    let request = |offset, len| Request::PullState { offset, len };
    s.transfer("checkpoint", len, |link, progress| {
        link.fetch(len, request, TIMEOUT, progress)
    })
}

/// The learner file for `state` (checked: header, lengths, finite weights), and its header.
pub fn to_file(state: &[u8], preset: Preset) -> Result<(Vec<u8>, Header)> {
    let h = Header::parse(state, preset.params())
        .map_err(|e| anyhow!("the learner's state has a bad header ({e:?})"))?;
    let (sig, floats) = preset.shape();
    if h.signature != sig || h.net_floats as usize != floats || state.len() != h.state_len() {
        let (name, len, theirs) = (preset.name(), state.len(), h.signature);
        bail!("the learner's state is not a {name}'s ({len} bytes, signature {theirs:#018x})");
    }
    let (net, opt) = state[state::HEADER..].split_at(4 * floats);
    let (mut model, _) =
        load_payload(preset, net).map_err(|e| anyhow!("the learner's weights: {e}"))?;
    let (_, hyper) = state::rule_words(h.rule);
    let sch = h.schedule;
    let schedule = format!("{:?} {} {}", sch.lr, sch.decay_steps, sch.step);
    let meta: Metadata = [
        ("learner_state", state::VERSION.to_string()),
        ("steps", h.steps.to_string()),
        ("optimizer", rule_name(h.rule.kind())),
        ("hyperparameters", hyper.map(|v| format!("{v:?}")).join(" ")),
        ("schedule", schedule),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into();
    let opt_tensor = (OPT_TENSOR.into(), vec![h.opt_floats as usize], opt.to_vec());
    let file = safetensors::encode_model(&mut *model, &meta, vec![opt_tensor])?;
    Ok((file, h))
}

/// The learner's state bytes from a file [`to_file`] wrote: the model as every model command
/// loads it, then the optimizer's tensor and the metadata, checked as the device will.
pub fn from_file(path: &Path, preset: Preset) -> Result<Vec<u8>> {
    let at = |e: String| anyhow!("{}: {e}", path.display());
    let loaded = model_file::load(path, Some(preset), None)?;
    let key = |k: &str| {
        loaded.meta.get(k).map(String::as_str)
            .ok_or_else(|| at(format!("no {k:?} in the metadata: not a learner checkpoint (shinso device checkpoint writes them)")))
    };
    let (version, want) = (key("learner_state")?, state::VERSION);
    if version != want.to_string() {
        return Err(at(format!(
            "learner_state {version:?}: this build reads version {want}"
        )));
    }
    let steps = (key("steps")?.parse()).map_err(|_| at("steps must be a whole number".into()))?;
    let name = key("optimizer")?;
    let tag = (Kind::ALL.iter().position(|&k| rule_name(k) == name))
        .ok_or_else(|| at(format!("unknown optimizer {name:?}")))?;
    let hyper: [f32; 4] = words(key("hyperparameters")?)
        .ok_or_else(|| at("hyperparameters must be four numbers".into()))?;
    let rule = state::rule_of(tag as u32, hyper)
        .ok_or_else(|| at(format!("hyperparameters {hyper:?} do not fit {name}")))?;
    let schedule = parse_schedule(key("schedule")?)
        .ok_or_else(|| at("schedule must be a rate and two whole numbers".into()))?;
    let file = safetensors::parse(&model_file::read(path)?).map_err(at)?;
    let stray = |k: &&String| k.starts_with(EXTRA) && *k != OPT_TENSOR;
    if let Some(k) = file.tensors.keys().find(stray) {
        return Err(at(format!("unexpected tensor {k}")));
    }
    let opt = file.tensors.get(OPT_TENSOR).map_or(&[][..], |(_, v)| v);
    let (sig, floats) = preset.shape();
    let h = Header {
        signature: sig,
        rule,
        steps,
        schedule,
        net_floats: floats as u32,
        opt_floats: opt.len() as u32,
    };
    let mut bytes = h.to_bytes().to_vec();
    Header::parse(&bytes, preset.params()).map_err(|e| {
        let n = opt.len();
        at(format!(
            "{name} with hyperparameters {hyper:?} and {n} optimizer floats: refused ({e:?})"
        ))
    })?;
    if !opt.iter().all(|v| v.is_finite()) {
        return Err(at(format!("tensor {OPT_TENSOR} holds a non-finite value")));
    }
    let mut model = loaded.model;
    bytes.extend_from_slice(&model.save_blob()[shinso::model::HEADER..]);
    bytes.extend(opt.iter().flat_map(|v| v.to_le_bytes()));
    Ok(bytes)
}

/// `text` as `N` values separated by single spaces.
fn words<T: FromStr, const N: usize>(text: &str) -> Option<[T; N]> {
    let values: Option<Vec<T>> = text.split(' ').map(|w| w.parse().ok()).collect();
    values?.try_into().ok()
}

/// The `schedule` metadata [`to_file`] writes: `lr decay_steps step`.
fn parse_schedule(text: &str) -> Option<Schedule> {
    let [lr, decay_steps, step] = words::<String, 3>(text)?;
    Some(Schedule {
        lr: lr.parse().ok()?,
        decay_steps: decay_steps.parse().ok()?,
        step: step.parse().ok()?,
    })
}
