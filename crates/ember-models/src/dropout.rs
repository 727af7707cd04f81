//! Dropout with its mask drawn on the host on the flex backend.
//!
//! burn's [`Dropout`] draws its mask with `random_like(Bernoulli)`, which flex computes one
//! element at a time from its ChaCha generator: 21.7 ms for the `[16, 64, 1536]` tensor of a
//! MiniLM step (`benches/transformer_ops.rs`), about 130 ms of flex's MiniLM training step
//! for the 9.8M elements BERT drops per step. [`dropout`] takes one seed from the backend's
//! generator, so that the trainer's per-step seeds still fix every mask, and draws the
//! mask from a xoshiro256++ stream, already scaled: one multiplication forward and one
//! backward, where burn's layer takes two of each. libtorch on the CPU (with the `tch`
//! feature) takes the same path; GPUs keep burn's own draw, since they would wait for the
//! seed's read-back and the mask's upload.

use burn::nn::Dropout;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

/// `layer` applied to `input`: the same conditions as [`Dropout::forward`] (a training layer
/// on an autodiff device with a non-zero rate), each element zeroed with probability
/// `layer.prob` and the others scaled by `1 / (1 - prob)`.
///
/// On flex the mask comes from a seed drawn from the backend's generator, so a seeded device
/// gives the same masks; elsewhere this is [`Dropout::forward`].
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    if !host_drawn(&device) {
        return layer.forward(input);
    }
    let mask = mask(input.dims(), layer.prob, seed(&device), &device);
    input * mask
}

/// Whether Ember draws `device`'s masks: flex, and libtorch on the CPU (whose `bernoulli`
/// through burn took 10.3 ms for the `[16, 64, 1536]` tensor, 3.4× PyTorch's own).
fn host_drawn(device: &Device) -> bool {
    // burn 0.22 deprecates its libtorch backend, which Ember still offers (`--device tch`).
    #[cfg(feature = "tch")]
    #[allow(deprecated)]
    if *device == Device::libtorch() {
        return true;
    }
    *device == Device::flex()
}

/// 64 bits from the device's generator: two uniform floats' mantissas (23 bits each) and
/// the exponent bits that vary in `[0, 1)`, enough to key a stream per call.
fn seed(device: &Device) -> u64 {
    let drawn = Tensor::<1>::random([2], Distribution::Default, &device.clone().inner());
    let values = drawn
        .into_data()
        .try_to_vec::<f32>()
        .expect("a float tensor reads back as f32");
    (u64::from(values[0].to_bits()) << 32) | u64::from(values[1].to_bits())
}

/// A `shape` of `0` (probability `prob`) and `1 / (1 - prob)` from the stream `seed` keys.
fn mask<const D: usize>(shape: [usize; D], prob: f64, seed: u64, device: &Device) -> Tensor<D> {
    let count: usize = shape.iter().product();
    let keep = 1.0 - prob;
    // An element is kept when its 32 random bits fall below `keep · 2^32`.
    let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(count);
    while values.len() < count {
        let bits = rng.next_u64();
        for word in [bits as u32, (bits >> 32) as u32] {
            if values.len() < count {
                values.push(if word < threshold { scale } else { 0.0 });
            }
        }
    }
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;

    use super::*;
    use crate::test_support::floats as values;

    #[test]
    fn a_mask_zeroes_its_share_and_scales_the_rest() {
        let device = Device::flex();
        for prob in [0.1, 0.5] {
            let drawn = values(mask([64, 1000], prob, 3, &device));
            let scale = (1.0 / (1.0 - prob)) as f32;
            assert!(drawn.iter().all(|v| *v == 0.0 || *v == scale));
            let zeros = drawn.iter().filter(|v| **v == 0.0).count() as f64;
            // Binomial(64,000, prob): five standard deviations.
            let (mean, sd) = (64_000.0 * prob, (64_000.0 * prob * (1.0 - prob)).sqrt());
            assert!(
                (zeros - mean).abs() < 5.0 * sd,
                "{zeros} zeros at {prob}, expected {mean}"
            );
        }
        // A key fixes the mask; another key gives another.
        let a = values(mask([7, 33], 0.3, 11, &device));
        assert_eq!(a, values(mask([7, 33], 0.3, 11, &device)));
        assert_ne!(a, values(mask([7, 33], 0.3, 12, &device)));
    }

    #[test]
    fn the_layer_drops_only_while_training_on_autodiff() {
        let layer = DropoutConfig::new(0.25).init();
        let input = |device: &Device| Tensor::<2>::ones([16, 40], device);
        // A plain device, and a layer in evaluation mode: the input as it is.
        let plain = Device::flex();
        assert!(
            values(dropout(&layer, input(&plain)))
                .iter()
                .all(|v| *v == 1.0)
        );
        let device = Device::flex().autodiff();
        let off = burn::module::Module::valid(&layer);
        assert!(
            values(dropout(&off, input(&device)))
                .iter()
                .all(|v| *v == 1.0)
        );
        // Training on autodiff: zeros and survivors scaled by 1 / 0.75, the gradient the mask.
        let x = input(&device).require_grad();
        let dropped = dropout(&layer, x.clone());
        let forward = values(dropped.clone());
        assert!(forward.iter().all(|v| *v == 0.0 || *v == 1.0 / 0.75));
        let zeros = forward.iter().filter(|v| **v == 0.0).count();
        assert!(
            (80..=240).contains(&zeros),
            "{zeros} of 640 dropped at 0.25"
        );
        let grads = dropped.sum().backward();
        assert_eq!(values(x.grad(&grads).unwrap()), forward);
    }
}
