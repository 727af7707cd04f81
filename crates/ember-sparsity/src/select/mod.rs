//! Choosing what to prune: which parameters ([`Selector`]) and which of their elements
//! ([`pruned_flags`], exact counts with [`prune_count`]).

mod lowest;
mod selector;

pub use lowest::{prune_count, pruned_flags};
pub use selector::Selector;
