//! Training only the last layer of a network: the *head* learns on the features the frozen
//! *body* computes.
//!
//! A model trained elsewhere adapts to a shifted domain cheaply this way. The body runs its
//! inference path (no cache for backward, no gradients), and the head — an [`Affine`] layer —
//! takes an ordinary [`Network::train_step`] of its own on the body's output. Gradients and
//! optimizer state exist for the head's parameters only (for the device's `DoubleConvNet`, 8,010
//! of its 12,810), so fine-tuning fits in the arena an inference or a weight push already needs.
//!
//! The features come from exactly the layers and order of [`Network::predict`], so a network
//! that has not been fine-tuned still predicts bit for bit as before, and the head's logits on
//! those features are the network's logits.
//!
//! ```
//! use shinso::{one_hot, zoo::OnlineConvNet, Init, Loss, Network, Optimizer, Rule, WeightDecay};
//!
//! type Net = Network<OnlineConvNet>;
//! let mut net = Net::boxed();
//! net.init(Init::He, 7);
//! // SGD keeps no state: the head's gradients in the arena are all fine-tuning adds.
//! let mut opt = Optimizer::new(Rule::sgd(0.01), Net::HEAD_PARAMS, [0.0f32; 0])?;
//! let image = [[[0.5f32; 28]; 28]; 1];
//! let mut arena = vec![0.0; Net::head_arena(1)];
//! let (features, rest) = net.features(core::slice::from_ref(&image), &mut arena)?;
//! let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
//! net.head().train_step(features, &[one_hot(3)], loss, decay, &mut opt, rest)?;
//! # Ok::<(), shinso::Error>(())
//! ```

use bytemuck::TransparentWrapper;

use crate::error::Error;
use crate::layer::{carve, flat, floats, max, Layer, Mode, Plan};
use crate::layers::affine::Affine;
use crate::layers::chain::Chain;
use crate::network::Network;

/// A network that ends in an [`Affine`] head: its body (every layer before it) can be run on
/// its own, and the head reached to be trained alone.
///
/// Implemented for every [`Chain`] whose last link is an `Affine`, so every `stack!` that ends
/// in one (all of [`crate::zoo`]'s networks) is `Headed`.
pub trait Headed: Layer {
    /// The last layer.
    type Head: Layer<Out = Self::Out>;
    /// Arena floats of scratch the body's inference pass needs.
    const BODY: Plan;

    /// The body's inference output for `x` (the head's input), into `features`; `work` holds
    /// at least [`Headed::BODY`]`.at(x.len())` floats.
    fn features(
        &self,
        x: &[Self::In],
        features: &mut [<Self::Head as Layer>::In],
        work: &mut [f32],
    );

    /// The head, to be trained.
    fn head(&mut self) -> &mut Self::Head;
}

/// One sample of the head's input: what the body computes.
pub type Features<L> = <<L as Headed>::Head as Layer>::In;

/// The base case: `A` is the whole body.
impl<A: Layer<Out = [f32; I]>, const I: usize, const O: usize> Headed for Chain<A, Affine<I, O>> {
    type Head = Affine<I, O>;
    const BODY: Plan = A::INFER;

    fn features(&self, x: &[A::In], features: &mut [[f32; I]], work: &mut [f32]) {
        self.first.forward(x, features, Mode::Infer, &mut [], work);
    }

    fn head(&mut self) -> &mut Affine<I, O> {
        &mut self.second
    }
}

/// A longer chain: `A`, then the body of the rest. The activation between them is scratch, as
/// in [`Chain`]'s own inference pass.
impl<A: Layer, R: Headed + Layer<In = A::Out>> Headed for Chain<A, R> {
    type Head = R::Head;
    const BODY: Plan = Plan::new(0, floats::<A::Out>()).plus(A::INFER.max(R::BODY));

    fn features(&self, x: &[A::In], features: &mut [<Self::Head as Layer>::In], work: &mut [f32]) {
        let (mid, rest) = carve::<A::Out>(work, x.len());
        self.first.forward(x, mid, Mode::Infer, &mut [], rest);
        self.second.features(mid, features, rest);
    }

    fn head(&mut self) -> &mut Self::Head {
        self.second.head()
    }
}

impl<L: Headed> Network<L> {
    /// Trainable parameters of the head: what an optimizer for [`Network::head`] is made for.
    pub const HEAD_PARAMS: usize = <L::Head as Layer>::PARAMS;

    /// Arena floats fine-tuning `n` samples needs: the features, then the larger of the body's
    /// inference scratch and the head's training step ([`Network::train_arena`] of the head).
    pub const fn head_arena(n: usize) -> usize {
        n * floats::<Features<L>>() + max(L::BODY.at(n), Network::<L::Head>::train_arena(n))
    }

    /// The body's output for `x` (the head's input), at the front of `arena`, and the rest of
    /// the arena, which holds what the head's own training step needs when `arena` holds
    /// [`Network::head_arena`] floats. Refuses non-finite inputs and too small an arena.
    pub fn features<'a>(
        &self,
        x: &[L::In],
        arena: &'a mut [f32],
    ) -> Result<(&'a [Features<L>], &'a mut [f32]), Error> {
        let n = x.len();
        let needed = n * floats::<Features<L>>() + L::BODY.at(n);
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall {
                needed,
                found: arena.len(),
            });
        }
        if !crate::kernels::all_finite(flat(x)) {
            return Err(Error::NonFiniteInput);
        }
        let (features, rest) = carve::<Features<L>>(arena, n);
        self.layers.features(x, features, rest);
        Ok((features, rest))
    }

    /// The head as a network of its own: [`Network::predict`] on the features gives this
    /// network's outputs, [`Network::train_step`] on them trains the head alone (all or
    /// nothing, as always), with an optimizer made for [`Network::HEAD_PARAMS`] parameters.
    pub fn head(&mut self) -> &mut Network<L::Head> {
        Network::wrap_mut(self.layers.head())
    }
}
