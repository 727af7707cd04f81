//! What the unit tests of the models share.

use burn::tensor::Tensor;

/// The values of `t`, on the host.
pub(crate) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}
