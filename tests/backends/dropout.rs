//! BERT's dropout on every backend: Ember draws the masks of flex and of libtorch on the CPU
//! itself, and leaves the others to burn; on each, a training layer drops its share and
//! scales the survivors, and gradients flow through the kept elements alone.

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::tensor::Tensor;
use ember::models::dropout::dropout;

use crate::devices;

#[test]
fn dropout_drops_its_share_and_scales_the_rest_on_every_backend() {
    let layer = DropoutConfig::new(0.25).init();
    let scale = 1.0f32 / 0.75;
    for (name, device) in devices() {
        let device = device.autodiff();
        let x = Tensor::<2>::ones([64, 100], &device).require_grad();
        let dropped = dropout(&layer, x.clone());
        let values: Vec<f32> = dropped.clone().into_data().try_to_vec().unwrap();
        assert!(
            values.iter().all(|v| *v == 0.0 || (v - scale).abs() < 1e-6),
            "{name}: a value that is neither dropped nor scaled"
        );
        // Binomial(6,400, 0.25): 1,600 ± 5 standard deviations (173).
        let zeros = values.iter().filter(|v| **v == 0.0).count();
        assert!(
            (1_427..=1_773).contains(&zeros),
            "{name}: {zeros} of 6,400 dropped"
        );
        let grads = dropped.sum().backward();
        let grad: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        for (g, v) in grad.iter().zip(&values) {
            assert!(
                (g - v).abs() < 1e-6,
                "{name}: gradient {g} where the output is {v}"
            );
        }
        // In evaluation mode the layer passes its input through.
        let off = dropout(&layer.valid(), Tensor::<2>::ones([4, 4], &device));
        let off: Vec<f32> = off.into_data().try_to_vec().unwrap();
        assert!(
            off.iter().all(|v| *v == 1.0),
            "{name}: an evaluation layer dropped"
        );
    }
}
