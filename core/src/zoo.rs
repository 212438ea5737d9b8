//! The networks shinso ships, as types: the course's presets and the two the device runs.
//! Host and firmware name the same types, so a blob trained on one loads on the other. The batch
//! size is not part of a type: the arena lent to each call decides it.
//!
//! Run-time choices sit inside the types: hidden activations are [`crate::AnyActivation`]
//! (configure them, e.g. to ReLU, before use: zeroed they compute NaN), batch norm and
//! dropout are [`crate::Toggle`]d off until [`crate::Network::configure`] turns them on. The
//! exception is [`TwoConv`] (the device's nets), whose fused conv blocks are always ReLU.

use crate::{
    stack, Affine, AnyActivation, BatchNorm1d, Conv2d, ConvReluPool, Dropout, Flatten, MaxPool2d,
    Toggle,
};

/// Classes every zoo net scores (the ten digits): the one count the host's data, the wire
/// protocol and the device share.
pub const CLASSES: usize = 10;

/// Feature maps: `C` channels of `H`×`W`.
pub type Maps<const C: usize, const H: usize, const W: usize> = [[[f32; W]; H]; C];
/// Hidden activation, chosen at run time.
pub type Act<T> = AnyActivation<T>;

/// One hidden block of an MLP: affine, optional batch norm, activation, optional dropout.
pub type Dense<const I: usize, const O: usize> = stack![
    Affine<I, O>,
    Toggle<BatchNorm1d<O>>,
    AnyActivation<[f32; O]>,
    Toggle<Dropout<[f32; O]>>
];
/// The course's MLP, 784-40-20-10.
pub type Mlp = stack![Dense<784, 40>, Dense<40, 20>, Affine<20, CLASSES>];
/// The course's deep MLP for the overfitting experiments, 784-100×6-10.
pub type DeepMlp = stack![
    Dense<784, 100>,
    Dense<100, 100>,
    Dense<100, 100>,
    Dense<100, 100>,
    Dense<100, 100>,
    Dense<100, 100>,
    Affine<100, CLASSES>
];
/// A small MLP the device can train online, 784-32-10.
pub type OnlineMlp = stack![Dense<784, 32>, Affine<32, CLASSES>];

/// The course's SimpleConvNet: conv 30×5×5, ReLU, max pool 2, affine 4320-100, ReLU,
/// affine 100-10.
pub type SimpleConvNet = stack![
    Conv2d<1, 28, 28, 30, 5, 5, 1, 0, 24, 24>,
    Act<Maps<30, 24, 24>>,
    MaxPool2d<30, 24, 24, 2, 2, 2, 12, 12>,
    Flatten<Maps<30, 12, 12>, [f32; 4320]>,
    Dense<4320, 100>,
    Affine<100, CLASSES>
];

/// Two conv blocks (`F1` and `F2` 3×3 filters, each ReLU + max pool 2), then affine to 10.
///
/// Each block is one [`ConvReluPool`]: the same function and parameters as
/// `Conv2d → ReLU → MaxPool2d`, without storing the convolution output, so that training fits a
/// microcontroller's RAM (see [`crate::Network::train_arena`]).
/// The activation is ReLU whatever [`crate::Knobs::activation`] says.
pub type TwoConv<const F1: usize, const F2: usize, const FLAT: usize> = stack![
    ConvReluPool<1, 28, 28, F1, 3, 3, 1, 0, 26, 26, 2, 2, 2, 13, 13>,
    ConvReluPool<F1, 13, 13, F2, 3, 3, 1, 0, 11, 11, 2, 2, 2, 5, 5>,
    Flatten<Maps<F2, 5, 5>, [f32; FLAT]>,
    Affine<FLAT, CLASSES>
];
/// The device's inference net: 16 and 32 filters, 12,810 parameters.
pub type DoubleConvNet = TwoConv<16, 32, 800>;
/// The device's online learner: 8 and 16 filters, 5,258 parameters.
pub type OnlineConvNet = TwoConv<8, 16, 400>;

/// LeNet-5 on 28×28 (padding 2 on the first conv, as LeCun's 32×32 input), max pooling.
pub type LeNet = stack![
    Conv2d<1, 28, 28, 6, 5, 5, 1, 2, 28, 28>,
    Act<Maps<6, 28, 28>>,
    MaxPool2d<6, 28, 28, 2, 2, 2, 14, 14>,
    Conv2d<6, 14, 14, 16, 5, 5, 1, 0, 10, 10>,
    Act<Maps<16, 10, 10>>,
    MaxPool2d<16, 10, 10, 2, 2, 2, 5, 5>,
    Flatten<Maps<16, 5, 5>, [f32; 400]>,
    Dense<400, 120>,
    Dense<120, 84>,
    Affine<84, CLASSES>
];

/// AlexNet's shape scaled to 28×28: five 3×3 convs (16, 32, 48, 48, 32 filters; pooling
/// after the 1st, 2nd and 5th), three fully connected layers with dropout.
pub type AlexNetMini = stack![
    Conv2d<1, 28, 28, 16, 3, 3, 1, 1, 28, 28>,
    Act<Maps<16, 28, 28>>,
    MaxPool2d<16, 28, 28, 2, 2, 2, 14, 14>,
    Conv2d<16, 14, 14, 32, 3, 3, 1, 1, 14, 14>,
    Act<Maps<32, 14, 14>>,
    MaxPool2d<32, 14, 14, 2, 2, 2, 7, 7>,
    Conv2d<32, 7, 7, 48, 3, 3, 1, 1, 7, 7>,
    Act<Maps<48, 7, 7>>,
    Conv2d<48, 7, 7, 48, 3, 3, 1, 1, 7, 7>,
    Act<Maps<48, 7, 7>>,
    Conv2d<48, 7, 7, 32, 3, 3, 1, 1, 7, 7>,
    Act<Maps<32, 7, 7>>,
    MaxPool2d<32, 7, 7, 2, 2, 2, 3, 3>,
    Flatten<Maps<32, 3, 3>, [f32; 288]>,
    Dense<288, 128>,
    Dense<128, 128>,
    Affine<128, CLASSES>
];

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::layer::{Layer, SpecVisitor, Tensor, TensorSpec, Visitor};
    use crate::Network;

    /// What a visit shows: each layer's kind, then its tensors.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Layer(&'static str),
        Tensor(TensorSpec),
    }

    impl SpecVisitor for Vec<Seen> {
        fn layer(&mut self, kind: &'static str) {
            self.push(Seen::Layer(kind));
        }
        fn tensor(&mut self, spec: TensorSpec) {
            self.push(Seen::Tensor(spec));
        }
    }

    /// An instance's visit, each tensor's shape checked against the floats it holds.
    struct Instance(Vec<Seen>, usize);

    impl Visitor for Instance {
        fn layer(&mut self, kind: &'static str) {
            self.0.push(Seen::Layer(kind));
        }
        fn tensor(&mut self, t: Tensor<'_>) {
            let floats: usize = t.shape[..t.rank()].iter().product();
            assert_eq!(floats, t.value.len(), "{:?} {:?}", t.kind, t.shape);
            self.1 += floats;
            let (kind, shape, fan_in) = (t.kind, t.shape, t.fan_in);
            self.0.push(Seen::Tensor(TensorSpec {
                kind,
                shape,
                fan_in,
            }));
        }
    }

    /// The type's description is what a zeroed network shows, and covers every saved float.
    fn agrees<L: Layer>() {
        let mut specs = Vec::new();
        L::visit_specs(&mut specs);
        let mut instance = Instance(Vec::new(), 0);
        Network::<L>::boxed().layers.visit(&mut instance);
        assert_eq!(specs, instance.0);
        assert_eq!(instance.1, L::PARAMS + L::STATE);
        assert!(specs.len() > 1);
    }

    #[test]
    fn every_zoo_net_describes_the_tensors_it_holds() {
        agrees::<Mlp>();
        agrees::<DeepMlp>();
        agrees::<OnlineMlp>();
        agrees::<SimpleConvNet>();
        agrees::<DoubleConvNet>();
        agrees::<OnlineConvNet>();
        agrees::<LeNet>();
        agrees::<AlexNetMini>();
    }

    /// The device's MLP as its definition reads: affine 784-32, batch norm 32, affine 32-10.
    #[test]
    fn the_online_mlp_lists_its_tensors_in_forward_order() {
        use crate::TensorKind as K;
        let mut specs = Vec::new();
        OnlineMlp::visit_specs(&mut specs);
        let t = |kind, shape, fan_in| {
            Seen::Tensor(TensorSpec {
                kind,
                shape,
                fan_in,
            })
        };
        let bn = |kind| t(kind, [32, 0, 0, 0], 1);
        let want = [
            Seen::Layer("affine"),
            t(K::Weight, [784, 32, 0, 0], 784),
            t(K::Bias, [32, 0, 0, 0], 784),
            Seen::Layer("batchnorm"),
            bn(K::Scale),
            bn(K::Shift),
            bn(K::RunningMean),
            bn(K::RunningVar),
            Seen::Layer("affine"),
            t(K::Weight, [32, 10, 0, 0], 32),
            t(K::Bias, [10, 0, 0, 0], 32),
        ];
        assert_eq!(specs, want);
    }
}
