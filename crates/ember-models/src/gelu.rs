//! BERT's exact GELU on flex, through Ember's vectorized `erf`.
//!
//! flex computes `gelu` with libm's scalar `erff`, one call per element, forward and again in
//! the backward pass: 9.3% of flex's MiniLM training step in `perf`, 13.8 ms forward for one
//! `[16, 64, 1536]` tensor. [`gelu`] reads the input once; off autodiff it computes the GELU
//! alone (`ember_kernels::gelu_in_place`), and under autodiff the GELU and its derivative in
//! one vectorized pass (`ember_kernels::gelu_with_slope`), then hands autodiff
//! the derivative as a constant: `y + (x − detach(x)) · slope` is `y` forward, to the bit,
//! and has gradient `slope` backward, one multiplication where burn's backward computes
//! `erf` again. Other backends keep burn's `gelu` (libtorch's is vectorized, and a GPU would
//! wait for the read-back).

use burn::tensor::{DType, Device, Tensor, TensorData};

/// The exact GELU, `x·Φ(x)`, of `x`: on flex (f32) through Ember's `erf`, within 4e-7 of the
/// exact value (`ember_kernels::gelu_in_place`), with its derivative to 1e-6 under autodiff;
/// elsewhere burn's `gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if device != Device::flex() || x.dtype() != DType::F32 {
        return burn::tensor::activation::gelu(x);
    }
    let shape = x.dims();
    let values = x
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor reads back as f32");
    let constant = |v: Vec<f32>| Tensor::<D>::from_data(TensorData::new(v, shape), &device);
    if !device.is_autodiff() {
        // No backward pass: the value alone, in place.
        let mut values = values;
        ember_kernels::gelu_in_place(&mut values);
        return constant(values);
    }
    let (mut value, mut slope) = (vec![0.0; values.len()], vec![0.0; values.len()]);
    ember_kernels::gelu_with_slope(&values, &mut value, &mut slope);
    // Zero forward (x − x), `slope` times the incoming gradient backward.
    constant(value) + (x.clone() - x.detach()) * constant(slope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::floats as values;

    /// The same values as burn's GELU within the kernel's 4e-7, on a plain device and on
    /// autodiff, and the same gradient within 1e-6.
    #[test]
    fn the_gelu_and_its_gradient_are_burns_within_the_kernels_error() {
        let inputs: Vec<f32> = (-600..600).map(|i| i as f32 * 0.01).collect();
        let close = |got: &[f32], want: &[f32], bound: f32| {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() <= bound * w.abs().max(1.0), "{g} vs {w}");
            }
        };
        let plain = Device::flex();
        let x = Tensor::<1>::from_data(inputs.as_slice(), &plain);
        let want = values(burn::tensor::activation::gelu(x.clone()));
        close(&values(gelu(x)), &want, 4e-7);

        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(inputs.as_slice(), &device).require_grad();
        let ours = gelu(x.clone());
        close(&values(ours.clone()), &want, 4e-7);
        let grad = values(x.grad(&ours.sum().backward()).unwrap());
        let x = Tensor::<1>::from_data(inputs.as_slice(), &device).require_grad();
        let burns = burn::tensor::activation::gelu(x.clone());
        let want_grad = values(x.grad(&burns.sum().backward()).unwrap());
        close(&grad, &want_grad, 1e-6);
    }
}
