use super::{Groups, Pattern, PatternInput, Structured, UnitDim};

/// Every output unit (a `Linear` neuron's row of weights in PyTorch's layout, a convolution's
/// filter) loses the same fraction of its own weights: the comparison group of Wanda (Sun et
/// al. 2023), where weights compete only with the weights of the same output.
///
/// Unlike [`Structured`](super::Structured), which removes whole units, this prunes elements,
/// `round(s · n)` of each unit's `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerOutput;

impl Pattern for PerOutput {
    fn name(&self) -> String {
        "per_output".to_string()
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        if param.shape.len() >= 2 {
            Ok(())
        } else {
            Err(format!(
                "`{}` has shape {:?}: per-output pruning needs a weight of rank 2 or more",
                param.path, param.shape
            ))
        }
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        // The groups are the output units whole-unit pruning removes; only the budget differs
        // (a quota per unit instead of a ranking of units).
        Structured {
            dim: UnitDim::Output,
        }
        .groups(param)
    }

    fn group_quota(&self) -> Option<usize> {
        // Quotas apply to each group's own size; the number only marks quota mode.
        Some(0)
    }
}
