#![warn(missing_docs)]
//! Sparse CPU kernels for Ember's inference engine: a pruned weight matrix times dense
//! activations, `y = x · Wᵀ` with `W` in PyTorch's `[out, in]` layout.
//!
//! Two formats, both built from a dense matrix whose pruned weights are exact zeros:
//! - [`CsrMatrix`]: compressed sparse rows (one row per output unit), for any mask;
//! - [`NmMatrix`]: N non-zeros in every M consecutive inputs of a row (2:4, 4:8, …), stored
//!   as `N` values and `N` one-byte offsets per group, for masks from Ember's N:M pattern;
//! - [`SparseMatrix`]: whichever of the two suits a weight's zeros (N:M when its mask is N:M).
//!
//! The loops are plain safe Rust, vectorized by the compiler for the best instruction set the
//! CPU offers (picked at run time through `pulp`). Batched products are split over rows with
//! helper threads that poll for work between products (`team.rs`), so that products of tens
//! of microseconds use every core; a batch-1 product does so through `rayon` when it is large
//! enough to pay for waking its workers. At batch 1 a product is a gather-dot per row; at
//! larger batches the activations are transposed in blocks of 32 examples, so that every
//! stored weight updates a contiguous run of 32 sums held in registers, and the sums of 16
//! rows are written out together, a cache line per example.
//!
//! A product can finish its sums with an [`Epilogue`] (a bias, then the exact GELU), applied
//! to each part on the thread that computed it. The engines' element-wise functions (`exp`,
//! the exact GELU) are here too, over whole slices, vectorized the same way:
//! [`exp_in_place`], [`gelu_in_place`]; and multi-head self-attention over a sequence's
//! stacked queries, keys and values, its heads shared with the helper threads:
//! [`self_attention`].
//!
//! It also defines the compressed sparse tensor file that `ember export --format sparse`
//! writes ([`write_sparse_file`], [`read_sparse_file`]; the layout is documented there).
//!
//! This crate knows nothing of burn: the engine in `ember-train` converts a model's tensors.

mod activation;
mod attention;
mod csr;
mod epilogue;
mod error;
mod file;
mod matrix;
mod n_m;
mod product;
mod team;
mod transpose;

pub use activation::{exp_in_place, gelu_in_place, gelu_with_slope};
pub use attention::self_attention;
pub use csr::CsrMatrix;
pub use epilogue::{Activation, Epilogue};
pub use error::KernelError;
pub use file::{MAGIC, NamedTensor, VERSION, read_sparse_file, write_sparse_file};
pub use matrix::SparseMatrix;
pub use n_m::NmMatrix;
pub use product::dense_matmul_reference;
