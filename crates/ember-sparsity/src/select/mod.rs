//! Choosing what to prune: which parameters ([`Selector`]), how many elements or groups each
//! loses (budgets: layer-wise, global with caps, ERK), and which ones ([`select_lowest`]:
//! exact counts in O(n), ties by index).

pub(crate) mod budget;
mod lowest;
pub(crate) mod selector;

pub use budget::erk_sparsities;
pub use lowest::{prune_count, pruned_flags, select_lowest};
pub use selector::Selector;
