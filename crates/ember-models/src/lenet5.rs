use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::blocks::{Blocks, Capture, linear_inputs_of};
use crate::{ImageClassifier, LinearInputs};

/// LeNet-5 for 28×28 images, in the Caffe variant used by the pruning literature
/// (Han et al. 2015): conv 5×5×20 → pool → conv 5×5×50 → pool → fc 500 → fc 10.
#[derive(Config, Debug)]
pub struct LeNet5Config {
    /// Channels of the first convolution.
    #[config(default = 20)]
    pub conv1: usize,
    /// Channels of the second convolution.
    #[config(default = 50)]
    pub conv2: usize,
    /// Width of the hidden fully connected layer.
    #[config(default = 500)]
    pub hidden: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
}

/// The LeNet-5 convolutional network.
#[derive(Module, Debug)]
pub struct LeNet5 {
    /// First convolution (1 → conv1 channels).
    pub conv1: Conv2d,
    /// Second convolution (conv1 → conv2 channels).
    pub conv2: Conv2d,
    /// Hidden fully connected layer.
    pub fc1: Linear,
    /// Classifier head.
    pub fc2: Linear,
    pool: MaxPool2d,
}

impl LeNet5Config {
    /// Builds the model with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> LeNet5 {
        let conv = |input, output| {
            Conv2dConfig::new([input, output], [5, 5])
                .with_padding(PaddingConfig2d::Valid)
                .init(device)
        };
        LeNet5 {
            conv1: conv(1, self.conv1),
            conv2: conv(self.conv1, self.conv2),
            // 28 → conv 24 → pool 12 → conv 8 → pool 4.
            fc1: LinearConfig::new(self.conv2 * 4 * 4, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.classes).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }
}

impl ImageClassifier for LeNet5 {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.conv1.forward(images));
        let x = self.pool.forward(self.conv2.forward(x));
        let x: Tensor<2> = x.flatten(1, 3);
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}

/// The convolutions and pooling are the stem (they are not linear layers); `fc1` with its
/// ReLU is the one block, `fc2` the head.
impl Blocks for LeNet5 {
    type Input = Tensor<4>;
    type Hidden = Tensor<2>;

    fn stem(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(self.conv1.forward(images));
        let x = self.pool.forward(self.conv2.forward(x));
        x.flatten(1, 3)
    }

    fn num_blocks(&self) -> usize {
        1
    }

    fn block_linears(&self, _index: usize) -> Vec<String> {
        vec!["fc1.weight".into()]
    }

    fn block(&self, _index: usize, x: Tensor<2>, capture: &mut Capture) -> Tensor<2> {
        capture.record("fc1.weight", || x.clone());
        relu(self.fc1.forward(x))
    }

    fn head_linears(&self) -> Vec<String> {
        vec!["fc2.weight".into()]
    }

    fn head(&self, x: Tensor<2>, capture: &mut Capture) -> Tensor<2> {
        capture.record("fc2.weight", || x.clone());
        self.fc2.forward(x)
    }
}

impl LinearInputs<Tensor<4>> for LeNet5 {
    /// The inputs of `fc1` and `fc2` (the convolutions are not linear layers).
    fn linear_inputs(&self, images: Tensor<4>) -> Vec<(String, Tensor<2>)> {
        linear_inputs_of(self, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let model = LeNet5Config::new().init(&Device::flex());
        let expected = 20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10;
        assert_eq!(model.num_params(), expected);
        let logits = model.logits(Tensor::zeros([2, 1, 28, 28], &Device::flex()));
        assert_eq!(logits.dims(), [2, 10]);
    }
}
