//! Sparsity state: what every modifier has decided, as module state keyed by parameter path.

mod bits;
mod path_map;
mod step;

use burn::module::{Module, Param};
use burn::tensor::{Bool, Tensor};

pub use bits::{PackMasks, UnpackMasks, pack_bits, packed_len, unpack_bits};
pub use path_map::PathMap;
pub use step::HostStep;

/// The state of one parameter: its keep-mask if a pruner selects it, its freeze set and
/// frozen values if a freezer does, and a score accumulator if the pruner's scorer keeps one
/// (movement, SNIP momentum). All flat (row-major), all non-trainable, all saved by burn's
/// records under the parameter's path.
#[derive(Module, Debug)]
pub struct ParamState {
    /// `true` = kept.
    pub keep: Option<Param<Tensor<1, Bool>>>,
    /// `true` = frozen.
    pub frozen: Option<Param<Tensor<1, Bool>>>,
    /// The values the frozen elements keep (others unused).
    pub frozen_values: Option<Param<Tensor<1>>>,
    /// A scorer's running accumulator.
    pub score: Option<Param<Tensor<1>>>,
}
