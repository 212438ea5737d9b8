//! A layer's tensors as the visitors of [`crate::layer::Layer::visit`] see them: values, role
//! and shape. Its own module (below both `layer` and `init`) so that the initialiser can read
//! them without depending on the trait that hands them out.

/// What a tensor of a layer is for; it decides initialisation, weight decay and naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Weights: drawn by the initialiser, subject to L1/L2 weight decay.
    Weight,
    /// Biases: start at zero, excluded from weight decay.
    Bias,
    /// Batch-norm γ: starts at one.
    Scale,
    /// Batch-norm β: starts at zero.
    Shift,
    /// Batch-norm running mean: saved with the model, not trained.
    RunningMean,
    /// Batch-norm running variance: saved with the model, not trained.
    RunningVar,
}

impl TensorKind {
    /// Trainable tensors get a gradient and an optimizer update; the others are state.
    pub fn trainable(self) -> bool {
        !matches!(self, TensorKind::RunningMean | TensorKind::RunningVar)
    }

    /// Conventional name, used for safetensors keys.
    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Weight => "weight",
            TensorKind::Bias => "bias",
            TensorKind::Scale => "gamma",
            TensorKind::Shift => "beta",
            TensorKind::RunningMean => "running_mean",
            TensorKind::RunningVar => "running_var",
        }
    }
}

/// A tensor of a layer as the visitor sees it: values, role, logical shape and the fan-in its
/// initialiser needs. Gradients are not here: they live in one flat buffer beside the
/// network (see [`crate::layer::Layer::backward`] and [`crate::layer::visit_trainable`]).
pub struct Tensor<'a> {
    pub kind: TensorKind,
    /// Logical shape, outermost first, unused trailing dimensions 0. Affine weights are
    /// `(inputs, outputs)`, convolution weights `(FN, C, FH, FW)`, as in the course.
    pub shape: [usize; 4],
    pub fan_in: usize,
    pub value: &'a mut [f32],
}

impl Tensor<'_> {
    /// Number of meaningful dimensions in `shape`.
    pub fn rank(&self) -> usize {
        self.shape.iter().take_while(|&&d| d != 0).count()
    }
}
