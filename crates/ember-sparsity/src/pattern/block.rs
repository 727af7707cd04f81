use super::{Groups, Pattern, PatternInput};

/// Blocks of `rows × cols` in PyTorch's `[out, in]` layout (`rows` output units by `cols`
/// inputs) are removed together. In burn's `[in, out]` `Linear` weight such a block is
/// `cols` rows by `rows` columns. Both sizes must divide the tensor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Output units per block (PyTorch rows).
    pub rows: usize,
    /// Inputs per block (PyTorch columns).
    pub cols: usize,
}

impl Pattern for Block {
    fn name(&self) -> String {
        format!("block:{}x{}", self.rows, self.cols)
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        if param.shape.len() != 2 || param.layer_type != "Linear" {
            return Err(format!(
                "block patterns apply to Linear weights; `{}` is a {} parameter of shape {:?}",
                param.path, param.layer_type, param.shape
            ));
        }
        let (inputs, outputs) = (param.shape[0], param.shape[1]);
        if self.rows == 0 || self.cols == 0 || outputs % self.rows != 0 || inputs % self.cols != 0 {
            return Err(format!(
                "`{}` ([out, in] = [{outputs}, {inputs}]) does not split into {}x{} blocks",
                param.path, self.rows, self.cols
            ));
        }
        Ok(())
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let (inputs, outputs) = (param.shape[0], param.shape[1]);
        let blocks_per_row = inputs / self.cols;
        let count = (outputs / self.rows) * blocks_per_row;
        Groups::from_fn(param.path, param.numel(), count, |flat| {
            let (i, o) = (flat / outputs, flat % outputs);
            (o / self.rows) * blocks_per_row + i / self.cols
        })
    }
}
