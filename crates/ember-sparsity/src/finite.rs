//! Finding non-finite weights: the first sign that training diverged.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::count_true;
use crate::path::PathTracker;

/// A float parameter holding NaN or infinite values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFinite {
    /// The parameter's dotted path.
    pub path: String,
    /// How many of its values are NaN or infinite.
    pub count: usize,
    /// How many values it has.
    pub numel: usize,
}

impl core::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "`{}` ({} of {} values NaN or infinite)",
            self.path, self.count, self.numel
        )
    }
}

struct Finder {
    tracker: PathTracker,
    found: Option<NonFinite>,
}

impl ModuleVisitor for Finder {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let tensor = param.val();
        let numel = tensor.shape().num_elements();
        let count = count_true(tensor.is_finite().bool_not());
        if count > 0 {
            self.found = Some(NonFinite {
                path: self.tracker.path(),
                count,
                numel,
            });
        }
    }
}

/// The first float parameter of `module`, in visiting order, that holds a NaN or an infinite
/// value; `None` when every weight is finite.
pub fn first_non_finite<M: Module>(module: &M) -> Option<NonFinite> {
    let mut finder = Finder {
        tracker: PathTracker::default(),
        found: None,
    };
    module.visit(&mut finder);
    finder.found
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    #[derive(Module, Debug)]
    struct Two {
        first: Linear,
        second: Linear,
    }

    #[test]
    fn names_the_first_parameter_with_nan_or_inf_and_counts_its_values() {
        let device = Device::flex();
        let mut two = Two {
            first: LinearConfig::new(3, 2).init(&device),
            second: LinearConfig::new(2, 2).init(&device),
        };
        assert_eq!(first_non_finite(&two), None);
        let weight = two.second.weight.val();
        let broken = weight.clone().slice_assign(
            [0..1, 0..2],
            Tensor::from_floats([[f32::NAN, f32::INFINITY]], &device),
        );
        two.second.weight = two.second.weight.clone().map(|_| broken);
        let found = first_non_finite(&two).unwrap();
        assert_eq!(
            found,
            NonFinite {
                path: "second.weight".into(),
                count: 2,
                numel: 4
            }
        );
        assert!(found.to_string().contains("2 of 4"), "{found}");
    }
}
