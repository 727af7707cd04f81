use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::blocks::{Blocks, Capture, linear_inputs_of};
use crate::{ImageClassifier, LinearInputs};

/// A fully connected classifier with ReLU between layers. The default is LeNet-300-100
/// (784 → 300 → 100 → 10), the network of Han et al. (2015).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features (pixels per image).
    #[config(default = 784)]
    pub input: usize,
    /// Widths of the hidden layers.
    #[config(default = "vec![300, 100]")]
    pub hidden: Vec<usize>,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
}

/// A multi-layer perceptron. Layers are named `layers.0`, `layers.1`, …; the last one is the
/// classifier head.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The linear layers, input first.
    pub layers: Vec<Linear>,
}

impl MlpConfig {
    /// Builds the model with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let widths: Vec<usize> = std::iter::once(self.input)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.classes))
            .collect();
        let layers = widths
            .windows(2)
            .map(|pair| LinearConfig::new(pair[0], pair[1]).init(device))
            .collect();
        Mlp { layers }
    }
}

impl ImageClassifier for Mlp {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x: Tensor<2> = images.flatten(1, 3);
        let last = self.layers.len() - 1;
        for (index, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if index < last {
                x = relu(x);
            }
        }
        x
    }
}

/// Every layer but the last is a block (`Linear` then ReLU); the last is the head.
impl Blocks for Mlp {
    type Input = Tensor<4>;
    type Hidden = Tensor<2>;

    fn stem(&self, images: Tensor<4>) -> Tensor<2> {
        images.flatten(1, 3)
    }

    fn num_blocks(&self) -> usize {
        self.layers.len() - 1
    }

    fn block_linears(&self, index: usize) -> Vec<String> {
        vec![format!("layers.{index}.weight")]
    }

    fn block(&self, index: usize, x: Tensor<2>, capture: &mut Capture) -> Tensor<2> {
        capture.record(format!("layers.{index}.weight"), || x.clone());
        relu(self.layers[index].forward(x))
    }

    fn head_linears(&self) -> Vec<String> {
        vec![format!("layers.{}.weight", self.layers.len() - 1)]
    }

    fn head(&self, x: Tensor<2>, capture: &mut Capture) -> Tensor<2> {
        let last = self.layers.len() - 1;
        capture.record(format!("layers.{last}.weight"), || x.clone());
        self.layers[last].forward(x)
    }
}

impl LinearInputs<Tensor<4>> for Mlp {
    fn linear_inputs(&self, images: Tensor<4>) -> Vec<(String, Tensor<2>)> {
        linear_inputs_of(self, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn lenet_300_100_has_266_610_parameters() {
        let model = MlpConfig::new().init(&Device::flex());
        assert_eq!(
            model.num_params(),
            784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
        );
        let logits = model.logits(Tensor::zeros([3, 1, 28, 28], &Device::flex()));
        assert_eq!(logits.dims(), [3, 10]);
    }

    #[test]
    fn linear_inputs_are_what_each_layer_receives() {
        let device = Device::flex();
        let model = MlpConfig::new().init(&device);
        let images = Tensor::<4>::random(
            [5, 1, 28, 28],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let inputs = model.linear_inputs(images.clone());
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
        );
        assert_eq!(inputs[0].1.dims(), [5, 784]);
        assert_eq!(inputs[2].1.dims(), [5, 100]);
        // Feeding the last input through the head gives the logits.
        let logits = model.layers[2].forward(inputs[2].1.clone());
        logits
            .into_data()
            .assert_approx_eq::<f32>(&model.logits(images).into_data(), Default::default());
    }
}
