//! One entry's masks in the form a step applies: factors that burn's tensor ops multiply by
//! on every backend, and on flex the same masks in host memory, written in one pass.

use burn::tensor::kind::Basic;
use burn::tensor::{Bool, Device, Tensor};

use super::in_place::HostMasks;

/// What one entry's masks do to its weight and gradient on every step, built when the masks
/// change: the tensor factors, and on flex the host masks that replace them when the tensor
/// can be written in place ([`HostMasks`]: one pass instead of one per factor).
#[derive(Clone, Debug)]
pub(crate) struct Factors {
    ops: Ops,
    host: Option<HostMasks>,
}

impl Factors {
    /// The factors of a keep-mask (`true` = kept) and a freeze set (`true` = frozen, with
    /// its values); `None` when the entry has neither.
    pub(crate) fn new(
        keep: Option<Tensor<1, Bool>>,
        frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
    ) -> Option<Self> {
        let (ops, trains, offset) = Ops::new(keep, frozen)?;
        let host = HostMasks::on_flex(&trains, offset.as_ref());
        Some(Self { ops, host })
    }

    /// The device the factors live on.
    pub(crate) fn device(&self) -> Option<Device> {
        self.ops.device()
    }

    /// Zeroes the pruned elements and writes back the frozen values bit for bit. Works on the
    /// inner tensor of an autodiff weight and keeps it a trainable leaf.
    pub(crate) fn apply<const D: usize>(&self, weight: Tensor<D>) -> Tensor<D> {
        edit_inner(weight, |value| match &self.host {
            Some(host) => host.apply(value, |value| self.ops.apply(value)),
            None => self.ops.apply(value),
        })
    }

    /// Zeroes the gradient of every pruned or frozen element.
    pub(crate) fn mask_gradient<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        match &self.host {
            Some(host) => host.mask_gradient(grad, |grad| self.ops.mask_gradient(grad)),
            None => self.ops.mask_gradient(grad),
        }
    }
}

/// Runs `edit` on the inner (non-autodiff) tensor and keeps the result a trainable leaf if the
/// input was one: a parameter whose value came out of a tracked operation would silently stop
/// training.
fn edit_inner<const D: usize>(
    tensor: Tensor<D>,
    edit: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if tensor.is_autodiff() {
        let require_grad = tensor.is_require_grad();
        Tensor::from_inner(edit(tensor.inner())).set_require_grad(require_grad)
    } else {
        edit(tensor)
    }
}

/// What one entry's masks do to its weight and gradient on every step, precomputed when the
/// masks change so that a step multiplies instead of selecting.
///
/// A multiply is the cheapest exact form on every backend: burn's flex backend runs a
/// `mask_fill` on a tensor nothing else holds (a weight or a gradient during a step) as one
/// branch per element, 5.7× slower than its vectorised multiply (`benches/mask_ops.rs`), and
/// that select was almost all of what masks cost a LeNet-300-100 step (docs/performance.md).
// One per masked tensor, built when masks change: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Ops {
    /// `weight · scale + offset` and `gradient · scale`.
    Multiply {
        /// 1.0 where the element trains, +0.0 where it is pruned or frozen.
        scale: Tensor<1>,
        /// The frozen values where frozen and +0.0 elsewhere; `None` without a freeze set.
        /// Without one the step is a single multiply, and a pruned weight is +0.0 or -0.0
        /// (the sign of what the optimizer left there): equal to zero for every comparison,
        /// the sparse engine and the exports (the sparse export writes both as absent). An
        /// addition of +0.0 to make every pruned zero positive cost a third pass over the
        /// weights, a third of what masks cost a LeNet-300-100 step (docs/performance.md).
        offset: Option<Tensor<1>>,
    },
    /// Selects with the masks: for an entry with a frozen value of -0.0, which `w · 0 + v`
    /// cannot reproduce (it gives +0.0 when `w` is positive).
    Select {
        /// `true` = pruned.
        pruned: Option<Tensor<1, Bool>>,
        /// `true` = frozen, and the frozen values.
        frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
    },
}

impl Ops {
    /// The factors of a keep-mask (`true` = kept) and a freeze set (`true` = frozen, with
    /// its values), with the two masks they come from: where the element trains, and the
    /// frozen values (+0.0 where not frozen); `None` when the entry has neither.
    #[allow(clippy::type_complexity)]
    fn new(
        keep: Option<Tensor<1, Bool>>,
        frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
    ) -> Option<(Self, Tensor<1, Bool>, Option<Tensor<1>>)> {
        let trains = match (&keep, &frozen) {
            (None, None) => return None,
            (Some(keep), None) => keep.clone(),
            (None, Some((frozen, _))) => frozen.clone().bool_not(),
            (Some(keep), Some((frozen, _))) => keep.clone().bool_and(frozen.clone().bool_not()),
        };
        let Some((frozen, values)) = frozen else {
            return Some((Self::multiply(&trains, None), trains, None));
        };
        let offset = values.clone().mask_fill(frozen.clone().bool_not(), 0.0);
        // 1/(-0.0) is -inf; so is 1/x for the smallest negative subnormals, which then
        // select too: slower for that tensor, never wrong.
        let negative_zero = values
            .clone()
            .recip()
            .equal_elem(f32::NEG_INFINITY)
            .bool_and(frozen.clone())
            .any()
            .into_scalar::<bool>();
        let ops = if negative_zero {
            Self::Select {
                pruned: keep.map(Tensor::bool_not),
                frozen: Some((frozen, values)),
            }
        } else {
            Self::multiply(&trains, Some(offset.clone()))
        };
        Some((ops, trains, Some(offset)))
    }

    fn multiply(trains: &Tensor<1, Bool>, offset: Option<Tensor<1>>) -> Self {
        Self::Multiply {
            scale: trains.clone().float(),
            offset,
        }
    }

    /// The device the factors live on.
    fn device(&self) -> Option<Device> {
        match self {
            Self::Multiply { scale, .. } => Some(scale.device()),
            Self::Select {
                pruned: Some(pruned),
                ..
            } => Some(pruned.device()),
            Self::Select {
                frozen: Some((frozen, _)),
                ..
            } => Some(frozen.device()),
            Self::Select { .. } => None,
        }
    }

    /// Zeroes the pruned elements (to +0.0 or -0.0, see [`Ops::Multiply`]) and writes
    /// back the frozen values bit for bit.
    fn apply<const D: usize>(&self, value: Tensor<D>) -> Tensor<D> {
        let dims = value.dims();
        let device = value.device();
        {
            match self {
                Self::Multiply { scale, offset } => {
                    let scaled = value.mul(placed(scale, &device, dims));
                    match offset {
                        Some(offset) => scaled.add(placed(offset, &device, dims)),
                        None => scaled,
                    }
                }
                Self::Select { pruned, frozen } => {
                    let mut value = value;
                    if let Some(pruned) = pruned {
                        value = value.mask_fill(placed(pruned, &device, dims), 0.0);
                    }
                    if let Some((mask, values)) = frozen {
                        value = value
                            .mask_where(placed(mask, &device, dims), placed(values, &device, dims));
                    }
                    value
                }
            }
        }
    }

    /// Zeroes the gradient of every pruned or frozen element (a multiply leaves -0.0 for a
    /// negative gradient, which every optimizer treats as zero).
    fn mask_gradient<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        let dims = grad.dims();
        let device = grad.device();
        match self {
            Self::Multiply { scale, .. } => grad.mul(placed(scale, &device, dims)),
            Self::Select { pruned, frozen } => {
                let mut grad = grad;
                if let Some(pruned) = pruned {
                    grad = grad.mask_fill(placed(pruned, &device, dims), 0.0);
                }
                if let Some((mask, _)) = frozen {
                    grad = grad.mask_fill(placed(mask, &device, dims), 0.0);
                }
                grad
            }
        }
    }
}

/// A flat mask or factor on `device`, in the shape of the tensor it applies to.
fn placed<const D: usize, K: Basic>(
    flat: &Tensor<1, K>,
    device: &Device,
    dims: [usize; D],
) -> Tensor<D, K> {
    flat.clone().to_device(device).reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Bool, Device, Tensor};
    use proptest::prelude::*;

    use super::Factors;

    fn bits(tensor: Tensor<1>) -> Vec<u32> {
        tensor.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    /// Pruned elements come out zero (+0.0 where a freeze set's offset is added, either sign
    /// without one); frozen values bit for bit, -0.0 included, which `w · 0 + v` alone cannot
    /// give (it is +0.0 for a positive `w`).
    #[test]
    fn factors_zero_pruned_and_restore_frozen_signed_zeros() {
        let device = Device::flex();
        let flags = |f: [bool; 4]| Tensor::<1, Bool>::from_data(f, &device);
        let floats = |f: [f32; 4]| Tensor::<1>::from_data(f, &device);
        let weight = floats([-3.0, 2.0, 5.0, 7.0]);
        let keep = flags([false, true, true, true]);
        for frozen_value in [-0.0f32, 0.0, -1.5] {
            let frozen = (
                flags([false, false, true, false]),
                floats([9.0, 9.0, frozen_value, 9.0]),
            );
            let factors = Factors::new(Some(keep.clone()), Some(frozen)).unwrap();
            let expected = [
                0,
                2.0f32.to_bits(),
                frozen_value.to_bits(),
                7.0f32.to_bits(),
            ];
            assert_eq!(
                bits(factors.apply(weight.clone())),
                expected,
                "{frozen_value}"
            );
            let grad = factors.mask_gradient(floats([1.0, -2.0, 3.0, 4.0]));
            let grad: Vec<f32> = grad.into_data().iter::<f32>().collect();
            assert_eq!(grad, [0.0, -2.0, 0.0, 4.0]);
        }
        let pruned_only = Factors::new(Some(keep), None).unwrap();
        let applied: Vec<f32> = pruned_only
            .apply(weight)
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(applied, [0.0, 2.0, 5.0, 7.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The one-pass host write gives the tensor ops' result bit for bit on weights and
        /// gradients, but for the sign of a pruned zero (always +0.0 on the host).
        #[test]
        fn the_host_pass_equals_the_tensor_ops(
            cells in proptest::collection::vec(
                (0u8..3, prop_oneof![any::<f32>().prop_filter("finite", |x| x.is_finite()), Just(-0.0f32)],
                 -1e3f32..1e3),
                1..200,
            ),
        ) {
            let device = Device::flex();
            let n = cells.len();
            // 0 trains, 1 pruned, 2 frozen (at a value of its own).
            let keep: Vec<bool> = cells.iter().map(|c| c.0 != 1).collect();
            let frozen: Vec<bool> = cells.iter().map(|c| c.0 == 2).collect();
            let values: Vec<f32> = cells.iter().map(|c| c.1).collect();
            let weight: Vec<f32> = cells.iter().map(|c| c.2).collect();
            let flags = |f: &[bool]| Tensor::<1, Bool>::from_data(f, &device);
            let floats = |f: &[f32]| Tensor::<1>::from_data(f, &device);
            let factors = Factors::new(
                Some(flags(&keep)),
                Some((flags(&frozen), floats(&values))),
            )
            .unwrap();
            prop_assert!(factors.host.is_some());
            let host = bits(factors.apply(floats(&weight)));
            let ops = bits(factors.ops.apply(floats(&weight)));
            let positive = |b: u32| if b == (-0.0f32).to_bits() { 0 } else { b };
            for i in 0..n {
                if cells[i].0 == 1 {
                    prop_assert_eq!(host[i], 0, "pruned {}", i);
                    prop_assert_eq!(positive(ops[i]), 0, "pruned {}", i);
                } else {
                    prop_assert_eq!(host[i], ops[i], "element {}", i);
                }
            }
            let host = bits(factors.mask_gradient(floats(&weight)));
            let ops = bits(factors.ops.mask_gradient(floats(&weight)));
            let host: Vec<u32> = host.into_iter().map(positive).collect();
            let ops: Vec<u32> = ops.into_iter().map(positive).collect();
            prop_assert_eq!(host, ops);
        }
    }
}
