//! A model as layer-by-layer pipelines see it: a stem, a stack of blocks run one at a time on
//! captured inputs, and a head.

use burn::module::Module;
use burn::tensor::Tensor;

/// Where a forward pass records the inputs of its linear layers, by the path of each layer's
/// weight (`bert.encoder.layers.3.mha.query.weight`), flattened to `[rows, in_features]`.
/// Switched off, it records nothing and the inputs are never computed.
#[derive(Debug, Default)]
pub struct Capture {
    on: bool,
    /// When set, only these layers are recorded (and only their inputs computed).
    only: Option<std::collections::BTreeSet<String>>,
    inputs: Vec<(String, Tensor<2>)>,
}

impl Capture {
    /// A capture that records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// A capture that records every linear layer's input.
    pub fn on() -> Self {
        Self {
            on: true,
            only: None,
            inputs: Vec::new(),
        }
    }

    /// A capture that records the inputs of the layers whose weights are at `paths` only;
    /// the others' inputs are not computed.
    pub fn only(paths: impl IntoIterator<Item = String>) -> Self {
        Self {
            on: true,
            only: Some(paths.into_iter().collect()),
            inputs: Vec::new(),
        }
    }

    /// Records the input of the linear layer whose weight is at `path`, computing it only
    /// when the capture is on.
    pub fn record(&mut self, path: impl Into<String>, input: impl FnOnce() -> Tensor<2>) {
        if !self.on {
            return;
        }
        let path = path.into();
        if self.only.as_ref().is_none_or(|only| only.contains(&path)) {
            self.inputs.push((path, input()));
        }
    }

    /// The recorded inputs, in forward order.
    pub fn into_inputs(self) -> Vec<(String, Tensor<2>)> {
        self.inputs
    }
}

/// A model seen as `stem → blocks → head`, so that a pipeline can run it one block at a time:
/// capture a block's inputs over calibration data, change the block's weights, and feed the
/// block's new outputs to the next one. Every method computes in evaluation mode (call it on
/// `model.valid()`); running the stem, every block and the head in order gives the model's
/// logits (each implementation's tests hold them equal).
pub trait Blocks {
    /// One batch of the model's input (images, a token batch).
    type Input;
    /// What flows from one block to the next: the hidden states, with whatever every block
    /// needs beside them (an attention mask).
    type Hidden: Clone;

    /// Everything before the first block: token embeddings, a convolutional feature
    /// extractor, flattening.
    fn stem(&self, input: Self::Input) -> Self::Hidden;

    /// How many blocks there are.
    fn num_blocks(&self) -> usize;

    /// The weight paths of block `index`'s linear layers, in forward order.
    fn block_linears(&self, index: usize) -> Vec<String>;

    /// Block `index` on `hidden`, recording its linear layers' inputs in `capture`.
    fn block(&self, index: usize, hidden: Self::Hidden, capture: &mut Capture) -> Self::Hidden;

    /// The weight paths of the head's linear layers, in forward order.
    fn head_linears(&self) -> Vec<String>;

    /// The head on the last block's output: the logits, recording its linear layers' inputs.
    fn head(&self, hidden: Self::Hidden, capture: &mut Capture) -> Tensor<2>;
}

/// The model's logits and every linear layer's input, block by block, in evaluation mode.
pub fn run_blocks<M: Blocks + Module>(
    model: &M,
    input: M::Input,
    capture: &mut Capture,
) -> Tensor<2> {
    let model = model.valid();
    let mut hidden = model.stem(input);
    for index in 0..model.num_blocks() {
        hidden = model.block(index, hidden, capture);
    }
    model.head(hidden, capture)
}

/// Every linear layer's input, through [`Blocks`]: what [`LinearInputs`](crate::LinearInputs)
/// gives for the models that implement both.
pub fn linear_inputs_of<M: Blocks + Module>(
    model: &M,
    input: M::Input,
) -> Vec<(String, Tensor<2>)> {
    let mut capture = Capture::on();
    run_blocks(model, input, &mut capture);
    capture.into_inputs()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::{ImageClassifier, LeNet5Config, MlpConfig};

    /// Stem, blocks and head give the model's logits; the captured inputs are the declared
    /// linear layers', in order, each with its layer's input width.
    fn blocks_match<M: Blocks<Input = Tensor<4>> + ImageClassifier + Module>(model: M) {
        let device = Device::flex();
        let images = Tensor::<4>::random([3, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
        let mut capture = Capture::on();
        let logits = run_blocks(&model, images.clone(), &mut capture);
        let want: Vec<f32> = model.logits(images).into_data().iter::<f32>().collect();
        let got: Vec<f32> = logits.into_data().iter::<f32>().collect();
        assert_eq!(got, want);
        let declared: Vec<String> = (0..model.num_blocks())
            .flat_map(|i| model.block_linears(i))
            .chain(model.head_linears())
            .collect();
        let inputs = capture.into_inputs();
        let paths: Vec<&String> = inputs.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, declared.iter().collect::<Vec<_>>());
        for (path, input) in &inputs {
            assert_eq!(input.dims()[0], 3, "{path}: one row per image");
        }
        // Restricted, only the named layers are recorded.
        let first = declared[0].clone();
        let mut only = Capture::only([first.clone()]);
        run_blocks(
            &model,
            Tensor::<4>::zeros([1, 1, 28, 28], &device),
            &mut only,
        );
        let recorded: Vec<String> = only.into_inputs().into_iter().map(|(p, _)| p).collect();
        assert_eq!(recorded, [first]);
        // Switched off, nothing is recorded.
        let mut off = Capture::off();
        run_blocks(
            &model,
            Tensor::<4>::zeros([1, 1, 28, 28], &device),
            &mut off,
        );
        assert!(off.into_inputs().is_empty());
    }

    #[test]
    fn an_mlp_is_its_hidden_layers_then_its_classifier() {
        let model = MlpConfig::new().init(&Device::flex());
        assert_eq!(model.num_blocks(), 2);
        assert_eq!(model.head_linears(), ["layers.2.weight"]);
        blocks_match(model);
    }

    #[test]
    fn lenet5_is_its_convolutions_then_fc1_then_fc2() {
        let model = LeNet5Config::new().init(&Device::flex());
        assert_eq!(model.block_linears(0), ["fc1.weight"]);
        blocks_match(model);
    }
}
