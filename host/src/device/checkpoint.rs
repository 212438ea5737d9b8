//! `shinso device checkpoint`, `restore` and `save`: the learner's whole state (weights,
//! update rule, optimizer state, step count) out of the device into a file, back in, and into
//! the device's own flash.
//!
//! The file is a safetensors model file of the learner's network, as `shinso train` writes it
//! (so `shinso eval` and every other model command load it), with the optimizer's state as one
//! more tensor, `optimizer.state` (F32, flat, [`Optimizer::state`](shinso::Optimizer::state)'s
//! order), which model loaders skip ([`safetensors::EXTRA`]), and in the metadata
//! `learner_state` (the layout's version), `steps`, `optimizer` (`sgd` … `adam`) and
//! `schedule` (the rate's schedule: its first rate, the steps it decays over, the steps it has
//! counted) and `hyperparameters` (the rule's four numbers, lr first, as the device's state header holds
//! them; [`shinso_app::slot::state`]). Floats are stored as they are, so a backup restored
//! and pulled again is the same, bit for bit.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use shinso::optim::Kind;
use shinso_app::schedule::Schedule;
use shinso_app::slot::state::{self, Header};
use shinso_proto::{CheckpointStatus, Request, Response};

use super::session::{Session, TIMEOUT};
use crate::io::safetensors::{self, Metadata, EXTRA};
use crate::io::{self as model_file, write_atomic};
use crate::nets::Preset;
use crate::ui::{progress_bar, say};

/// The optimizer state's tensor in a learner file.
const OPT_TENSOR: &str = "optimizer.state";
/// The update rules by their header tag, as files and the command line name them.
fn rule_name(tag: u32) -> String {
    use clap::ValueEnum;
    let kind = Kind::ALL.get(tag as usize).copied().unwrap_or(Kind::Sgd);
    kind.to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// The learner's state: backup, restore, flash.
#[derive(Subcommand, Debug, Clone)]
pub enum CheckpointCommand {
    /// Pull the learner's whole state (weights, optimizer state, step count) into a model
    /// file that `shinso eval` also reads
    Checkpoint {
        /// Output file (safetensors)
        #[arg(long)]
        out: PathBuf,
    },
    /// Push a file from `checkpoint` back into the learner (checked whole first, on the host
    /// and again on the device, before anything changes)
    Restore {
        /// A file written by `shinso device checkpoint`
        file: PathBuf,
    },
    /// Save the learner's state to the device's flash now, or with --every set when it saves
    /// by itself; then show its checkpoints
    Save {
        /// Save after every N-th learning step from now on (0: never)
        #[arg(long, value_name = "N")]
        every: Option<u32>,
    },
}

/// Why a save failed, as `ErrorCode::Flash`'s detail says.
pub(super) fn flash_failed(detail: u32) -> String {
    match detail {
        1 => "the flash took the save without an error but does not read it back (QEMU's flash is a ROM); the previous checkpoint stays".to_string(),
        _ => "the flash reported an error while saving; the previous checkpoint stays".to_string(),
    }
}

pub(super) fn run(s: &mut Session, cmd: &CheckpointCommand) -> Result<()> {
    match cmd {
        CheckpointCommand::Checkpoint { out } => {
            let preset = learner_preset(s)?;
            let state = pull_state(s, preset)?;
            let (file, h) = to_file(&state, preset)?;
            write_atomic(out, &file)?;
            say(&format!(
                "wrote {}: the {} learner after {} steps, {} ({} bytes of state)",
                out.display(),
                preset.name(),
                h.steps,
                rule_name(state::rule_words(h.rule).0),
                state.len()
            ));
            Ok(())
        }
        CheckpointCommand::Restore { file } => {
            let preset = learner_preset(s)?;
            let bytes = from_file(file, preset)?;
            let begin = Request::RestoreBegin {
                len: bytes.len() as u32,
                crc: shinso::model::crc32(&bytes),
            };
            let pb = progress_bar(bytes.len() as u64, "restore", false);
            let sent = s
                .link
                .send(&begin, &bytes, TIMEOUT, |n| pb.set_position(n as u64));
            pb.finish_and_clear();
            sent.map_err(|e| s.transfer_failed(e))?;
            say(&format!(
                "restored the learner from {} ({} bytes)",
                file.display(),
                bytes.len()
            ));
            Ok(())
        }
        CheckpointCommand::Save { every } => {
            let status = match every {
                Some(n) => {
                    s.ask("save", &Request::CheckpointEvery { steps: *n })?;
                    status(s)?
                }
                None => match s.ask("save", &Request::SaveCheckpoint)? {
                    Response::Checkpoints(c) => c,
                    r => bail!("save: unexpected answer {r:?}"),
                },
            };
            say(&describe(&status));
            Ok(())
        }
    }
}

fn status(s: &mut Session) -> Result<CheckpointStatus> {
    match s.ask("checkpoint status", &Request::CheckpointStatus)? {
        Response::Checkpoints(c) => Ok(c),
        r => bail!("checkpoint status: unexpected answer {r:?}"),
    }
}

fn describe(c: &CheckpointStatus) -> String {
    let seq = |s: Option<u32>| s.map_or("none".to_string(), |n| n.to_string());
    let every = match c.every {
        0 => "only on request".to_string(),
        n => format!("every {n} steps"),
    };
    format!(
        "learner at step {} ({} bytes of state); newest checkpoint in flash {}, resumed at boot from {}; saves {every}, {} failed since boot",
        c.steps,
        c.state_len,
        seq(c.latest),
        seq(c.resumed),
        c.failed
    )
}

/// The network of the device's learner (its trainable model), which this host must know.
fn learner_preset(s: &Session) -> Result<Preset> {
    let m = s
        .info
        .models
        .iter()
        .find(|m| m.trainable)
        .ok_or_else(|| anyhow!("the device has no learner"))?;
    Preset::by_signature(m.signature).ok_or_else(|| {
        anyhow!(
            "the device's learner {} has signature {:#018x}, no network this host knows",
            m.name,
            m.signature
        )
    })
}

/// The learner's state, its length bounded by what the host knows of the network (the
/// hungriest rule keeps two floats per parameter) rather than taken on the device's word.
fn pull_state(s: &mut Session, preset: Preset) -> Result<Vec<u8>> {
    let len = status(s)?.state_len as usize;
    let (_, floats) = preset.shape();
    let most = state::HEADER + 4 * (floats + 2 * preset.build().params());
    if !(state::HEADER..=most).contains(&len) {
        bail!(
            "the device's learner state is {len} bytes; a {} learner's is at most {most}",
            preset.name()
        );
    }
    let pb = progress_bar(len as u64, "checkpoint", false);
    let request = |offset, len| Request::PullState { offset, len };
    let pulled = s
        .link
        .fetch(len, request, TIMEOUT, |n| pb.set_position(n as u64));
    pb.finish_and_clear();
    pulled.map_err(|e| s.transfer_failed(e))
}

/// The learner file for `state` (checked: header, lengths, finite weights), and its header.
pub fn to_file(state: &[u8], preset: Preset) -> Result<(Vec<u8>, Header)> {
    let mut model = preset.build();
    let h = Header::parse(state, model.params())
        .map_err(|e| anyhow!("the learner's state has a bad header ({e:?})"))?;
    let (sig, floats) = preset.shape();
    if h.signature != sig || h.net_floats as usize != floats || state.len() != h.state_len() {
        bail!(
            "the learner's state is not a {}'s ({} bytes, signature {:#018x})",
            preset.name(),
            state.len(),
            h.signature
        );
    }
    let (net, opt) = state[state::HEADER..].split_at(4 * floats);
    let mut blob = shinso::model::header(sig, floats, shinso::model::crc32(net)).to_vec();
    blob.extend_from_slice(net);
    model
        .load_blob(&blob)
        .map_err(|e| anyhow!("the learner's weights: {e}"))?;
    let (tag, hyper) = state::rule_words(h.rule);
    let mut meta = Metadata::new();
    meta.insert("learner_state".into(), state::VERSION.to_string());
    meta.insert("steps".into(), h.steps.to_string());
    meta.insert("optimizer".into(), rule_name(tag));
    let hyper: Vec<String> = hyper.iter().map(|v| format!("{v:?}")).collect();
    meta.insert("hyperparameters".into(), hyper.join(" "));
    let sch = h.schedule;
    meta.insert(
        "schedule".into(),
        format!("{:?} {} {}", sch.lr, sch.decay_steps, sch.step),
    );
    let extra = vec![(
        OPT_TENSOR.to_string(),
        vec![h.opt_floats as usize],
        opt.to_vec(),
    )];
    Ok((safetensors::encode_model(&mut *model, &meta, extra)?, h))
}

/// The learner's state bytes from a file [`to_file`] wrote: the model as every model command
/// loads it, then the optimizer's tensor and the metadata, checked as the device will.
pub fn from_file(path: &std::path::Path, preset: Preset) -> Result<Vec<u8>> {
    let at = |e: String| anyhow!("{}: {e}", path.display());
    let mut loaded = model_file::load(path, Some(preset), None)?;
    let meta = &loaded.meta;
    let key = |k: &str| {
        meta.get(k)
            .ok_or_else(|| at(format!("no {k:?} in the metadata: not a learner checkpoint (shinso device checkpoint writes them)")))
    };
    if key("learner_state")? != &state::VERSION.to_string() {
        return Err(at(format!(
            "learner_state {:?}: this build reads version {}",
            key("learner_state")?,
            state::VERSION
        )));
    }
    let steps: u32 = key("steps")?
        .parse()
        .map_err(|_| at("steps must be a whole number".into()))?;
    let name = key("optimizer")?;
    let tag = (0..Kind::ALL.len() as u32)
        .find(|&t| rule_name(t) == *name)
        .ok_or_else(|| at(format!("unknown optimizer {name:?}")))?;
    let hyper: Vec<f32> = key("hyperparameters")?
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| at("hyperparameters must be four numbers".into()))?;
    let hyper: [f32; 4] = hyper
        .try_into()
        .map_err(|_| at("hyperparameters must be four numbers".into()))?;
    let rule = state::rule_of(tag, hyper)
        .ok_or_else(|| at(format!("hyperparameters {hyper:?} do not fit {name}")))?;
    let schedule = parse_schedule(key("schedule")?)
        .ok_or_else(|| at("schedule must be a rate and two whole numbers".into()))?;
    let file = safetensors::parse(&model_file::read(path)?).map_err(at)?;
    if let Some(stray) = file
        .tensors
        .keys()
        .find(|k| k.starts_with(EXTRA) && *k != OPT_TENSOR)
    {
        return Err(at(format!("unexpected tensor {stray}")));
    }
    let opt = file
        .tensors
        .get(OPT_TENSOR)
        .map_or(&[][..], |(_, v)| &v[..]);
    let (sig, floats) = preset.shape();
    let model = &mut *loaded.model;
    let h = Header {
        signature: sig,
        rule,
        steps,
        schedule,
        net_floats: floats as u32,
        opt_floats: opt.len() as u32,
    };
    let mut bytes = h.to_bytes().to_vec();
    Header::parse(&bytes, model.params()).map_err(|e| {
        at(format!(
            "{name} with hyperparameters {hyper:?} and {} optimizer floats: refused ({e:?})",
            opt.len()
        ))
    })?;
    if !opt.iter().all(|v| v.is_finite()) {
        return Err(at(format!("tensor {OPT_TENSOR} holds a non-finite value")));
    }
    bytes.extend_from_slice(&model.save_blob()[shinso::model::HEADER..]);
    bytes.extend(opt.iter().flat_map(|v| v.to_le_bytes()));
    Ok(bytes)
}

/// The `schedule` metadata [`to_file`] writes: `lr decay_steps step`.
fn parse_schedule(text: &str) -> Option<Schedule> {
    let mut words = text.split(' ');
    let schedule = Schedule {
        lr: words.next()?.parse().ok()?,
        decay_steps: words.next()?.parse().ok()?,
        step: words.next()?.parse().ok()?,
    };
    words.next().is_none().then_some(schedule)
}
