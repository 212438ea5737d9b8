//! The learning-rate schedule of a device model, a device setting (`Request::Schedule`).
//!
//! One pass over a stream learns better when the rate falls to 0 by its end: the online
//! learner's one pass over the 10,000 bundled training images reaches 0.9689 on the official
//! test set with Adam at 0.003 decayed linearly over the pass, against 0.962 at a constant
//! 0.001, and 0.9719 with each step's image moved by one pixel (`augment`, which moves by
//! this step count; firmware README). The decay needs the stream's length, which only the host knows:
//! so the host sets it, and the device counts the steps.

/// A rate decaying linearly from `lr` to 0 over `decay_steps` steps (constant when 0), and
/// how many steps it has taken: the whole state a checkpoint must keep to resume it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Rate of step 0.
    pub lr: f32,
    /// Steps over which the rate decays to 0; 0 keeps it constant.
    pub decay_steps: u32,
    /// Steps accepted since the schedule was set (refused steps do not count).
    pub step: u32,
}

impl Schedule {
    /// `lr` at every step.
    pub const fn constant(lr: f32) -> Self {
        Schedule {
            lr,
            decay_steps: 0,
            step: 0,
        }
    }

    /// The rate of the next step: `lr · (N − k) / N` at step `k < N` for `N = decay_steps`;
    /// from step `N − 1` on it stays at `lr / N` (a step at rate 0 would not learn, and the
    /// device would go on answering as if it did).
    pub fn rate(&self) -> f32 {
        let n = self.decay_steps;
        if n == 0 {
            return self.lr;
        }
        let left = n - self.step.min(n - 1);
        self.lr * (left as f32 / n as f32)
    }

    /// One more step taken.
    pub fn advance(&mut self) {
        self.step = self.step.saturating_add(1);
    }
}
