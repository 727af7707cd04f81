use super::{Groups, Pattern, PatternInput};

/// Which whole units a [`Structured`] pattern removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitDim {
    /// Output units: a `Linear`'s neurons (PyTorch rows, burn columns, and the matching bias
    /// entries), a convolution's filters.
    Output,
    /// Input units: a `Linear`'s input features (PyTorch columns, burn rows), a convolution's
    /// input channels.
    Input,
}

/// Whole neurons, filters or channels. The weight and the bias of one layer, when both are
/// selected, form one unit: an output neuron's bias goes with its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Structured {
    /// Output or input units.
    pub dim: UnitDim,
}

impl Structured {
    /// The number of units and the unit of flat index `i`.
    fn unit_of(&self, param: &PatternInput<'_>) -> (usize, Box<dyn Fn(usize) -> usize>) {
        let shape = param.shape.to_vec();
        match (param.layer_type, shape.len(), self.dim) {
            // A bias has one element per output unit.
            (_, 1, _) => (shape[0], Box::new(|i| i)),
            ("Linear", _, UnitDim::Output) => (shape[1], Box::new(move |i| i % shape[1])),
            ("Linear", _, UnitDim::Input) => (shape[0], Box::new(move |i| i / shape[1])),
            // Convolutions: [out, in, k...] in burn as in PyTorch.
            (_, _, UnitDim::Output) => {
                let per_filter = shape[1..].iter().product::<usize>();
                (shape[0], Box::new(move |i| i / per_filter))
            }
            (_, _, UnitDim::Input) => {
                let kernel = shape[2..].iter().product::<usize>();
                let inputs = shape[1];
                (inputs, Box::new(move |i| (i / kernel) % inputs))
            }
        }
    }
}

impl Pattern for Structured {
    fn name(&self) -> String {
        match self.dim {
            UnitDim::Output => "output_units".to_string(),
            UnitDim::Input => "input_units".to_string(),
        }
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        let ok = match param.shape.len() {
            1 => self.dim == UnitDim::Output && param.field() == "bias",
            2 => param.layer_type == "Linear",
            _ => param.layer_type.starts_with("Conv"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{}` ({} of shape {:?}) has no {}: structured patterns take Linear and Conv \
                 weights, and biases with output units",
                param.path,
                param.layer_type,
                param.shape,
                self.name().replace('_', " ")
            ))
        }
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let (count, unit_of) = self.unit_of(param);
        Groups::from_fn(param.module_path(), param.numel(), count, unit_of)
    }
}
