use super::{Groups, Pattern, PatternInput};

/// Attention heads of burn's `MultiHeadAttention`: a head's columns of the query, key and
/// value projections (and their bias entries) and its rows of the output projection are
/// removed together. The unit is the attention module, so global scope ranks the heads of all
/// layers against each other and layer-wise scope prunes the same share of every layer.
///
/// burn's projections are `Linear`s with `[in, out]` weights: head `h` owns output columns
/// `h·d..(h+1)·d` of `query`, `key` and `value`, and input rows `h·d..(h+1)·d` of `output`,
/// where `d = d_model / heads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// The number of heads of every selected attention module.
    pub heads: usize,
}

impl Heads {
    fn projection<'a>(param: &PatternInput<'a>) -> Option<&'a str> {
        let module = param.module_path();
        let name = module.rsplit('.').next()?;
        matches!(name, "query" | "key" | "value" | "output").then_some(name)
    }

    /// The attention module: the path above the projection.
    fn attention_path<'a>(param: &PatternInput<'a>) -> &'a str {
        let module = param.module_path();
        module.rsplit_once('.').map_or("", |(parent, _)| parent)
    }
}

impl Pattern for Heads {
    fn name(&self) -> String {
        format!("heads:{}", self.heads)
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        let Some(projection) = Self::projection(param) else {
            return Err(format!(
                "`{}` is not a query, key, value or output projection of an attention module",
                param.path
            ));
        };
        if projection == "output" && param.field() != "weight" {
            return Err(format!(
                "`{}`: the output projection's bias is shared by all heads and cannot be \
                 pruned per head; leave it out of the selector",
                param.path
            ));
        }
        let width = match (projection, param.shape) {
            ("output", [inputs, _]) => *inputs,
            (_, [_, outputs]) | (_, [outputs]) => *outputs,
            _ => return Err(format!("`{}` has shape {:?}", param.path, param.shape)),
        };
        if self.heads == 0 || width % self.heads != 0 {
            return Err(format!(
                "`{}` has {width} features, not a multiple of {} heads",
                param.path, self.heads
            ));
        }
        Ok(())
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let unit = Self::attention_path(param);
        let shape = param.shape;
        let numel = param.numel();
        match (Self::projection(param), shape) {
            (Some("output"), [inputs, outputs]) => {
                let (outputs, head_dim) = (*outputs, inputs / self.heads);
                Groups::from_fn(unit, numel, self.heads, |i| (i / outputs) / head_dim)
            }
            (_, [_, outputs]) => {
                let (outputs, head_dim) = (*outputs, outputs / self.heads);
                Groups::from_fn(unit, numel, self.heads, |i| (i % outputs) / head_dim)
            }
            (_, [features]) => {
                let head_dim = features / self.heads;
                Groups::from_fn(unit, numel, self.heads, |i| i / head_dim)
            }
            _ => unreachable!("check rejects other shapes"),
        }
    }
}
