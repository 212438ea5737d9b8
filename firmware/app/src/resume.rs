//! The learner's checkpoints as the app runs them: resuming at boot from the newest valid
//! one, saving on request and every N learning steps, and the backup and restore of the
//! whole state over the wire.
//!
//! The state is the learner's own ([`slot::state`](crate::slot::state)); the slots in flash
//! are [`checkpoint`]'s. With Adam the state is larger than the arena, so a restore from the
//! host is staged where it fits: it is written as the next checkpoint, into the slot not
//! holding the newest, and committed only once its CRC and the learner's check of all of it
//! pass. Then the learner loads it as at boot: one way in, from flash, checked whole before
//! anything changes; and what was restored survives the next reset.

use crate::checkpoint::{self, Checkpoint, Checkpoints, Source};
use crate::{chunk, learner, App, DeviceModel, Push, Target};
use shinso::model::CRC32;
use shinso_proto::{CheckpointStatus, ErrorCode, Response};

/// What the app knows about checkpoints beside the flash itself.
pub(crate) struct Keeping<'m> {
    store: Option<&'m mut dyn Checkpoints>,
    /// Save after every `every`-th learning step (0: never).
    every: u32,
    /// The sequence number the learner resumed from at boot.
    resumed: Option<u32>,
    /// Saves that failed since boot.
    failed: u32,
}

impl Keeping<'_> {
    /// No flash, no saving.
    pub(crate) const NONE: Self = Keeping {
        store: None,
        every: 0,
        resumed: None,
        failed: 0,
    };
}

/// A learner as the bytes a checkpoint saves (what [`Request::SaveCheckpoint`] writes).
///
/// [`Request::SaveCheckpoint`]: shinso_proto::Request::SaveCheckpoint
pub struct LearnerState<'a>(pub &'a mut dyn DeviceModel);

impl Source for LearnerState<'_> {
    fn size(&self) -> usize {
        self.0.state_len()
    }
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode> {
        self.0.read_state(offset, out)
    }
}

/// A failed save as the wire says it.
fn wire(e: checkpoint::Error) -> (ErrorCode, u32) {
    match e {
        checkpoint::Error::TooLarge { capacity, .. } => (ErrorCode::OutOfMemory, capacity as u32),
        checkpoint::Error::Flash => (ErrorCode::Flash, 0),
        checkpoint::Error::Verify => (ErrorCode::Flash, 1),
        checkpoint::Error::Source(code) => (code, 0),
        checkpoint::Error::NotBegun => (ErrorCode::NoPush, 0),
        checkpoint::Error::Unaligned => (ErrorCode::BadLength, checkpoint::WORD as u32),
    }
}

impl Keeping<'_> {
    /// The next piece of a restore, into the checkpoint slot being written.
    pub(crate) fn stage(&mut self, bytes: &[u8]) -> Result<(), (ErrorCode, u32)> {
        let store = self.store.as_deref_mut().ok_or((ErrorCode::NoFlash, 0))?;
        store.write(bytes).map_err(wire)
    }
}

impl<'m> App<'m> {
    /// Keeps the learner's checkpoints in `store` (the board's two flash slots).
    pub fn keep_checkpoints(&mut self, store: &'m mut dyn Checkpoints) {
        self.checkpoints.store = Some(store);
    }

    /// At boot: loads the newest valid checkpoint into the learner, checked whole first.
    /// `Ok(None)` when there is none (the learner keeps its fresh start); an error when there
    /// is one the learner refuses (another network, a rule out of range): then nothing changed.
    pub fn resume(&mut self) -> Result<Option<Checkpoint>, ErrorCode> {
        let Some(store) = self.checkpoints.store.as_deref() else {
            return Ok(None);
        };
        let Some(c) = store.latest() else {
            return Ok(None);
        };
        learner(&mut self.models)?.load_state(c.len, &|at, out| {
            store.read(at, out);
        })?;
        self.checkpoints.resumed = Some(c.seq);
        Ok(Some(c))
    }

    /// After each learning step that changed the learner: saves if the setting says so now.
    /// A failed save is counted ([`CheckpointStatus::failed`]); the step stands either way.
    pub(crate) fn after_step(&mut self) {
        let every = self.checkpoints.every;
        let due = learner(&mut self.models).is_ok_and(|l| every > 0 && l.steps() % every == 0);
        if due {
            // Counted by `save`; the `Learn` it follows still answers with its step.
            let _ = self.save();
        }
    }

    /// Saves the learner's state as the next checkpoint; a failure is counted in
    /// [`CheckpointStatus::failed`] (a save without flash or without a learner is not one).
    fn save(&mut self) -> Result<Checkpoint, (ErrorCode, u32)> {
        // A save takes the slot a restore in progress is being written to.
        if matches!(
            self.push,
            Some(Push {
                target: Target::Learner,
                ..
            })
        ) {
            self.push = None;
        }
        let store = self
            .checkpoints
            .store
            .as_deref_mut()
            .ok_or((ErrorCode::NoFlash, 0))?;
        let learner = learner(&mut self.models).map_err(|code| (code, 0))?;
        let saved = store.save(&mut LearnerState(learner)).map_err(wire);
        if saved.is_err() {
            self.checkpoints.failed = self.checkpoints.failed.saturating_add(1);
        }
        saved
    }

    /// [`Request::SaveCheckpoint`]: saves now; the status after the save.
    pub(crate) fn save_now(&mut self) -> Result<CheckpointStatus, (ErrorCode, u32)> {
        self.save()?;
        Ok(self.checkpoint_status())
    }

    /// [`Request::CheckpointEvery`].
    pub(crate) fn save_every(&mut self, steps: u32) -> Result<Response, (ErrorCode, u32)> {
        if self.checkpoints.store.is_none() {
            return Err((ErrorCode::NoFlash, 0));
        }
        self.checkpoints.every = steps;
        Ok(Response::Ok)
    }

    /// [`Request::CheckpointStatus`].
    pub(crate) fn checkpoint_status(&mut self) -> CheckpointStatus {
        let k = &self.checkpoints;
        let (state_len, steps) =
            learner(&mut self.models).map_or((0, 0), |l| (l.state_len() as u32, l.steps()));
        CheckpointStatus {
            flash: k.store.is_some(),
            state_len,
            steps,
            every: k.every,
            latest: k.store.as_deref().and_then(|s| s.latest()).map(|c| c.seq),
            resumed: k.resumed,
            failed: k.failed,
        }
    }

    /// [`Request::PullState`].
    pub(crate) fn pull_state(
        &mut self,
        offset: u32,
        len: u16,
    ) -> Result<Response, (ErrorCode, u32)> {
        let l = learner(&mut self.models).map_err(|code| (code, 0))?;
        chunk(l.state_len(), offset, len, |at, out| l.read_state(at, out))
    }

    /// [`Request::RestoreBegin`]: begins the next checkpoint, which the chunks fill.
    pub(crate) fn restore_begin(
        &mut self,
        len: u32,
        crc: u32,
    ) -> Result<Response, (ErrorCode, u32)> {
        self.push = None; // as a new push, it abandons any earlier one
        learner(&mut self.models).map_err(|code| (code, 0))?;
        let store = self
            .checkpoints
            .store
            .as_deref_mut()
            .ok_or((ErrorCode::NoFlash, 0))?;
        store.begin(len as usize).map_err(wire)?;
        self.push = Some(Push {
            target: Target::Learner,
            crc,
            len: len as usize,
            received: 0,
        });
        Ok(Response::Ok)
    }

    /// [`Request::PushEnd`] of a restore, all its bytes in the slot being written: their CRC,
    /// then the learner's check of all of them, then the commit, then the learner loads it.
    pub(crate) fn restore_end(
        &mut self,
        len: usize,
        crc: u32,
    ) -> Result<Response, (ErrorCode, u32)> {
        let e = |code| (code, 0);
        let learner = learner(&mut self.models).map_err(e)?;
        let store = self
            .checkpoints
            .store
            .as_deref_mut()
            .ok_or(e(ErrorCode::NoFlash))?;
        let staged = |at: usize, out: &mut [u8]| {
            store.read_pending(at, out);
        };
        let mut digest = CRC32.digest();
        let mut piece = [0u8; 64];
        for start in (0..len).step_by(piece.len()) {
            let part = &mut piece[..64.min(len - start)];
            staged(start, part);
            digest.update(part);
        }
        if digest.finalize() != crc {
            return Err(e(ErrorCode::BadBlobCrc));
        }
        learner.check_state(len, &staged).map_err(e)?;
        let c = store.commit().map_err(wire)?;
        learner
            .load_state(c.len, &|at, out| {
                store.read(at, out);
            })
            .map_err(e)?;
        Ok(Response::Ok)
    }
}
