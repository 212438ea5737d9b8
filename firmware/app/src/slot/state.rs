//! A learning slot's whole state as one run of bytes: what a checkpoint in flash holds, what
//! the host pulls for a backup and pushes back to restore. Everything the learner needs to go
//! on as if it had never stopped is here, in one place: a field the learner adds (a schedule's
//! position, say) goes into [`Header`] and bumps [`VERSION`], and every path (flash, backup,
//! restore) carries it.
//!
//! Layout, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `SHLS` |
//! | 4..8 | [`VERSION`] |
//! | 8..16 | network signature |
//! | 16..20 | update rule: 0 SGD, 1 Momentum, 2 AdaGrad, 3 RMSProp, 4 Adam |
//! | 20..36 | its hyperparameters, four `f32` in the rule's field order (lr first), unused ones 0 |
//! | 36..40 | step count (updates applied) |
//! | 40..44 | `N`, floats of the network (`PARAMS + STATE`) |
//! | 44..48 | `M`, floats of the optimizer's state (`rule.state_len(PARAMS)`) |
//! | 48..60 | the learning-rate [`Schedule`]: its first rate (`f32`), the steps it decays over, the steps it has counted |
//! | 60.. | the network's payload (`N` floats, the weight format's order), then the optimizer's state (`M` floats, [`Optimizer::state`](shinso::Optimizer::state)'s order) |
//!
//! No CRC of its own: the flash slot, the push and the host's file each carry theirs. A state
//! is read and loaded a piece at a time ([`Reader`]), never held whole: with Adam it is larger
//! than the arena.

use super::{code, Slot};
use crate::schedule::Schedule;
use shinso::{optim::limits, Layer, Rule};
use shinso_proto::ErrorCode;

/// The bytes that open a learner's state.
pub const MAGIC: [u8; 4] = *b"SHLS";
/// The layout this build writes and reads.
pub const VERSION: u32 = 2;
/// Header bytes before the floats.
pub const HEADER: usize = 60;

/// The header of a learner's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// Signature of the network the weights are for.
    pub signature: u64,
    /// The update rule, hyperparameters included.
    pub rule: Rule,
    /// Updates applied so far (Adam's bias correction depends on it).
    pub steps: u32,
    /// Floats of the network's payload.
    pub net_floats: u32,
    /// Floats of the optimizer's state.
    pub opt_floats: u32,
    /// The rate's schedule and its position (the rule's rate is the one it gives now).
    pub schedule: Schedule,
}

impl Header {
    /// Bytes of the whole state this header opens.
    pub fn state_len(&self) -> usize {
        HEADER + 4 * (self.net_floats as usize + self.opt_floats as usize)
    }

    /// The header as bytes.
    pub fn to_bytes(&self) -> [u8; HEADER] {
        let (tag, hyper) = rule_words(self.rule);
        let mut h = [0u8; HEADER];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..8].copy_from_slice(&VERSION.to_le_bytes());
        h[8..16].copy_from_slice(&self.signature.to_le_bytes());
        h[16..20].copy_from_slice(&tag.to_le_bytes());
        for (i, v) in hyper.iter().enumerate() {
            h[20 + 4 * i..24 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        h[36..40].copy_from_slice(&self.steps.to_le_bytes());
        h[40..44].copy_from_slice(&self.net_floats.to_le_bytes());
        h[44..48].copy_from_slice(&self.opt_floats.to_le_bytes());
        h[48..52].copy_from_slice(&self.schedule.lr.to_le_bytes());
        h[52..56].copy_from_slice(&self.schedule.decay_steps.to_le_bytes());
        h[56..60].copy_from_slice(&self.schedule.step.to_le_bytes());
        h
    }

    /// Reads and checks a header: magic and version ([`ErrorCode::BadSignature`]), a known
    /// rule whose hyperparameters can train and a schedule whose first rate that rule can train
    /// at ([`ErrorCode::BadValue`]), an optimizer state the
    /// size that rule keeps for the network's parameters, which `net_params` says
    /// ([`ErrorCode::BadLength`]). The network itself is the caller's to check.
    pub fn parse(bytes: &[u8], net_params: usize) -> Result<Header, ErrorCode> {
        let h = bytes.get(..HEADER).ok_or(ErrorCode::BadLength)?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if h[0..4] != MAGIC || u32_at(4) != VERSION {
            return Err(ErrorCode::BadSignature);
        }
        let mut sig = [0u8; 8];
        sig.copy_from_slice(&h[8..16]);
        let hyper = [0, 1, 2, 3].map(|i| f32::from_bits(u32_at(20 + 4 * i)));
        let rule = rule_of(u32_at(16), hyper).ok_or(ErrorCode::BadValue)?;
        if limits::check(&rule).is_err() {
            return Err(ErrorCode::BadValue);
        }
        let header = Header {
            signature: u64::from_le_bytes(sig),
            rule,
            steps: u32_at(36),
            net_floats: u32_at(40),
            opt_floats: u32_at(44),
            schedule: Schedule {
                lr: f32::from_bits(u32_at(48)),
                decay_steps: u32_at(52),
                step: u32_at(56),
            },
        };
        if limits::check(&rule.with_lr(header.schedule.lr)).is_err() {
            return Err(ErrorCode::BadValue);
        }
        if header.opt_floats as usize != rule.state_len(net_params) {
            return Err(ErrorCode::BadLength);
        }
        Ok(header)
    }
}

/// A rule as its tag and four hyperparameters, as the header holds it.
pub fn rule_words(rule: Rule) -> (u32, [f32; 4]) {
    match rule {
        Rule::Sgd { lr } => (0, [lr, 0.0, 0.0, 0.0]),
        Rule::Momentum { lr, momentum } => (1, [lr, momentum, 0.0, 0.0]),
        Rule::AdaGrad { lr, h0, delta } => (2, [lr, h0, delta, 0.0]),
        Rule::RmsProp { lr, rho, delta } => (3, [lr, rho, delta, 0.0]),
        Rule::Adam {
            lr,
            beta1,
            beta2,
            delta,
        } => (4, [lr, beta1, beta2, delta]),
    }
}

/// The rule [`rule_words`] wrote, if the tag is one and the unused words are 0.
pub fn rule_of(tag: u32, [a, b, c, d]: [f32; 4]) -> Option<Rule> {
    let rule = match tag {
        0 => Rule::Sgd { lr: a },
        1 => Rule::Momentum { lr: a, momentum: b },
        2 => Rule::AdaGrad {
            lr: a,
            h0: b,
            delta: c,
        },
        3 => Rule::RmsProp {
            lr: a,
            rho: b,
            delta: c,
        },
        4 => Rule::Adam {
            lr: a,
            beta1: b,
            beta2: c,
            delta: d,
        },
        _ => return None,
    };
    // Only what the writer writes: a state with stray bits in its unused words is not one.
    (rule_words(rule) == (tag, [a, b, c, d])).then_some(rule)
}

/// The header of `slot`'s state now, if it learns (has an optimizer).
fn header<L: Layer>(slot: &Slot<L>) -> Option<Header> {
    let [opt] = slot.opt.as_deref()?;
    Some(Header {
        signature: L::SIGNATURE,
        rule: opt.rule(),
        steps: opt.steps(),
        net_floats: (L::PARAMS + L::STATE) as u32,
        opt_floats: opt.state().len() as u32,
        schedule: slot.schedule(),
    })
}

/// Bytes of `slot`'s state (0 when it has no optimizer, so nothing to save).
pub(super) fn len<L: Layer>(slot: &Slot<L>) -> usize {
    header(slot).map_or(0, |h| h.state_len())
}

/// The learner's step count (0 without an optimizer).
pub(super) fn steps<L: Layer>(slot: &Slot<L>) -> u32 {
    header(slot).map_or(0, |h| h.steps)
}

/// Copies state bytes `offset..offset + out.len()` (inside `0..len(slot)`, else
/// [`ErrorCode::BadOffset`]) into `out`, from the header, the network and the optimizer.
pub(super) fn read<L: Layer>(
    slot: &mut Slot<L>,
    offset: usize,
    out: &mut [u8],
) -> Result<(), ErrorCode> {
    let h = header(slot).ok_or(ErrorCode::OutOfMemory)?;
    if offset
        .checked_add(out.len())
        .is_none_or(|end| end > h.state_len())
    {
        return Err(ErrorCode::BadOffset);
    }
    let net_end = HEADER + 4 * h.net_floats as usize;
    let head = h.to_bytes();
    let opt = slot.opt.as_deref().map_or(&[][..], |[o]| o.state());
    for (i, b) in out.iter_mut().enumerate() {
        let at = offset + i;
        if at < HEADER {
            *b = head[at];
        } else if at >= net_end {
            let k = at - net_end;
            *b = opt[k / 4].to_le_bytes()[k % 4];
        }
    }
    // The network's bytes in one call (its payload is read by visiting its tensors).
    let (from, to) = (
        offset.clamp(HEADER, net_end),
        (offset + out.len()).clamp(HEADER, net_end),
    );
    if from < to {
        let part = &mut out[from - offset..to - offset];
        slot.net.read_payload(from - HEADER, part).map_err(code)?;
    }
    Ok(())
}

/// A state to load, `len` bytes that `read(offset, out)` copies out (from flash, say).
pub type Reader<'a> = &'a dyn Fn(usize, &mut [u8]);

/// Bytes read at a time: states are streamed, never held whole.
const PIECE: usize = 64;

/// Checks a state for network `L` whole, without changing anything: header
/// ([`Header::parse`]), signature ([`ErrorCode::BadSignature`]), lengths
/// ([`ErrorCode::BadLength`]), every float finite ([`ErrorCode::NonFinite`]).
pub fn check<L: Layer>(len: usize, read: Reader) -> Result<Header, ErrorCode> {
    if len < HEADER {
        return Err(ErrorCode::BadLength);
    }
    let mut head = [0u8; HEADER];
    read(0, &mut head);
    let h = Header::parse(&head, L::PARAMS)?;
    if h.signature != L::SIGNATURE {
        return Err(ErrorCode::BadSignature);
    }
    if h.net_floats as usize != L::PARAMS + L::STATE || len != h.state_len() {
        return Err(ErrorCode::BadLength);
    }
    let mut piece = [0u8; PIECE];
    for start in (HEADER..len).step_by(PIECE) {
        let part = &mut piece[..PIECE.min(len - start)];
        read(start, part);
        let finite = part
            .chunks_exact(4)
            .all(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]]).is_finite());
        if !finite {
            return Err(ErrorCode::NonFinite);
        }
    }
    Ok(h)
}

/// Replaces `slot`'s weights, rule, optimizer state and step count with the state `read`
/// gives, [`check`]ed whole first: on any error nothing changes (but for
/// [`ErrorCode::OutOfMemory`], when the heap cannot hold a hungrier rule's state: then the
/// weights stay and the learner has no optimizer, as after a `Configure` that ran out).
pub(super) fn load<L: Layer>(
    slot: &mut Slot<L>,
    len: usize,
    read: Reader,
) -> Result<(), ErrorCode> {
    let h = check::<L>(len, read)?;
    if header(slot).is_none_or(|now| now.rule != h.rule) {
        slot.set_rule(h.rule)?;
    }
    let net_end = HEADER + 4 * h.net_floats as usize;
    let mut piece = [0u8; PIECE];
    for start in (HEADER..net_end).step_by(PIECE) {
        let part = &mut piece[..PIECE.min(net_end - start)];
        read(start, part);
        slot.net.write_payload(start - HEADER, part).map_err(code)?;
    }
    let floats = (net_end..len).step_by(4).map(|at| {
        let mut f = [0u8; 4];
        read(at, &mut f);
        f32::from_le_bytes(f)
    });
    match slot.opt.as_deref_mut() {
        Some([o]) => o.restore(h.steps, floats).map_err(code)?,
        None => return Err(ErrorCode::OutOfMemory),
    }
    slot.restore_schedule(h.schedule);
    Ok(())
}
