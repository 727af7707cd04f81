use super::{Groups, Pattern, PatternInput};

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
        let shape = param.shape.to_vec();
        if param.layer_type == "Linear" {
            // burn's [in, out]: flat index i·out + o belongs to output o.
            let outputs = shape[1];
            Groups::from_fn(param.path, param.numel(), outputs, move |i| i % outputs)
        } else {
            // [out, rest...]: a filter is contiguous.
            let per_unit = shape[1..].iter().product::<usize>();
            Groups::from_fn(param.path, param.numel(), shape[0], move |i| i / per_unit)
        }
    }

    fn group_quota(&self) -> Option<usize> {
        // Quotas apply to each group's own size; the number only marks quota mode.
        Some(0)
    }
}
