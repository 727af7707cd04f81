//! Masks written straight into a flex tensor's storage, in one pass per tensor.
//!
//! Through burn's tensor ops a masked weight costs a multiply by a full-size `f32` factor and,
//! with a freeze set, an addition of a second one: two passes over the weight, each reading
//! another array as large as it (LeNet-300-100's first layer: four 940 KB arrays per step,
//! docs/performance.md). Here the mask is one byte per element and the write is a single
//! pass: `bits(w) & keep | frozen_bits`. That is the same result bit for bit, except that a
//! pruned element always comes out +0.0 (a multiply leaves -0.0 where the weight was
//! negative). flex is burn's default CPU backend; the other backends keep the tensor ops.

use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Bool, DType, Tensor};

/// One entry's masks in host memory, for tensors that live on flex.
#[derive(Clone, Debug)]
pub(crate) struct HostMasks {
    /// `0xFF` where the element trains, `0x00` where it is pruned or frozen.
    keep: Arc<[u8]>,
    /// The frozen values' bits where frozen and 0 elsewhere; `None` without a freeze set.
    frozen: Option<Arc<[u32]>>,
}

impl HostMasks {
    /// The host form of `trains` (`true` = the element trains) and `frozen` (the frozen
    /// values, +0.0 where not frozen), when they live on flex; `None` on any other backend.
    pub(crate) fn on_flex(trains: &Tensor<1, Bool>, frozen: Option<&Tensor<1>>) -> Option<Self> {
        trains.clone().try_into_primitive::<Flex>().ok()?;
        let keep = trains
            .clone()
            .into_data()
            .iter::<bool>()
            .map(|trains| if trains { 0xFF } else { 0x00 })
            .collect();
        let frozen = frozen.map(|values| {
            values
                .clone()
                .into_data()
                .iter::<f32>()
                .map(f32::to_bits)
                .collect()
        });
        Some(Self { keep, frozen })
    }

    /// Zeroes the pruned elements of a weight and writes its frozen values back; a tensor
    /// that cannot be written here (not on flex, or not `f32`) goes to `otherwise`.
    pub(crate) fn apply<const D: usize>(
        &self,
        weight: Tensor<D>,
        otherwise: impl FnOnce(Tensor<D>) -> Tensor<D>,
    ) -> Tensor<D> {
        self.write(weight, self.frozen.as_deref(), otherwise)
    }

    /// Zeroes the gradient of every pruned or frozen element; `otherwise` as for
    /// [`HostMasks::apply`].
    pub(crate) fn mask_gradient<const D: usize>(
        &self,
        grad: Tensor<D>,
        otherwise: impl FnOnce(Tensor<D>) -> Tensor<D>,
    ) -> Tensor<D> {
        self.write(grad, None, otherwise)
    }

    fn write<const D: usize>(
        &self,
        tensor: Tensor<D>,
        frozen: Option<&[u32]>,
        otherwise: impl FnOnce(Tensor<D>) -> Tensor<D>,
    ) -> Tensor<D> {
        // A clone, because a failed downcast consumes what it is given.
        let Ok(primitive) = tensor.clone().try_into_primitive::<Flex>() else {
            return otherwise(tensor);
        };
        if primitive.dtype() != DType::F32 || tensor.shape().num_elements() != self.keep.len() {
            return otherwise(tensor);
        }
        // The caller's handle goes, so that a tensor nothing else holds is written in place.
        drop(tensor);
        // A weight or a gradient is row-major already; a strided view is copied to be one.
        let (mut primitive, (start, end)) = match primitive.layout().contiguous_offsets() {
            Some(offsets) => (primitive, offsets),
            None => {
                let copy = FlexTensor::from_data(primitive.into_data());
                let offsets = (0, copy.layout().num_elements());
                (copy, offsets)
            }
        };
        // Copies first when another handle shares the storage (copy on write), so that no
        // other tensor sees the change.
        let values = &mut primitive.storage_mut::<f32>()[start..end];
        mask_slice(values, &self.keep, frozen);
        Tensor::from_primitive::<Flex>(primitive)
    }
}

/// `values[i] = bits(values[i]) & keep[i] | frozen[i]`, with each `keep` byte widened to a
/// 32-bit mask (`0xFF` to all ones): one vectorised pass.
fn mask_slice(values: &mut [f32], keep: &[u8], frozen: Option<&[u32]>) {
    let widen = |keep: u8| keep as i8 as i32 as u32;
    match frozen {
        None => {
            for (value, &keep) in values.iter_mut().zip(keep) {
                *value = f32::from_bits(value.to_bits() & widen(keep));
            }
        }
        Some(frozen) => {
            for ((value, &keep), &frozen) in values.iter_mut().zip(keep).zip(frozen) {
                *value = f32::from_bits(value.to_bits() & widen(keep) | frozen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;

    fn bits<const D: usize>(tensor: Tensor<D>) -> Vec<u32> {
        tensor.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    fn masks(device: &Device) -> HostMasks {
        let trains = Tensor::<1, Bool>::from_data([true, false, true, false, true, true], device);
        let frozen = Tensor::<1>::from_data([0.0, 0.0, 0.0, -0.0, 0.0, 0.0], device);
        HostMasks::on_flex(&trains, Some(&frozen)).expect("flex")
    }

    /// Pruned elements come out +0.0 whatever their sign, frozen ones (here -0.0) bit for bit,
    /// trained ones untouched; the gradient keeps only the trained elements.
    #[test]
    fn a_pass_zeroes_pruned_writes_frozen_and_keeps_the_rest() {
        let device = Device::flex();
        let masks = masks(&device);
        let weight = Tensor::<2>::from_data([[1.5, -2.0, -3.0], [4.0, -5.0, 6.0]], &device);
        let applied = masks.apply(weight, |_| unreachable!("flex, f32"));
        let expected = [1.5f32, 0.0, -3.0, -0.0, -5.0, 6.0].map(f32::to_bits);
        assert_eq!(bits(applied), expected);
        let grad = Tensor::<2>::from_data([[-1.0, -1.0, 2.0], [3.0, -4.0, 5.0]], &device);
        let masked = masks.mask_gradient(grad, |_| unreachable!("flex, f32"));
        let expected = [-1.0f32, 0.0, 2.0, 0.0, -4.0, 5.0].map(f32::to_bits);
        assert_eq!(bits(masked), expected);
    }

    /// A tensor that shares its storage is copied, not written under the other handle; a
    /// transposed view is masked in its own element order.
    #[test]
    fn shared_and_strided_tensors_are_copied_first() {
        let device = Device::flex();
        let masks = masks(&device);
        let weight = Tensor::<2>::from_data([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], &device);
        let other = weight.clone();
        let applied = masks.mask_gradient(weight, |_| unreachable!("flex, f32"));
        assert_eq!(
            bits(other),
            [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].map(f32::to_bits)
        );
        assert_eq!(
            bits(applied),
            [1.0f32, 0.0, 3.0, 0.0, 5.0, 6.0].map(f32::to_bits)
        );

        let transposed =
            Tensor::<2>::from_data([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]], &device).transpose();
        let applied = masks.mask_gradient(transposed, |_| unreachable!("flex, f32"));
        assert_eq!(
            bits(applied),
            [1.0f32, 0.0, 3.0, 0.0, 5.0, 6.0].map(f32::to_bits)
        );
    }

    /// A tensor of another size or element type is handed back untouched.
    #[test]
    fn what_it_cannot_write_is_handed_back() {
        let device = Device::flex();
        let masks = masks(&device);
        let short = Tensor::<1>::from_data([1.0, 2.0], &device);
        let handed_back = masks.apply(short, |t| t.mul_scalar(10.0));
        assert_eq!(bits(handed_back), [10.0f32, 20.0].map(f32::to_bits));
        let half = Tensor::<1>::from_data([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &device)
            .cast(burn::tensor::DType::F16);
        let handed_back = masks.apply(half, |t| t.mul_scalar(10.0));
        assert_eq!(handed_back.dtype(), burn::tensor::DType::F16);
        let values = bits(handed_back.cast(burn::tensor::DType::F32));
        assert_eq!(
            values,
            [10.0f32, 20.0, 30.0, 40.0, 50.0, 60.0].map(f32::to_bits)
        );
    }
}
