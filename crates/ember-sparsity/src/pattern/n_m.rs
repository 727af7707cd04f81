use super::{Groups, Pattern, PatternInput};

/// N:M sparsity: at most `n` of every `m` consecutive weights along the *input* dimension of
/// each output unit are kept (2:4 keeps 2 of every 4), as NVIDIA's sparse tensor cores and
/// llm-compressor define it.
///
/// In PyTorch's `[out, in]` layout the groups are `m` consecutive elements of a row. burn's
/// `Linear` weight is `[in, out]`, so a group is `m` consecutive *rows* of one column. Other
/// weights of rank ≥ 2 (convolutions, `[out, in, kh, kw]` in both libraries) are grouped along
/// their flattened trailing dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NM {
    /// Weights kept per group.
    pub n: usize,
    /// Group size.
    pub m: usize,
}

impl NM {
    /// The length of the input dimension and the number of output units, in that order.
    fn dims(param: &PatternInput<'_>) -> (usize, usize) {
        if param.layer_type == "Linear" {
            (param.shape[0], param.shape[1])
        } else {
            (param.numel() / param.shape[0], param.shape[0])
        }
    }
}

impl Pattern for NM {
    fn name(&self) -> String {
        format!("{}:{}", self.n, self.m)
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        if self.n == 0 || self.n >= self.m {
            return Err(format!(
                "N:M needs 1 ≤ n < m, got {} ({})",
                self.name(),
                if self.n == 0 {
                    "0:M keeps nothing: sparsity must stay below 1"
                } else {
                    "it would keep every weight"
                }
            ));
        }
        if param.shape.len() < 2 {
            return Err(format!(
                "N:M applies to weights of rank 2 or more; `{}` has shape {:?}",
                param.path, param.shape
            ));
        }
        let (inputs, _) = Self::dims(param);
        if inputs % self.m != 0 {
            return Err(format!(
                "the input dimension of `{}` ({inputs}) is not a multiple of m = {}",
                param.path, self.m
            ));
        }
        Ok(())
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let (inputs, outputs) = Self::dims(param);
        let per_unit = inputs / self.m;
        let count = per_unit * outputs;
        if param.layer_type == "Linear" {
            // burn flat index i·out + o holds PyTorch's (o, i).
            Groups::from_fn(param.path, param.numel(), count, |flat| {
                let (i, o) = (flat / outputs, flat % outputs);
                o * per_unit + i / self.m
            })
        } else {
            // Row-major [out, rest]: m consecutive elements of a filter.
            Groups::from_fn(param.path, param.numel(), count, |flat| flat / self.m)
        }
    }

    fn group_quota(&self) -> Option<usize> {
        Some(self.m)
    }

    fn max_sparsity(&self) -> f64 {
        (self.m - self.n) as f64 / self.m as f64
    }
}
