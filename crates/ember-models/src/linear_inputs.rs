use burn::tensor::Tensor;

/// A model that shows the inputs of its linear layers: what activation-aware pruning (Wanda)
/// measures on calibration data.
///
/// A model of your own opts in by running its forward pass and collecting, for every linear
/// layer it wants scored, the path of the layer's weight (as Ember names parameters, e.g.
/// `layers.0.weight`) and the input the layer received, flattened to `[rows, in_features]`
/// (sequence models flatten batch and positions into rows).
pub trait LinearInputs<I> {
    /// Runs the model on `input` and returns each linear layer's weight path and its input.
    fn linear_inputs(&self, input: I) -> Vec<(String, Tensor<2>)>;
}
